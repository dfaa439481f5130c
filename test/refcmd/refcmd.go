// Package refcmd reads test/testdata/reference-commands.txt: every console command of the
// RouterOS manual excerpts, in units a user types (or an import file holds) as one piece,
// with the annotations that precede them. control/script parses the units against the bare
// interpreter; test/examples runs them against routerd. One reader serves both, so the two
// tests always agree on what a unit is.
package refcmd

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Unit is one unit of the file.
type Unit struct {
	File    string   // "# file:" in force
	Menu    string   // "# menu:" in force, slash form ("/" is root)
	Line    int      // line of the unit's first command line in the file
	Src     string   // the unit's lines, joined by "\n"
	Bad     bool     // "# expect: bad command name": a menu routerd does not implement
	Prompts []string // "# prompt: name: value": values the console prompts for
}

// Key names the unit by excerpt file and line, as allow lists do ("08-interface-gre.txt:224").
func (u Unit) Key() string { return u.File + ":" + strconv.Itoa(u.Line) }

func (u Unit) String() string {
	return u.Key() + " at " + u.Menu + ": " + strings.ReplaceAll(u.Src, "\n", `\n`)
}

// Load reads the file at path. Annotation lines apply to the unit that follows; "# file:"
// and "# menu:" stay in force until the next of their kind; an unknown annotation is an
// error, so a typo cannot silently drop an expectation.
func Load(path string) ([]Unit, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var units []Unit
	var cur Unit
	var lines []string
	flush := func() {
		if len(lines) > 0 {
			cur.Src = strings.Join(lines, "\n")
			units = append(units, cur)
		}
		lines = nil
		cur = Unit{File: cur.File, Menu: cur.Menu}
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case strings.TrimSpace(l) == "":
			flush()
		case strings.HasPrefix(l, "# file: "):
			flush()
			cur.File, cur.Menu = strings.TrimPrefix(l, "# file: "), "/"
		case strings.HasPrefix(l, "# menu: "):
			cur.Menu = strings.TrimPrefix(l, "# menu: ")
		case l == "# expect: bad command name":
			cur.Bad = true
		case strings.HasPrefix(l, "# prompt: "):
			cur.Prompts = append(cur.Prompts, strings.TrimPrefix(l, "# prompt: "))
		case strings.HasPrefix(l, "# reconstructed:"):
		case strings.HasPrefix(l, "#"):
			return nil, fmt.Errorf("%s:%d: unknown annotation %q", path, n, l)
		default:
			if len(lines) == 0 {
				cur.Line = n
			}
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	flush()
	return units, nil
}
