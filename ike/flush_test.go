package ike

import (
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestFlushRenegotiates: after installed-sa flush the initiator negotiates the CHILD SA
// of a level=require policy again at once (IKEv2, and a Quick Mode with IKEv1), and
// leaves a level=use one (OnTraffic) to the next packet (acquire).
func TestFlushRenegotiates(t *testing.T) {
	for _, c := range []struct {
		name      string
		mode      ExchangeMode
		onTraffic bool
	}{{"require", ExchangeIKEv2, false}, {"use", ExchangeIKEv2, true}, {"ikev1-require", ExchangeMain, false}} {
		t.Run(c.name, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			a := v1TestPeer(t, "b", c.mode, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
			b := v1TestPeer(t, "a", c.mode, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
			a.Children[0].OnTraffic = c.onTraffic
			pr.start(a, b)
			pr.established(t)
			old := pr.ka.all()[0].InSPI
			pr.a.FlushChildren()
			renewed := func() bool {
				for _, ch := range pr.ka.all() {
					if ch.InSPI != old {
						return true
					}
				}
				return false
			}
			if c.onTraffic {
				if iketest.WaitFor(3*time.Second, renewed) {
					t.Fatalf("a level=use CHILD SA was negotiated again without traffic")
				}
				return
			}
			if !iketest.WaitFor(5*time.Second, renewed) {
				t.Fatalf("no new CHILD SA after the flush")
			}
		})
	}
}
