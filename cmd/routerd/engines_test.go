package main

import (
	"flag"
	"fmt"
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

// TestUnhandledProperties lists, for every registered engine that decodes its items
// through the schema (engine.Typed), the writable properties of its menus that its typed
// items leave unapplied; with -v it names the engines that do not decode yet. The list is golden: a new property an engine does not handle
// (or an engine that stops decoding one) changes testdata/unhandled.txt, which review sees.
// go test ./cmd/routerd -run TestUnhandledProperties -update rewrites it.
func TestUnhandledProperties(t *testing.T) {
	ex := controltest.New(t)
	env := &Env{Ex: ex, Interp: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		Metrics: metrics.New("test"), DataDir: t.TempDir(), BPFFS: t.TempDir()}
	var b strings.Builder
	names := map[string]bool{}
	for _, e := range engines(env) {
		spec := e.Spec()
		if names[spec.Name] {
			t.Errorf("two engines named %q", spec.Name)
		}
		names[spec.Name] = true
		typed, ok := e.(engine.Typed)
		if !ok {
			// Not in the golden file, so registering a new engine does not fail this
			// test; it shows with -v until the engine decodes its items.
			t.Logf("%s: items not decoded through the schema yet", spec.Name)
			continue
		}
		items := typed.TypedItems()
		paths := slices.Sorted(func(yield func(string) bool) {
			for p := range items {
				if !yield(p) {
					return
				}
			}
		})
		for _, p := range paths {
			m, ok := ex.Tree.Get(p)
			if !ok {
				t.Errorf("%s: no menu %s", spec.Name, p)
				continue
			}
			if !slices.Contains(spec.Menus, p) && !slices.Contains(spec.Watch, p) {
				t.Errorf("%s decodes %s but declares it neither in Spec.Menus nor in Spec.Watch", spec.Name, p)
			}
			u := engine.Unhandled(m, items[p])
			if len(u) == 0 {
				u = []string{"(none)"}
			}
			fmt.Fprintf(&b, "%s %s: %s\n", spec.Name, p, strings.Join(u, " "))
		}
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
