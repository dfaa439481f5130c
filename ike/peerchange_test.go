package ike

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestInitiationBackoff: a peer whose IKE SA is refused (here a pre-shared key the
// responder does not share, as a tunnel's ipsec-secret set on one end only) is
// initiated again after pauses that double (1 s, 2 s, 4 s: the CHILD SA retries'
// backoff), not at a fixed pace; the cause is logged once at warning level.
func TestInitiationBackoff(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k2", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	pr.start(a, b)
	var at []time.Time
	for end := time.Now().Add(9 * time.Second); time.Now().Before(end) && len(at) < 4; time.Sleep(20 * time.Millisecond) {
		if n := len(pr.r.sentByA(IKESAInit)); n > len(at) {
			at = append(at, time.Now())
		}
	}
	if len(at) < 4 {
		t.Fatalf("%d attempts in 9 s, want 4 (pauses of 1, 2 and 4 s)", len(at))
	}
	for i := 2; i < len(at); i++ {
		prev, gap := at[i-1].Sub(at[i-2]), at[i].Sub(at[i-1])
		if gap < prev*3/2 {
			t.Errorf("pause %d is %v after %v: not backing off", i, gap, prev)
		}
	}
	if n := strings.Count(pr.la.String(), "level=WARN msg=\"ipsec: IKE SA not established"); n != 1 {
		t.Errorf("the cause logged %d times at warning level, want once:\n%s", n, pr.la)
	}
}

// TestInitiatorRejectsResponderID (RFC 7296 2.21.2): the initiator refuses the
// responder's IKE_AUTH answer (its ID is not the remote-id) after the responder has set
// the SA up: it tells the responder in an INFORMATIONAL with AUTHENTICATION_FAILED, and
// the responder drops the SA and its CHILD SA instead of keeping a connection the
// initiator never had. Fails without the change (the responder kept it established).
func TestInitiatorRejectsResponderID(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	a.Identities[0].RemoteID = IDSpec{ID: Identity{Type: IDFQDN, Data: []byte("other.example")}}
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	b.Identities[0].MyID = IDSpec{ID: Identity{Type: IDFQDN, Data: []byte("b.example")}}
	pr.start(a, b)
	if !iketest.WaitFor(10*time.Second, func() bool { return strings.Contains(pr.la.String(), "does not match remote-id") }) {
		t.Fatalf("the initiator did not refuse the responder's ID:\n%s", pr.la)
	}
	if !iketest.WaitFor(5*time.Second, func() bool {
		return strings.Contains(pr.lb.String(), "the peer refused our authentication")
	}) {
		t.Fatalf("the responder was not told:\n%s", pr.lb)
	}
	if !iketest.WaitFor(5*time.Second, func() bool {
		for _, s := range pr.b.Snapshot() {
			if s.State == "established" {
				return false
			}
		}
		return len(pr.kb.all()) == 0
	}) {
		t.Fatalf("the responder keeps the SA: %+v", pr.b.Snapshot())
	}
}
