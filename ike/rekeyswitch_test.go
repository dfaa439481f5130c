package ike

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// orderCheck is keepChildren as a SplitDatapath that notes which outbound SPIs it sends
// on; the responder's also checks, as each inbound half goes in, whether the initiator
// already sends on that SPI (then ESP reached it before it could take it: lost).
type orderCheck struct {
	*keepChildren
	peer *orderCheck // set on the responder: the initiator

	mu      sync.Mutex
	sending map[uint32]bool
	checked int
	late    []string
}

func (o *orderCheck) send(spi uint32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.sending == nil {
		o.sending = map[uint32]bool{}
	}
	o.sending[spi] = true
}

func (o *orderCheck) peerSends(spi uint32) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sending[spi]
}

// inbound waits a little for the initiator to send on c: it cannot before it has our
// answer, so once the answer leaves after this install the wait ends empty.
func (o *orderCheck) inbound(c *ChildSA) {
	if o.peer == nil {
		return
	}
	sent := iketest.WaitFor(300*time.Millisecond, func() bool { return o.peer.peerSends(c.InSPI) })
	o.mu.Lock()
	defer o.mu.Unlock()
	o.checked++
	if sent {
		o.late = append(o.late, fmt.Sprintf("0x%08x", c.InSPI))
	}
}

func (o *orderCheck) InstallChild(c *ChildSA) error {
	o.inbound(c)
	o.send(c.OutSPI)
	return o.keepChildren.InstallChild(c)
}

func (o *orderCheck) InstallInbound(c *ChildSA) error {
	o.inbound(c)
	return o.keepChildren.InstallChild(c)
}

func (o *orderCheck) InstallOutbound(c *ChildSA) error { o.send(c.OutSPI); return nil }

func (o *orderCheck) RemoveOutbound(*ChildSA) error { return nil }

func (o *orderCheck) result() (int, []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.checked, append([]string(nil), o.late...)
}

// TestResponderInboundBeforeAnswer: the responder of IKE_AUTH and of a CHILD_SA rekey
// has the new inbound SA in before its answer leaves, since the initiator sends on the
// new SA as soon as it has the answer. Installing it after the answer (as before) lost
// ESP that arrived in between as in-no-states: one ping in 400 in control/ipsec
// TestRekey under CI load.
func TestResponderInboundBeforeAnswer(t *testing.T) {
	pr := newV1Pair(t, nil)
	oa := &orderCheck{keepChildren: pr.ka}
	ob := &orderCheck{keepChildren: pr.kb, peer: oa}
	pr.a.SetDatapath(oa)
	pr.b.SetDatapath(ob)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	a.Children[0].Lifetime = 4 * time.Second // the initiator rekeys from about 3 s on
	pr.start(a, b)
	pr.established(t)
	// The first CHILD_SA (IKE_AUTH) and two rekeys.
	if !iketest.WaitFor(20*time.Second, func() bool { n, _ := ob.result(); return n >= 3 }) {
		n, _ := ob.result()
		t.Fatalf("the responder installed %d inbound SAs, want the first and two rekeys", n)
	}
	if n, late := ob.result(); len(late) > 0 {
		t.Errorf("of %d inbound SAs, the initiator sent on %v before the responder installed them", n, late)
	}
}

// TestChildRekeyDuringIKERekey: a CHILD_SA comes due while the IKE SA's rekey is in
// flight (both timers fire in one tick, as with QA's 15 s CHILD and 40 s IKE lifetimes).
// The CHILD rekey used to queue on the old IKE SA and go out there after the children
// had moved to the new one; the peer answered CHILD_SA_NOT_FOUND, the SA was marked
// rekeyed without a successor and ran into its hard lifetime. It now waits for the IKE
// rekey and goes on the new IKE SA.
func TestChildRekeyDuringIKERekey(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	pr.start(a, b)
	pr.established(t)
	first := pr.ka.all()[0].InSPI
	pr.a.RekeyIKE("b")
	pr.a.RekeyChild(first)
	if !iketest.WaitFor(10*time.Second, func() bool {
		ka, kb := pr.ka.all(), pr.kb.all()
		return len(ka) == 1 && len(kb) == 1 && ka[0].InSPI != first && ka[0].OutSPI == kb[0].InSPI
	}) {
		t.Fatalf("the CHILD SA was not rekeyed beside the IKE SA rekey: A %d (first 0x%08x), B %d\nA:\n%s", len(pr.ka.all()), first, len(pr.kb.all()), pr.la)
	}
	if s := pr.a.Snapshot(); len(s) != 1 || pr.a.Stats.IKERekeys.Load() != 1 {
		t.Fatalf("IKE SAs %d, IKE rekeys %d, want 1 and 1", len(s), pr.a.Stats.IKERekeys.Load())
	}
}
