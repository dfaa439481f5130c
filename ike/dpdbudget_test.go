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

// TestDPDTiming times dead peer detection as control/ipsec's doc states it: the first
// probe once the peer has been silent for dpd-interval, each probe unanswered for
// dpd-interval a failure, dead at dpd-maximum-failures: dpd-interval x (failures + 1)
// after the peer's last message, for IKEv2 and IKEv1 (R-U-THERE) alike.
func TestDPDTiming(t *testing.T) {
	const interval, failures = time.Second, 3
	for _, c := range []struct {
		name string
		mode ExchangeMode
	}{{"ikev2", ExchangeIKEv2}, {"ikev1", ExchangeMain}} {
		t.Run(c.name, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			a := v1TestPeer(t, "b", c.mode, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
			b := v1TestPeer(t, "a", c.mode, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
			a.DPDInterval, a.DPDMaxFailures = interval, failures
			pr.start(a, b)
			pr.established(t)
			// B sends nothing of its own (no DPD, no rekeys): what reaches A an interval
			// after the SA came up answers A's probe, so DPD runs against a live peer.
			up := time.Now()
			if !iketest.WaitFor(10*time.Second, func() bool { return pr.r.toA.Load() > up.Add(interval).UnixNano() }) {
				t.Fatalf("no answered DPD probe")
			}
			if n := pr.a.Stats.DPDFailures.Load(); n != 0 {
				t.Fatalf("%d DPD failures against a live peer", n)
			}
			pr.r.cut.Store(true)
			last := time.Unix(0, pr.r.toA.Load())
			if !iketest.WaitFor(20*time.Second, func() bool { return pr.a.Stats.DPDFailures.Load() == 1 }) {
				t.Fatalf("the peer was not found dead")
			}
			took := time.Since(last)
			t.Logf("dead %v after the peer's last message", took.Round(10*time.Millisecond))
			if lo := interval * (failures + 1); took < lo {
				t.Errorf("dead %v after the peer's last message, before dpd-interval x (dpd-maximum-failures + 1) = %v", took, lo)
			}
			if hi := interval*(failures+1) + 3*time.Second; took > hi {
				t.Errorf("dead %v after the peer's last message, want about %v", took, interval*(failures+1))
			}
		})
	}
}
