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

// menuPathDuplicates are menu paths still spelled out more than once outside control/menu
// and tests, with how many times: each should become a constant of the package that
// serves the menu (docs/architecture.md). The list may only shrink: a count that goes up
// or a path that is not here fails TestMenuPathsSpelledOnce, one that goes down must be
// lowered here.
var menuPathDuplicates = map[string]int{
	// control/compat's RouterOS 6 rewrites: control/controltest imports compat, so it
	// cannot import the engines that serve these menus (their tests import controltest).
	"/interface/ethernet": 2,
	"/ip/route":           2,
	"/ipv6/route":         2,
	"/routing/table":      2,
}

// TestMenuPathsSpelledOnce scans the repository's Go files (not tests, not control/menu,
// whose declarations and references are the schema) for string literals that are a
// menu's path: each path is written once, as the constant of the package serving it.
func TestMenuPathsSpelledOnce(t *testing.T) {
	paths := map[string]bool{}
	for _, m := range menu.Default().All() {
		paths[m.Path] = true
	}
	where := map[string][]string{}
	for _, src := range sources(t, "control/menu") {
		ast.Inspect(src.f, func(n ast.Node) bool {
			if bl, ok := n.(*ast.BasicLit); ok && bl.Kind == token.STRING {
				if s, err := strconv.Unquote(bl.Value); err == nil && paths[s] {
					where[s] = append(where[s], src.rel)
				}
			}
			return true
		})
	}
	for p, known := range menuPathDuplicates {
		if len(where[p]) <= 1 {
			t.Errorf("menu path %q is spelled %d times now, menuPathDuplicates says %d: remove it", p, len(where[p]), known)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(where)) {
		n, known := len(where[p]), menuPathDuplicates[p]
		switch {
		case n > 1 && n > known:
			t.Errorf("menu path %q is spelled %d times outside control/menu (%s): name the constant of the package serving it",
				p, n, strings.Join(where[p], ", "))
		case known > 1 && n < known:
			t.Errorf("menu path %q is spelled %d times now, menuPathDuplicates says %d: lower it (or remove it at 1)", p, n, known)
		}
	}
}
