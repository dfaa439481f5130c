package ipsettings

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
)

// fakeProc makes a /proc/sys tree with the files of one parameter set to old.
func fakeProc(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for f, v := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func read(t *testing.T, dir, f string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, f))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A per-interface parameter reaches all, default and every interface; a second pass
// with nothing changed writes nothing.
func TestSetPerInterface(t *testing.T) {
	files := map[string]string{
		"net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/default/rp_filter": "0",
		"net/ipv4/conf/ether1/rp_filter": "1", "net/ipv4/conf/lo/rp_filter": "2",
	}
	dir := fakeProc(t, files)
	e := New(Options{Proc: dir})
	p := params4[5]
	if p.prop != "rp-filter" {
		t.Fatalf("params4[5] is %s", p.prop)
	}
	if err := e.set(p, "loose"); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1e9, 0)
	for f := range files {
		if got := read(t, dir, f); got != "2" && got != "2\n" {
			t.Errorf("%s = %q, want 2", f, got)
		}
		os.Chtimes(filepath.Join(dir, f), old, old)
	}
	if err := e.set(p, "loose"); err != nil {
		t.Fatal(err)
	}
	for f := range files {
		if st, _ := os.Stat(filepath.Join(dir, f)); !st.ModTime().Equal(old) {
			t.Errorf("%s rewritten with nothing changed", f)
		}
	}
}

// Conversions of the RouterOS values to the kernel's.
func TestConversions(t *testing.T) {
	for _, c := range []struct {
		f    func(string) (string, error)
		in   string
		want string
	}{
		{boolean, "yes", "1"}, {boolean, "no", "0"},
		{millis, "1m", "60000"}, {millis, "30s", "30000"},
		{hex, "0x1818", "6168"},
		{hashPolicy, "l3-inner", "2"},
	} {
		if got, err := c.f(c.in); err != nil || got != c.want {
			t.Errorf("%s -> %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

// The machine-wide neighbour limit is not written from a child namespace, and a
// missing file is an error, not silence.
func TestSetRefusals(t *testing.T) {
	dir := fakeProc(t, map[string]string{"net/ipv4/neigh/default/gc_thresh3": "1024"})
	e := New(Options{Proc: dir})
	if err := e.set(params4[7], "8192"); !errors.Is(err, ErrSharedLimit) {
		t.Errorf("gc_thresh3 from a child namespace: %v", err)
	}
	if read(t, dir, "net/ipv4/neigh/default/gc_thresh3") != "1024\n" {
		t.Error("gc_thresh3 written")
	}
	if err := e.set(params4[7], "1024"); err != nil {
		t.Errorf("gc_thresh3 from a child namespace, asked for the value the machine has: %v", err)
	}
	e.initNS = true
	if err := e.set(params4[7], "8192"); err != nil || read(t, dir, "net/ipv4/neigh/default/gc_thresh3") != "8192" {
		t.Errorf("gc_thresh3 from the initial namespace: %v", err)
	}
	if err := e.set(params4[0], "yes"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing ip_forward: %v", err)
	}
}

// A resync reads all, default and new interfaces' files only; an interface's file
// changed behind routerd's back is put back at the next full check.
func TestResyncReadsNewInterfacesOnly(t *testing.T) {
	files := map[string]string{
		"net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/default/rp_filter": "0",
		"net/ipv4/conf/ether1/rp_filter": "0",
	}
	dir := fakeProc(t, files)
	e := New(Options{Proc: dir})
	p := params4[5]
	e.passes = 1
	if err := e.set(p, "loose"); err != nil {
		t.Fatal(err)
	}
	for f, v := range map[string]string{"net/ipv4/conf/all/rp_filter": "0", "net/ipv4/conf/ether1/rp_filter": "0",
		"net/ipv4/conf/ether2/rp_filter": "0"} {
		fakeFile(t, dir, f, v)
	}
	e.passes, e.dirs = 2, nil // a new pass, as Reconcile starts one
	if err := e.set(p, "loose"); err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"net/ipv4/conf/all/rp_filter": "2", "net/ipv4/conf/ether2/rp_filter": "2",
		"net/ipv4/conf/ether1/rp_filter": "0"} {
		if got := strings.TrimSpace(read(t, dir, f)); got != want {
			t.Errorf("after a resync %s = %q, want %q", f, got, want)
		}
	}
	e.passes, e.dirs = fullCheck, nil
	if err := e.set(p, "loose"); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(read(t, dir, "net/ipv4/conf/ether1/rp_filter")); got != "2" {
		t.Errorf("after a full check ether1 = %q, want 2", got)
	}
}

func fakeFile(t *testing.T, dir, f, v string) {
	t.Helper()
	p := filepath.Join(dir, f)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSharedLimitAtDefault: in a child namespace, max-neighbor-entries left at its default
// says nothing (QA: a fresh router's /ip settings printed "not applied" for a property
// nobody set); set to a value the machine does not have, it says why it is not applied.
func TestSharedLimitAtDefault(t *testing.T) {
	dir := fakeProc(t, map[string]string{"net/ipv4/neigh/default/gc_thresh3": "1024", "net/ipv4/ip_forward": "1"})
	e := New(Options{Proc: dir})
	e.ex = controltest.New(t)
	status := func() string {
		st, _ := e.ex.State.Get(Path, itemID)
		return st.Status
	}
	e.apply(Path, params4)
	if s := status(); strings.Contains(s, "max-neighbor-entries") {
		t.Errorf("at its default: %s", s)
	}
	controltest.Exec(t, e.ex, "/ip/settings set max-neighbor-entries=1024")
	e.apply(Path, params4)
	if s := status(); strings.Contains(s, "max-neighbor-entries") {
		t.Errorf("set to the machine's value: %s", s)
	}
	controltest.Exec(t, e.ex, "/ip/settings set max-neighbor-entries=4096")
	e.apply(Path, params4)
	if s := status(); !strings.Contains(s, "max-neighbor-entries: "+ErrSharedLimit.Error()) {
		t.Errorf("set to another value: status %q", s)
	}
	if read(t, dir, "net/ipv4/neigh/default/gc_thresh3") != "1024\n" {
		t.Error("gc_thresh3 written from a child namespace")
	}
}

// TestRoundedValueNotRewritten: a knob the kernel keeps in jiffies shows another value
// than the one written (icmp_ratelimit 10 ms reads back 12 with HZ=250); the full check
// takes that for routerd's own value and writes nothing (QA: icmp_ratelimit was written
// every minute on an idle router), while a value changed behind routerd's back is still
// put back. On the real kernel, in a network namespace of the test's own.
func TestRoundedValueNotRewritten(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace of its own")
	}
	// The thread stays in the new namespace and ends with the test's goroutine.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Fatal(err)
	}
	e := New(Options{Proc: "/proc/sys"})
	p := params4[slices.IndexFunc(params4, func(p param) bool { return p.prop == "icmp-rate-limit" })]
	const f = "/proc/sys/net/ipv4/icmp_ratelimit"
	e.passes = 1
	if err := e.set(p, "10"); err != nil {
		t.Fatal(err)
	}
	shows := strings.TrimSpace(read(t, "/", f))
	t.Logf("icmp_ratelimit=10 shows %s", shows)
	if e.writes != 1 {
		t.Fatalf("%d writes for the first set, want 1", e.writes)
	}
	for pass := 2; pass <= 2*fullCheck; pass++ {
		e.passes, e.dirs = pass, nil
		if err := e.set(p, "10"); err != nil {
			t.Fatal(err)
		}
	}
	if e.writes != 1 {
		t.Errorf("%d writes over two full checks with nothing changed, want 1 (the kernel shows %s)", e.writes, shows)
	}
	if err := os.WriteFile(f, []byte("1000"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.passes, e.dirs = 3*fullCheck, nil
	if err := e.set(p, "10"); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(read(t, "/", f)); got != shows || e.writes != 2 {
		t.Errorf("changed behind routerd's back: %s after the full check (%d writes), want %s", got, e.writes, shows)
	}
}
