package main

import (
	"go/ast"
	"go/token"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/menu"
)

// pathsFile is where every menu path is written: the declarations, their references
// and the engines name its constants.
const pathsFile = "control/menu/paths.go"

// TestMenuPathsSpelledOnce scans every Go file of the repository that is not a test
// (control/menu, the engines, cmd and tools alike) for string literals that are a
// declared menu's path, or that path as the console writes it ("/ip ipsec identity"),
// alone or starting a longer literal ("/ip ipsec profile "+name, "/routing rule add"):
// each is written once, in control/menu/paths.go. A literal there that names no declared
// menu fails too, so the file holds no stale path.
func TestMenuPathsSpelledOnce(t *testing.T) {
	paths := map[string]bool{}
	spoken := map[string]string{} // "/ip ipsec identity" -> "/ip/ipsec/identity"
	for _, m := range menu.Default().All() {
		paths[m.Path] = true
		if w := "/" + strings.ReplaceAll(strings.TrimPrefix(m.Path, "/"), "/", " "); w != m.Path {
			spoken[w] = m.Path
		}
	}
	where := map[string][]string{}
	for _, src := range sources(t, "tools") {
		ast.Inspect(src.f, func(n ast.Node) bool {
			bl, ok := n.(*ast.BasicLit)
			if !ok || bl.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(bl.Value)
			if err != nil {
				return true
			}
			if p, ok := spoken[s]; ok {
				s = p
			} else if p := pathBefore(s, paths, spoken); p != "" {
				// "/ip ipsec profile "+name, "/routing rule add": the path with a word
				// after it, or ready to have one concatenated.
				s = p
			}
			switch {
			case paths[s]:
				where[s] = append(where[s], src.rel)
			case src.rel == pathsFile:
				t.Errorf("%s: %q is the path of no declared menu", pathsFile, s)
			}
			return true
		})
	}
	if len(where) == 0 {
		t.Fatal("no menu path found in the sources: the scan is broken")
	}
	for _, p := range slices.Sorted(maps.Keys(where)) {
		if w := where[p]; len(w) > 1 || w[0] != pathsFile {
			t.Errorf("menu path %q is spelled in %s: write it once, as a constant of %s, and name that",
				p, strings.Join(w, ", "), pathsFile)
		}
	}
}

// pathBefore is the longest declared menu path, in either spelling, that literal s starts
// with and that a space ends in s; "" when there is none.
func pathBefore(s string, paths map[string]bool, spoken map[string]string) string {
	best, bestLen := "", 0
	try := func(form, path string) {
		if len(form) > bestLen && strings.HasPrefix(s, form+" ") {
			best, bestLen = path, len(form)
		}
	}
	for p := range paths {
		try(p, p)
	}
	for w, p := range spoken {
		try(w, p)
	}
	return best
}
