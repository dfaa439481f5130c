// Package controltest builds real executors for tests: a bbolt store in a data dir, the
// full menu tree, built-in items seeded — the same start routerd makes, without engines.
package controltest

import (
	"path/filepath"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/compat"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// New returns an executor over a fresh store in a temporary data dir.
func New(t testing.TB) *control.Executor {
	t.Helper()
	return NewIn(t, t.TempDir())
}

// NewIn returns an executor over a store in data dir dir; the store closes at cleanup.
func NewIn(t testing.TB, dir string) *control.Executor {
	t.Helper()
	st, err := store.Open(filepath.Join(dir, "routerd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ex := control.New(menu.Default(), st)
	if err := ex.Seed(); err != nil {
		t.Fatal(err)
	}
	compat.Register(ex) // RouterOS 6 properties load as in routerd
	return ex
}
