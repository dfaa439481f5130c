package main

import (
	"go/ast"
	"go/token"
	"maps"
	"path"
	"slices"
	"strings"
	"testing"
)

// packageState are the package-level variables allowed to change after init, by file and
// name, each with why it is not state of a router (docs/architecture.md: services one
// engine offers another are handed over through the host, and what belongs to a router
// lives in its engines, so two routers in one test process share nothing). A cache of
// what derives from immutable inputs, or a fact about the process or the machine, is
// allowed with its reason; a registry, a router's configuration or a count of its work is
// not.
var packageState = map[string]string{
	"control/engine/decode.go:unsupportedCache":  "cache: a menu's unsupported properties (the schema is immutable)",
	"control/engine/decode.go:fieldCache":        "cache: a struct type's tagged fields",
	"control/engine/decode.go:propCache":         "cache: the schema's properties per menu and struct type",
	"control/firewall/typed.go:ruleSchemas":      "cache: a rule menu's decode table (the schema is immutable)",
	"control/firewall/typed.go:stringFieldCache": "cache: a struct type's string fields",
	"control/script/builtins.go:jobSeq":          "numbers :execute jobs, unique in the process",
	"control/script/memory.go:heapOnce":          "starts the one sampler of the process's heap",
	"control/script/memory.go:heapOver":          "the process's heap is over MaxHeap (a fact of the process)",
	"control/tftp/server.go:tmpSeq":              "numbers temporary file names, unique in the process",
	"ike/dh.go:modpMu":                           "guards modpPrimes",
	"ike/dh.go:modpPrimes":                       "cache: MODP primes computed once",
	"ike/esp/probe.go:probeOnce":                 "probes the kernel's ESP support once (a fact of the machine)",
	"ike/esp/probe.go:probeRes":                  "the probe's result",
	"ike/esp/userspace.go:pbufPool":              "sync.Pool of packet buffers",
}

// TestNoPackageState scans the repository's Go files (as TestNoBareGo) for package-level
// variables that change after init: assigned (or an element or field of them assigned,
// incremented, deleted) in a function other than init, or holding a lock, a sync.Map, a
// pool or an atomic (a type of the package holding one counts too). Each must be in
// packageState with its reason; issue 10: no package-level mutable registries.
func TestNoPackageState(t *testing.T) {
	type pkg struct {
		files []source
		vars  map[string]string // name -> file declaring it
	}
	pkgs := map[string]*pkg{}
	for _, src := range sources(t) {
		dir := path.Dir(src.rel)
		if pkgs[dir] == nil {
			pkgs[dir] = &pkg{vars: map[string]string{}}
		}
		pkgs[dir].files = append(pkgs[dir].files, src)
	}
	found := map[string]string{}
	for _, p := range pkgs {
		// Types of the package that hold synchronisation (a mutable value by design).
		syncTypes := map[string]bool{}
		for _, src := range p.files {
			for _, d := range src.f.Decls {
				if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.TYPE {
					for _, s := range g.Specs {
						ts := s.(*ast.TypeSpec)
						if holdsSync(ts.Type, nil) {
							syncTypes[ts.Name.Name] = true
						}
					}
				}
			}
		}
		for _, src := range p.files {
			for _, d := range src.f.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.VAR {
					continue
				}
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if n.Name == "_" {
							continue
						}
						p.vars[n.Name] = src.rel
						var val ast.Expr
						if i < len(vs.Values) {
							val = vs.Values[i]
						}
						if holdsSync(vs.Type, syncTypes) || holdsSync(literalType(val), syncTypes) {
							found[src.rel+":"+n.Name] = "holds a lock, sync.Map, pool or atomic"
						}
					}
				}
			}
		}
		for _, src := range p.files {
			for _, d := range src.f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok || fd.Body == nil || (fd.Recv == nil && fd.Name.Name == "init") {
					continue
				}
				locals := declaredIn(fd)
				write := func(e ast.Expr, how string) {
					if r := rootIdent(e); r != "" && !locals[r] && p.vars[r] != "" {
						found[p.vars[r]+":"+r] = how + " in " + funcName(fd)
					}
				}
				ast.Inspect(fd.Body, func(n ast.Node) bool {
					switch s := n.(type) {
					case *ast.AssignStmt:
						if s.Tok != token.DEFINE {
							for _, l := range s.Lhs {
								write(l, "assigned")
							}
						}
					case *ast.IncDecStmt:
						write(s.X, "incremented")
					case *ast.CallExpr:
						if id, ok := s.Fun.(*ast.Ident); ok && id.Name == "delete" && len(s.Args) == 2 {
							write(s.Args[0], "deleted from")
						}
					case *ast.UnaryExpr:
						// &v handed to something that may write it (flag.BoolVar in main
						// is main's: cmd/ packages are not scanned for this).
						if s.Op == token.AND && !strings.HasPrefix(src.rel, "cmd/") {
							if id, ok := s.X.(*ast.Ident); ok {
								write(id, "its address taken")
							}
						}
					}
					return true
				})
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(found)) {
		if _, ok := packageState[k]; !ok {
			t.Errorf("%s: package-level variable %s: make it a field of the engine (or of what the router owns), or list it in packageState with why it is not a router's state", k, found[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(packageState)) {
		if _, ok := found[k]; !ok {
			t.Errorf("packageState lists %s, which is not package state now: remove it", k)
		}
	}
}

// holdsSync reports whether the type expression is, or is a struct or array holding, a
// type of sync or sync/atomic, or one of local (a type of the package that does).
func holdsSync(e ast.Expr, local map[string]bool) bool {
	switch t := e.(type) {
	case *ast.SelectorExpr:
		if x, ok := t.X.(*ast.Ident); ok {
			return x.Name == "sync" && t.Sel.Name != "OnceValue" && t.Sel.Name != "OnceFunc" || x.Name == "atomic"
		}
	case *ast.Ident:
		return local[t.Name]
	case *ast.IndexExpr: // atomic.Pointer[T]
		return holdsSync(t.X, local)
	case *ast.ArrayType:
		return holdsSync(t.Elt, local)
	case *ast.StructType:
		for _, f := range t.Fields.List {
			if holdsSync(f.Type, local) {
				return true
			}
		}
	}
	return false
}

// literalType is the type of a composite literal value (T{...}, &T{...}); nil otherwise.
func literalType(e ast.Expr) ast.Expr {
	if u, ok := e.(*ast.UnaryExpr); ok && u.Op == token.AND {
		e = u.X
	}
	if c, ok := e.(*ast.CompositeLit); ok {
		return c.Type
	}
	return nil
}

// rootIdent is the variable an assigned expression starts from (v, v[i], v.f, *v).
func rootIdent(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.Ident:
			return x.Name
		case *ast.IndexExpr:
			e = x.X
		case *ast.SelectorExpr:
			e = x.X
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		default:
			return ""
		}
	}
}

// declaredIn are the names fd declares (receiver, parameters, results, :=, var, range):
// a package variable of the same name is shadowed there. Coarse (one set per function),
// which can only hide a write, never invent one.
func declaredIn(fd *ast.FuncDecl) map[string]bool {
	names := map[string]bool{}
	fields := func(fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, f := range fl.List {
			for _, n := range f.Names {
				names[n.Name] = true
			}
		}
	}
	fields(fd.Recv)
	fields(fd.Type.Params)
	fields(fd.Type.Results)
	ast.Inspect(fd.Body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			if s.Tok == token.DEFINE {
				for _, l := range s.Lhs {
					if id, ok := l.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range s.Names {
				names[id.Name] = true
			}
		case *ast.FuncLit:
			fields(s.Type.Params)
			fields(s.Type.Results)
		}
		return true
	})
	return names
}
