package script

import (
	"context"
	"errors"
	"github.com/routerd/routerd/control/certificate"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/routerd/routerd/test/refcmd"
)

// referenceFile holds every console command of the RouterOS manual excerpts in
// shared/reference, one unit per block of lines (see the file's header comments).
const referenceFile = "../../test/testdata/reference-commands.txt"

// refUnit is one unit of reference-commands.txt.
type refUnit = refcmd.Unit

// loadReference reads referenceFile into units.
func loadReference(t testing.TB) []refUnit {
	t.Helper()
	units, err := refcmd.Load(referenceFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) < 100 {
		t.Fatalf("only %d units in %s", len(units), referenceFile)
	}
	return units
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// menuPath turns a "# menu:" annotation into the console's path: "" for root, and root
// for a menu routerd does not have (its units are all expected to fail).
func menuPath(in *Interp, menu string) string {
	p := strings.TrimSuffix(menu, "/")
	if _, ok := in.Ex.Tree.Get(p); !ok {
		return ""
	}
	return p
}

// TestReferenceCommands parses every unit of the manual excerpts at its menu: the ones
// for menus routerd implements must parse, the others must fail as RouterOS fails on a
// missing package: bad command name (or syntax error for a slash-form path).
func TestReferenceCommands(t *testing.T) {
	in, _ := newInterp(t)
	res := in.resolver()
	unusedParseAllow := map[string]bool{}
	for k := range parseAllow {
		unusedParseAllow[k] = true
	}
	defer func() {
		for k := range unusedParseAllow {
			t.Errorf("parseAllow names %s, which is no unit expected to fail", k)
		}
	}()
	for _, u := range loadReference(t) {
		cwd := menuPath(in, u.Menu)
		_, _, err := Parse(u.Src, cwd, res)
		if !u.Bad {
			if err != nil {
				t.Errorf("%v\n\tparse: %v", u, err)
			}
			continue
		}
		if want, ok := parseAllow[u.Key()]; ok {
			delete(unusedParseAllow, u.Key())
			if err == nil || err.Error() != want.err {
				t.Errorf("%v\n\tgot %v; allowlisted with %q", u, err, want.err)
			}
			continue
		}
		if cwd == "" && u.Menu != "/" && (err == nil || !strings.HasPrefix(err.Error(), "bad command name ")) {
			// At root a word of the missing menu may read as a global command (`set` is
			// :set), so the unit is taken as the user reaches it: after the menu's path.
			src := "/" + strings.ReplaceAll(strings.Trim(u.Menu, "/"), "/", " ") + "\n" + u.Src
			_, _, err = Parse(src, "", res)
		}
		var pe *Error
		switch {
		case err == nil:
			t.Errorf("%v\n\tparsed; want bad command name", u)
		case !errors.As(err, &pe) || pe.Line < 1 || pe.Col < 1:
			t.Errorf("%v\n\terror without position: %v", u, err)
		case strings.HasPrefix(pe.Msg, "bad command name "):
		case pe.Msg == "syntax error" && slashFormAt(u.Src, pe.Line, pe.Col):
		default:
			t.Errorf("%v\n\tgot %v; want bad command name", u, err)
		}
	}
}

// parseAllow lists units expected to fail with bad command name that fail earlier, on
// a line for a menu routerd has, with the exact error. RouterOS parses the whole unit
// first and reports the first error, as routerd does.
var parseAllow = map[string]struct{ err, why string }{
	"10-ip-ipsec.txt:284": {"expected end of command (line 1 column 100)",
		"the manual's typo src=address=192.168.33.1: the filter has no argument src"},
}

// slashFormAt reports whether the error position points just after a '/' joining path
// words ("/interface/bridge/add": the unknown word "bridge" follows a slash).
func slashFormAt(src string, line, col int) bool {
	ls := strings.Split(src, "\n")
	if line > len(ls) {
		return false
	}
	l := ls[line-1]
	return col >= 2 && col-2 < len(l) && l[col-2] == '/' && col-2 > 0
}

// withPrompts appends to a command the values the interactive console prompts for
// (required properties the manual's example leaves out of the line).
func withPrompts(u refUnit) string {
	src := u.Src
	for _, p := range u.Prompts {
		name, val, _ := strings.Cut(p, ": ")
		src += " " + name + "=" + val
	}
	return src
}

// runAllow lists the units of the manual that legitimately fail at run time in a fresh
// routerd without engines, by file and first line, with the exact error.
var runAllow = map[string]struct{ err, why string }{
	"10-ip-ipsec.txt:526": {"failure: no such file",
		"the client imports the bundle the server exported, copied to it by hand as cert_export_RouterOS_client.p12"},
	"10-ip-ipsec.txt:564": {"failure: " + certificate.ErrNoACME.Error(),
		"Let's Encrypt cannot reach a router without a public name and port 80"},
	"10-ip-ipsec.txt:343": {"no such item",
		"place-before=0 names the first NAT rule, which the excerpt's router has and this fresh one has not"},
	"10-ip-ipsec.txt:378": {"no such item",
		"place-before=0 names the first NAT rule, which the excerpt's router has and this fresh one has not"},
	"10-ip-ipsec.txt:382": {"no such item",
		"place-before=0 names the first NAT rule, which the excerpt's router has and this fresh one has not"},
	"01-system-ptp.txt:34": {"failure: monitor: no engine for this menu yet",
		"monitor reads the PTP engine's state; the engine is not part of this test"},
	"10-ip-ipsec.txt:310": {"no such item",
		"the peer and policy load (RouterOS 6 mapping); the nat rule's place-before=0 names a rule the excerpt never adds"},
	"10-ip-ipsec.txt:335": {"no such item",
		"the peer and policy load (RouterOS 6 mapping); the nat rule's place-before=0 names a rule the excerpt never adds"},
	"07-interface-eoip.txt:203": {"input does not match any value of bridge",
		"the AP's bridge1 exists before the excerpt starts; the excerpt never adds it"},
}

// given lists the units whose excerpt shows, but never adds, state the commands rely
// on: it is made before the unit runs, as the excerpt's router has it.
var given = map[string]struct{ src, why string }{
	"10-ip-ipsec.txt:318": {"/routing table add name=backup fib=yes",
		"the excerpt's router has the routing table backup (its route print shows a default route in it); RouterOS 7 refuses a routing mark naming no table"},
}

// newRouter lists the units where an excerpt turns to the configuration of another router
// (the other end of a tunnel, another example): from there on the file runs in a fresh
// interpreter, since both routers' items carry the same names.
var newRouter = map[string]string{
	"06-interface-6to4.txt:161": "the other end of the 6to4 tunnel",
	"08-interface-gre.txt:224":  "the other end of the GRE tunnel",
	"10-ip-ipsec.txt:431":       "GRE over IPsec: the initiator side",
	"10-ip-ipsec.txt:463":       "road warrior server with certificates",
	"10-ip-ipsec.txt:531":       "road warrior client",
	"10-ip-ipsec.txt:585":       "road warrior server with RADIUS (EAP)",
}

// newRefInterp is newInterp with the certificate engine, whose commands (sign,
// export-certificate) the road-warrior example runs.
func newRefInterp(t *testing.T) (*Interp, *Console) {
	in, c := newInterp(t)
	if err := certificate.New(certificate.Options{DataDir: t.TempDir()}).Attach(in.Ex); err != nil {
		t.Fatal(err)
	}
	return in, c
}

// TestReferenceCommandsRun runs the units of each file of the manual, in order, in one fresh
// interpreter per file: every command for a menu routerd implements must work as written.
func TestReferenceCommandsRun(t *testing.T) {
	units := loadReference(t)
	byFile := map[string][]refUnit{}
	var files []string
	for _, u := range units {
		if _, ok := byFile[u.File]; !ok {
			files = append(files, u.File)
		}
		byFile[u.File] = append(byFile[u.File], u)
	}
	keys := map[string]bool{}
	for _, u := range units {
		keys[u.Key()] = true
	}
	for k := range runAllow {
		if !keys[k] {
			t.Errorf("runAllow names %s, which is no unit's first line", k)
		}
	}
	for k := range given {
		if !keys[k] {
			t.Errorf("given names %s, which is no unit's first line", k)
		}
	}
	for k := range newRouter {
		if !keys[k] {
			t.Errorf("newRouter names %s, which is no unit's first line", k)
		}
	}
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			in, c := newRefInterp(t)
			for _, u := range byFile[file] {
				if u.Bad {
					continue
				}
				key := u.Key()
				if _, ok := newRouter[key]; ok {
					in, c = newRefInterp(t)
				}
				if g, ok := given[key]; ok {
					if err := in.Run(context.Background(), c, g.src, io.Discard); err != nil {
						t.Fatalf("%s: given %q: %v", key, g.src, err)
					}
				}
				c.Path = menuPath(in, u.Menu)
				var out strings.Builder
				err := in.Run(context.Background(), c, withPrompts(u), &out)
				allow, allowed := runAllow[key]
				switch {
				case allowed && err == nil:
					t.Errorf("%v\n\tallowlisted (%s) but succeeded", u, allow.why)
				case allowed && err.Error() != allow.err:
					t.Errorf("%v\n\tgot %v; allowlisted with %q", u, err, allow.err)
				case !allowed && err != nil:
					t.Errorf("%v\n\t%v", u, err)
				}
			}
		})
	}
}

// TestFunctionExamples runs the function examples of console-language.md §5.7, and a
// function that calls itself without end, which must fail rather than overflow the stack.
func TestFunctionExamples(t *testing.T) {
	in, c := newInterp(t)
	for _, tc := range []struct{ src, want string }{
		{":global add2 do={ :return ($a + $b) }\n:put [$add2 a=6 b=2]", "8\n"},
		{":global greet do={ :put \"hi $1 and $2\" }\n$greet alice bob", "hi alice and bob\n"},
		{":global f2 do={ :global add2; :return ([$add2 a=1 b=$1] * 10) }\n:global f2\n:put [$f2 3]", "40\n"},
		{`:global g [:parse ":put \"from string\""]; $g`, "from string\n"},
		{`:local f do={ :return "local fn" }; :put [$f]`, "local fn\n"},
		{`:global n 0; :global r do={ :global n; :global r; :set n ($n + 1); $r }; :do { $r } on-error={ :put "stopped at $n" }`,
			"stopped at 1000\n"},
		{`:global p [:parse ":global p; :if (true) do=\$p"]; :onerror e in={ $p } do={ :put $e }`,
			"maximum call depth exceeded\n"},
	} {
		if got := mustRun(t, in, c, tc.src); got != tc.want {
			t.Errorf("%s: got %q want %q", tc.src, got, tc.want)
		}
	}
}

// excerptsDir holds the manual excerpts reference-commands.txt was taken from (beside
// the repository, as the language digest the fuzz targets read).
const excerptsDir = "../../../shared/reference"

var (
	promptLine = regexp.MustCompile(`^\s*\[[^\]]*@[^\]]*\][^>]*>\s*(.*)$`)
	slashLine  = regexp.MustCompile(`^\s*(/[a-z][a-z0-9/ -]*[a-z0-9](\s.*)?)$`)
)

// TestReferenceCommandsComplete reads the excerpts themselves: every command typed at a
// prompt ("[admin@MikroTik] system script> add ...") and every line that starts with a
// menu path ("/interface gre add ...") outside IPsec and the VPN index is in
// reference-commands.txt (its first line, as far as the excerpt did not wrap it), so the
// tests that run that file cannot miss an example.
func TestReferenceCommandsComplete(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(excerptsDir, "*.txt"))
	if len(files) == 0 { // a worktree one level further down
		files, _ = filepath.Glob(filepath.Join("..", excerptsDir, "*.txt"))
	}
	if len(files) == 0 {
		t.Skip("the manual excerpts are not beside the repository (" + excerptsDir + ")")
	}
	b, err := os.ReadFile(referenceFile)
	if err != nil {
		t.Fatal(err)
	}
	space := regexp.MustCompile(`\s+`)
	ref := space.ReplaceAllString(string(b), " ")
	n := 0
	for _, f := range files {
		base := filepath.Base(f)
		if base == "10-ip-ipsec.txt" || base == "05-vpn-index.txt" {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(string(src), "\n") {
			var cmd string
			if m := promptLine.FindStringSubmatch(l); m != nil {
				cmd = m[1]
			} else if m := slashLine.FindStringSubmatch(l); m != nil {
				cmd = m[1]
			}
			cmd = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(cmd), `\`))
			if cmd == "" {
				continue
			}
			n++
			if !strings.Contains(ref, space.ReplaceAllString(cmd, " ")) {
				t.Errorf("%s:%d: %q is not in %s", base, i+1, cmd, referenceFile)
			}
		}
	}
	t.Logf("%d commands of the excerpts found in %s", n, referenceFile)
	if n < 80 {
		t.Errorf("only %d commands found in the excerpts", n)
	}
}
