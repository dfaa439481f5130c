package ike

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

var errDPRefused = errors.New("data path says no")

// refusingDP is keepChildren whose removals fail while refuseRemovals is above zero
// (each refusal counts it down) and whose installs fail while refuseInstalls is set.
type refusingDP struct {
	*keepChildren
	refuseRemovals atomic.Int32
	refuseInstalls atomic.Bool
	removeCalls    atomic.Int32
}

func (r *refusingDP) InstallChild(c *ChildSA) error {
	if r.refuseInstalls.Load() {
		return errDPRefused
	}
	return r.keepChildren.InstallChild(c)
}

func (r *refusingDP) RemoveChild(c *ChildSA) error {
	r.removeCalls.Add(1)
	if r.refuseRemovals.Add(-1) >= 0 {
		return errDPRefused
	}
	return r.keepChildren.RemoveChild(c)
}

func (r *refusingDP) has(spi uint32) bool {
	for _, c := range r.all() {
		if c.InSPI == spi {
			return true
		}
	}
	return false
}

// refusingPair is an IKEv2 pair with its CHILD SA established, A's data path a
// refusingDP that refuses nothing yet.
func refusingPair(t *testing.T) (*v1Pair, *refusingDP) {
	pr := newV1Pair(t, nil)
	da := &refusingDP{keepChildren: pr.ka}
	pr.a.SetDatapath(da)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	pr.start(a, b)
	pr.established(t)
	return pr, da
}

// TestRefusedRemovalRetried: a CHILD_SA removal the data path refuses is tried again on
// the daemon's tick until it succeeds, counted and warned about once; before, the error
// was logged at debug and the SA stayed in the data path after IKE forgot it.
func TestRefusedRemovalRetried(t *testing.T) {
	pr, da := refusingPair(t)
	first := pr.ka.all()[0].InSPI
	const refusals = 5
	da.refuseRemovals.Store(refusals)
	pr.a.RekeyChild(first) // A deletes the old SA once the new one is in
	if !iketest.WaitFor(10*time.Second, func() bool { n, _ := pr.a.UnremovedSAs(); return n == 1 }) {
		t.Fatalf("no refused removal kept (refused %d)\nA:\n%s", pr.a.Stats.RemoveRefused.Load(), pr.la)
	}
	if n, err := pr.a.UnremovedSAs(); n != 1 || !errors.Is(err, errDPRefused) {
		t.Errorf("UnremovedSAs = %d, %v", n, err)
	}
	if u := pr.a.Unremoved(); len(u) != 1 || u[0].InSPI != first || u[0].OutboundOnly || !errors.Is(u[0].Err, errDPRefused) {
		t.Errorf("Unremoved = %+v, want the old SA 0x%08x, both halves", u, first)
	}
	if !iketest.WaitFor(20*time.Second, func() bool { return !da.has(first) }) {
		t.Fatalf("the old SA 0x%08x is still in the data path after %d removal attempts\nA:\n%s", first, da.removeCalls.Load(), pr.la)
	}
	if n, _ := pr.a.UnremovedSAs(); n != 0 {
		t.Errorf("%d removals still pending after the SA went", n)
	}
	if got := pr.a.Stats.RemoveRefused.Load(); got != 1 {
		t.Errorf("RemoveRefused = %d, want 1 (one refused removal, however often retried)", got)
	}
	if calls := da.removeCalls.Load(); calls < refusals+1 {
		t.Errorf("%d removal attempts, want %d refused and one that worked", calls, refusals+1)
	}
	log := pr.la.String()
	if n := strings.Count(log, "refused to remove a CHILD SA"); n != 1 {
		t.Errorf("the refusal was warned about %d times, want once:\n%s", n, log)
	}
	if !strings.Contains(log, "removed from the data path after refusals") {
		t.Errorf("the late removal was not logged:\n%s", log)
	}
}

// TestRefusedInstallFailsRekey: a rekeyed CHILD_SA the data path refuses to install
// fails the rekey (the old SA stays, tried again after a pause) and the peer is told to
// delete the new one; before, the refusal was logged and the SA counted as established,
// and the old one was deleted: no SA in the data path at all.
func TestRefusedInstallFailsRekey(t *testing.T) {
	pr, da := refusingPair(t)
	first := pr.ka.all()[0]
	established := pr.a.Stats.ChildEstablished.Load()
	da.refuseInstalls.Store(true)
	pr.a.RekeyChild(first.InSPI)
	if !iketest.WaitFor(10*time.Second, func() bool { return pr.a.Stats.InstallRefused.Load() == 1 }) {
		t.Fatalf("no refused install counted\nA:\n%s", pr.la)
	}
	// B installed the new SA when it answered; A's Delete takes it out again.
	if !iketest.WaitFor(10*time.Second, func() bool {
		kb := pr.kb.all()
		return len(kb) == 1 && kb[0].InSPI == first.OutSPI
	}) {
		t.Fatalf("B keeps %d SAs, want only the old one (0x%08x)\nA:\n%s\nB:\n%s", len(pr.kb.all()), first.OutSPI, pr.la, pr.lb)
	}
	if ka := pr.ka.all(); len(ka) != 1 || ka[0].InSPI != first.InSPI {
		t.Errorf("A's data path holds %d SAs, want the old one 0x%08x", len(ka), first.InSPI)
	}
	if got := pr.a.Stats.ChildEstablished.Load(); got != established {
		t.Errorf("ChildEstablished %d -> %d: a refused SA was counted", established, got)
	}
	log := pr.la.String()
	for _, want := range []string{"the data path refused the CHILD SA; deleting it at the peer", "CHILD SA rekey refused, the SA stays"} {
		if !strings.Contains(log, want) {
			t.Errorf("A's log lacks %q:\n%s", want, log)
		}
	}
}
