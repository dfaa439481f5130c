package ipcfg

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
)

// TestResubscribeWindow: the library ended the address subscription (a socket that
// overflowed), and the full pass that asks for runs before the new sockets are there;
// routerd's address deleted behind its back in between sends no event that is read. The
// engine makes the first pass after the new subscription a full one too, which puts the
// address back; kicked passes alone would never look (checked without it: "no pass
// asked for once the new subscription was there", and the kicked pass wrote nothing).
func TestResubscribeWindow(t *testing.T) {
	fk := newFakeKernel("ether1", "ether2")
	r := newPlanRig(t, fk)
	h, wait := engine.Standalone(r.ex, r.e.Spec())
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); wait() }()
	kicked := engine.KickedContext(context.Background())
	pass := func(ctx context.Context, want ...string) {
		t.Helper()
		if err := r.e.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if got := fk.Take(); !slices.Equal(got, want) {
			t.Errorf("pass wrote\n  %q\nwant\n  %q", got, want)
		}
	}
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.0.1/24 interface=ether1")
	pass(context.Background(), "addr-add ether1 198.18.0.1/24")
	pass(kicked)

	mk := func() subscriptions {
		_, cancel := context.WithCancel(ctx)
		return subscriptions{lu: make(chan netlink.LinkUpdate), au: make(chan netlink.AddrUpdate),
			ru: make(chan netlink.RouteUpdate), cancel: cancel}
	}
	first, gate, asked := mk(), make(chan struct{}), make(chan struct{})
	h.Go(ctx, func(ctx context.Context) {
		r.e.keepFollowing(ctx, h, first, func() (subscriptions, error) {
			close(asked)
			select {
			case <-gate:
			case <-ctx.Done():
			}
			return mk(), nil
		})
	})
	close(first.au) // the library ends the address subscription
	select {
	case <-asked:
	case <-time.After(10 * time.Second):
		t.Fatal("no new subscription asked for")
	}
	if !h.Kicked() {
		t.Error("a lost subscription asked for no pass")
	}
	pass(kicked) // full (what was lost is unknown): the kernel has it all, nothing to write
	// Behind routerd's back, before the new sockets: no event is read.
	pf := netip.MustParsePrefix("198.18.0.1/24")
	fk.mu.Lock()
	fk.addrs = slices.DeleteFunc(fk.addrs, func(a kaddr) bool { return a.prefix == pf })
	fk.mu.Unlock()
	close(gate)
	again := false
	for deadline := time.Now().Add(10 * time.Second); !again && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		again = h.Kicked()
	}
	if !again {
		t.Error("no pass asked for once the new subscription was there")
	}
	pass(kicked, "addr-add ether1 198.18.0.1/24")
	pass(kicked)
}
