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

// TestRemovedPeerNoRetry (issue 12): an IKE SA whose IKE_SA_INIT is unanswered ends
// when its peer, or the peer's last identity, is removed; nothing will initiate to it
// again, so the log says the SA stopped instead of promising "initiating again later"
// (the line QA saw). Fails without initEnded: the warning was logged once.
func TestRemovedPeerNoRetry(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(p *PeerConfig) []*PeerConfig
		reason string
	}{
		{"peer", func(*PeerConfig) []*PeerConfig { return nil }, "peer removed"},
		{"identity", func(p *PeerConfig) []*PeerConfig {
			np := *p
			np.Identities = nil
			return []*PeerConfig{&np}
		}, "identity removed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			drop := func([]byte, bool) [][]byte { return nil } // nobody answers
			pr.r.filter.Store(&drop)
			a := v1TestPeer(t, "ghost", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
			pr.a.SetPeers([]*PeerConfig{a})
			if !iketest.WaitFor(5*time.Second, func() bool { return len(pr.r.sentByA(IKESAInit)) > 0 }) {
				t.Fatal("A sent no IKE_SA_INIT")
			}
			pr.a.SetPeers(c.change(a))
			sent := len(pr.r.sentByA(IKESAInit))
			time.Sleep(1500 * time.Millisecond) // past the first retry's 1 s pause
			log := pr.la.String()
			if n := strings.Count(log, "initiating again later"); n != 0 {
				t.Errorf("a retry promised %d times for a removed %s:\n%s", n, c.name, log)
			}
			if n := strings.Count(log, `level=INFO msg="ipsec: IKE SA stopped" peer=ghost reason="`+c.reason+`"`); n != 1 {
				t.Errorf("%q logged %d times, want once:\n%s", "IKE SA stopped", n, log)
			}
			if n := len(pr.r.sentByA(IKESAInit)); n > sent {
				t.Errorf("%d IKE_SA_INIT sent after the %s was removed", n-sent, c.name)
			}
			if len(pr.a.initRetryNames()) != 0 {
				t.Errorf("retry entries left: %v", pr.a.initRetryNames())
			}
		})
	}
}

// initRetryNames lists the peers with a pending initiation pause.
func (d *Daemon) initRetryNames() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for n := range d.initRetry {
		out = append(out, n)
	}
	return out
}
