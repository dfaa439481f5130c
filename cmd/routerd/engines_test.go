package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/metrics"
	"github.com/routerd/routerd/control/script"
)

var update = flag.Bool("update", false, "rewrite testdata/unhandled.txt")

// TestEnginesNameDeclaredMenus: every registered engine's Spec names only menus that
// control/menu declares (a declaration function left out of default.go, or a misspelt
// path, would make the host refuse the engine at start).
func TestEnginesNameDeclaredMenus(t *testing.T) {
	ex := controltest.New(t)
	env := &Env{Ex: ex, Interp: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		Metrics: metrics.New("test"), DataDir: t.TempDir(), BPFFS: t.TempDir()}
	for _, e := range engines(env) {
		if err := e.Spec().Undeclared(ex.Tree); err != nil {
			t.Error(err)
		}
	}
}

// TestUnhandledProperties lists, for every menu that an engine decodes through the schema
// (engine.Typed), the writable properties that none of the engines decoding it handles,
// with those engines named; an engine that serves menus without decoding them fails it. The list
// is golden: a new property nobody handles (or an engine that stops decoding one) changes
// testdata/unhandled.txt, which review sees.
// go test ./cmd/routerd -run TestUnhandledProperties -update rewrites it.
func TestUnhandledProperties(t *testing.T) {
	ex := controltest.New(t)
	env := &Env{Ex: ex, Interp: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		Metrics: metrics.New("test"), DataDir: t.TempDir(), BPFFS: t.TempDir()}
	var b strings.Builder
	names := map[string]bool{}
	var order []string                 // menus in the order engines first decode them
	decoders := map[string][]string{}  // menu -> engines decoding it
	unhandled := map[string][]string{} // menu -> properties no decoder handles so far
	for _, e := range engines(env) {
		spec := e.Spec()
		if names[spec.Name] {
			t.Errorf("two engines named %q", spec.Name)
		}
		names[spec.Name] = true
		typed, ok := e.(engine.Typed)
		if !ok && len(spec.Menus) == 0 {
			continue // serves no menu (consoles plugs services into management's)
		}
		if !ok {
			// Every engine that serves menus decodes them through the schema (issue 10).
			t.Errorf("%s serves %v but does not decode its items through the schema (engine.Typed)", spec.Name, spec.Menus)
			continue
		}
		items := typed.TypedItems()
		for _, p := range slices.Sorted(maps.Keys(items)) {
			m, ok := ex.Tree.Get(p)
			if !ok {
				t.Errorf("%s: no menu %s", spec.Name, p)
				continue
			}
			if !slices.Contains(spec.Menus, p) && !slices.Contains(spec.Watch, p) {
				t.Errorf("%s decodes %s but declares it neither in Spec.Menus nor in Spec.Watch", spec.Name, p)
			}
			u := engine.Unhandled(m, items[p])
			if _, seen := decoders[p]; !seen {
				order = append(order, p)
				unhandled[p] = u
			} else {
				unhandled[p] = slices.DeleteFunc(unhandled[p], func(s string) bool { return !slices.Contains(u, s) })
			}
			decoders[p] = append(decoders[p], spec.Name)
		}
	}
	// The properties table (docs/properties.md) says "applied" only of what some
	// engine acts on: a property no engine decodes is stored only (NoEffect, with the
	// reason), read-only, a RouterOS 6 name, or handled before the store.
	for _, p := range order {
		m, _ := ex.Tree.Get(p)
		for _, name := range unhandled[p] {
			prop, ok := m.Prop(name)
			if !ok || prop.Effect() != "applied" || prop.Hidden {
				continue
			}
			if why, ok := handledBeforeStore[p+" "+name]; ok && why != "" {
				continue
			}
			t.Errorf("%s %s: the properties table says applied, but no engine decodes it (mark it NoEffect with the reason, or handle it)", p, name)
		}
	}
	for _, p := range order {
		u := unhandled[p]
		if len(u) == 0 {
			u = []string{"(none)"}
		}
		fmt.Fprintf(&b, "%s %s: %s\n", strings.Join(decoders[p], ","), p, strings.Join(u, " "))
	}
	golden := filepath.Join("testdata", "unhandled.txt")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != b.String() {
		t.Errorf("unhandled properties changed (rerun with -update and review):\n%s", b.String())
	}
}

// handledBeforeStore are properties that take effect at the command (rewritten into
// another property, or acted on by a command handler) rather than in an engine's pass.
var handledBeforeStore = map[string]string{
	"/ip/route dst-network":            "the add and set check rewrites it to dst-address",
	"/ipv6/route dst-network":          "the add and set check rewrites it to dst-address",
	"/ip/ipsec/policy ipsec-protocols": "the add and set check refuses ah: esp is all there is",
}
