package ike

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestDPDBoundsOutstandingRequest: the link to an IKEv2 peer is cut just as a CHILD SA
// rekey starts. The CREATE_CHILD_SA's own retransmissions (300 ms doubling, 6 tries)
// would take about 19 s to give up; with dpd-interval 700ms x 4 the peer is declared
// dead, counted and its SAs gone after about 2.8 s.
func TestDPDBoundsOutstandingRequest(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	a.DPDInterval, a.DPDMaxFailures = 700*time.Millisecond, 4
	pr.start(a, b)
	pr.established(t)
	pr.r.cut.Store(true)
	start := time.Now()
	pr.a.RekeyChild(pr.ka.all()[0].InSPI)
	if !iketest.WaitFor(12*time.Second, func() bool { return pr.a.Stats.DPDFailures.Load() == 1 && len(pr.ka.all()) == 0 }) {
		t.Fatalf("the peer was not found dead: failures %d, children %d", pr.a.Stats.DPDFailures.Load(), len(pr.ka.all()))
	}
	if !strings.Contains(pr.la.String(), "no answer within dpd-interval x dpd-maximum-failures") {
		t.Fatalf("not found dead by the DPD budget (after %v):\n%s", time.Since(start), pr.la)
	}
	t.Logf("dead after %v", time.Since(start))
}
