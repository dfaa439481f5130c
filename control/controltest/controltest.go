// Package controltest builds real executors for tests: a bbolt store in a data dir, the
// full menu tree, built-in items seeded — the same start routerd makes, without engines.
package controltest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
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

// Exec runs one command written as "PATH CMD NAME=VALUE ...", where a word without "=" is
// numbers= (an item's name or id), as the engines' plan tests write their desired
// state; an error fails the test.
func Exec(t testing.TB, ex *control.Executor, line string) {
	t.Helper()
	if err := Run(ex, line); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
}

// Run is Exec returning the command's error, for a test that expects a refusal.
func Run(ex *control.Executor, line string) error {
	return RunIn(ex, nil, line)
}

// RunIn is Run inside sess (nil: a transaction of its own), for a test of what a
// session's open batch sees, as an import's lines do.
func RunIn(ex *control.Executor, sess *control.Session, line string) error {
	path, rest, _ := strings.Cut(line, " ")
	words := strings.Fields(rest)
	if len(words) == 0 {
		return fmt.Errorf("%q: no command", line)
	}
	s := &control.Sentence{Path: path, Cmd: words[0]}
	for _, a := range words[1:] {
		n, v, ok := strings.Cut(a, "=")
		if !ok {
			n, v = "numbers", a
		}
		s.Args = append(s.Args, control.Arg{Name: n, Value: v})
	}
	_, err := ex.Exec(context.Background(), sess, s)
	return err
}

// State is the state an engine set on the item of path whose property prop is value.
func State(t testing.TB, ex *control.Executor, path, prop, value string) control.ItemState {
	t.Helper()
	its, err := ex.Items(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		if it.Props[prop] == value {
			st, _ := ex.State.Get(path, it.ID)
			return st
		}
	}
	t.Fatalf("no %s item with %s=%s", path, prop, value)
	return control.ItemState{}
}

// WantStates checks the states an engine set on the items of path whose property prop
// has each value of want: "" wants the item applied (not invalid), anything else wants
// it invalid with a status containing that text (a plan test's expected outcomes).
func WantStates(t testing.TB, ex *control.Executor, path, prop string, want map[string]string) {
	t.Helper()
	for value, w := range want {
		st := State(t, ex, path, prop, value)
		if w == "" && st.Invalid {
			t.Errorf("%s=%s: %+v, want applied", prop, value, st)
		}
		if w != "" && (!st.Invalid || !strings.Contains(st.Status, w)) {
			t.Errorf("%s=%s: %+v, want invalid with %q", prop, value, st, w)
		}
	}
}

// Recorder is the write log of a fake kernel in an engine's plan test: each call that
// would change the kernel is recorded as a line ("add bridge bridge1"), and a line named
// in Fail is refused with that error instead (recorded with " (failed)"), so a test reads
// exactly what a pass asked of the kernel, in order.
type Recorder struct {
	mu     sync.Mutex
	writes []string
	Fail   map[string]error
}

// Write records a write and returns the error the test wants for it (nil: done).
func (r *Recorder) Write(format string, a ...any) error {
	w := fmt.Sprintf(format, a...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.Fail[w]; err != nil {
		r.writes = append(r.writes, w+" (failed)")
		return err
	}
	r.writes = append(r.writes, w)
	return nil
}

// Record records a line as it is (an outcome the fake decides itself, such as a route
// the kernel would find unreachable).
func (r *Recorder) Record(line string) {
	r.mu.Lock()
	r.writes = append(r.writes, line)
	r.mu.Unlock()
}

// Take returns the writes recorded since the last Take.
func (r *Recorder) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.writes
	r.writes = nil
	return w
}
