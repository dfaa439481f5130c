package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// source is one non-test Go file of the repository, parsed.
type source struct {
	rel string // slash-separated, from the module root
	f   *ast.File
}

// sources parses the repository's Go files that are not tests, outside test/, tools/,
// third_party/, testdata and hidden folders, except the folders of those include names
// (module relative, slash-separated: "tools"): what the source checks of this package scan.
func sources(t *testing.T, include ...string) []source {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var out []source
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if slices.Contains(include, rel) {
				return nil
			}
			switch {
			case strings.HasPrefix(d.Name(), ".") && rel != ".", d.Name() == "testdata", d.Name() == "node_modules",
				rel == "third_party", rel == "test", rel == "tools":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		out = append(out, source{rel, f})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
