package ipsec

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestPanicInPass: a pass that panics while it holds the engine's lock (here a hook in
// the decoding; before, an Unlock that the panic skipped) is recovered by the host, which
// marks the items with the reason; the lock is released, so the next pass runs instead
// of waiting for ever, and the next good pass clears the mark.
func TestPanicInPass(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipsp")
	r := startRouter(t, ns, false)
	// Every pass panics until the test has seen the mark: a fault that fired once would be
	// cleared by the host's retry 5 s later (engine.DefaultResync), before a print on a
	// loaded machine got to see it.
	var faulty atomic.Bool
	faulty.Store(true)
	fired := make(chan struct{})
	var once sync.Once
	hook := func() {
		if faulty.Load() {
			once.Do(func() { close(fired) })
			panic("injected pass fault")
		}
	}
	r.e.passHook.Store(&hook)
	if err := r.try("/ip ipsec peer add name=p1 address=198.18.0.9/32 exchange-mode=ike2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fired:
	case <-time.After(20 * time.Second):
		t.Fatal("no pass after the change")
	}
	print := func() string {
		var b strings.Builder
		if err := r.in.Run(context.Background(), r.con, "/ip ipsec peer print detail where name=p1", &b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	waitFor(t, "the peer marked with the pass's fault", func() bool {
		return strings.Contains(print(), "internal error: injected pass fault")
	})
	faulty.Store(false)
	done := make(chan error, 1)
	go func() { done <- r.e.Reconcile(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("pass after the panic: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the pass after a panic waits for the lock the panicking pass held")
	}
	// The host's next pass (a change kicks it) succeeds and clears the mark.
	if err := r.try("/ip ipsec peer set p1 comment=after"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the mark cleared", func() bool {
		out := print()
		return !strings.Contains(out, "internal error") && strings.Contains(out, "after")
	})
}

// waitFor polls cond until it holds (20 s at most).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
