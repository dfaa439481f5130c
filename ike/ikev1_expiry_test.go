package ike

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIKEv1Phase1ExpiryKeepsSAs: without DPD, Phase 1 expires (both sides, 2 s) and
// its IPsec SAs stay installed on both sides; at the IPsec SA's soft lifetime the
// initiator negotiates a new Phase 1, which adopts the SA on both sides and rekeys it.
func TestIKEv1Phase1ExpiryKeepsSAs(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	a.Lifetime, b.Lifetime = 2*time.Second, 2*time.Second
	a.Children[0].Lifetime, b.Children[0].Lifetime = 14*time.Second, 14*time.Second
	pr.start(a, b)
	pr.established(t)
	first := pr.ka.all()[0].InSPI
	expired := func(d *Daemon) bool {
		s := d.Snapshot()
		return len(s) == 1 && s[0].State == "expired" && len(s[0].Children) == 1
	}
	if !iketest.WaitFor(20*time.Second, func() bool { return expired(pr.a) && expired(pr.b) }) {
		t.Fatalf("phase 1 did not expire with its IPsec SA kept: A %+v, B %+v", pr.a.Snapshot(), pr.b.Snapshot())
	}
	if len(pr.ka.all()) != 1 || len(pr.kb.all()) != 1 || pr.ka.all()[0].InSPI != first {
		t.Fatalf("the IPsec SAs went with phase 1: A %d, B %d", len(pr.ka.all()), len(pr.kb.all()))
	}
	// About 11 s in, the soft lifetime: a new Phase 1 comes up, adopts and rekeys.
	rekeyed := func() bool {
		ca, cb := pr.ka.all(), pr.kb.all()
		if len(ca) != 1 || len(cb) != 1 || ca[0].InSPI == first || ca[0].OutSPI != cb[0].InSPI {
			return false
		}
		for _, d := range []*Daemon{pr.a, pr.b} {
			for _, s := range d.Snapshot() {
				if len(s.Children) == 1 && s.Children[0].InSPI == first {
					return false
				}
			}
		}
		return true
	}
	if !iketest.WaitFor(30*time.Second, rekeyed) {
		t.Fatalf("no rekey through a new phase 1: A %+v, B %+v", pr.a.Snapshot(), pr.b.Snapshot())
	}
	if testing.Verbose() {
		t.Logf("A:\n%s", pr.la)
	}
}

// TestIKEv1Phase1RetriedForOrphans: Phase 1 expired (no DPD) with its IPsec SA kept;
// at the SA's soft lifetime the initiator's new Phase 1 fails (the responder's key
// changed meanwhile). It is tried again with the backoff (before, the expired Phase 1
// stayed "rekeying" and never tried again), and once the key is right again the new
// Phase 1 adopts and rekeys the SA before its hard lifetime.
func TestIKEv1Phase1RetriedForOrphans(t *testing.T) {
	pr := newV1Pair(t, func(o *Options) { o.Retries = 2; o.Retransmit = 200 * time.Millisecond })
	a := v1TestPeer(t, "b", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeMain, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	a.Lifetime, b.Lifetime = 2*time.Second, 2*time.Second
	// Soft from 45-48 s (jitter), hard at 60 s. The third attempt comes ~6 s after the
	// soft lifetime (two failures and the 1 s and 2 s backoffs) and must finish before the
	// hard one; with 40 s (soft from 30-32 s) that left 2-4 s, which -race under load
	// overran (s31: the rekey came 10 ms after the hard lifetime).
	a.Children[0].Lifetime, b.Children[0].Lifetime = 60*time.Second, 60*time.Second
	pr.start(a, b)
	pr.established(t)
	first := pr.ka.all()[0].InSPI
	expired := func(d *Daemon) bool {
		s := d.Snapshot()
		return len(s) == 1 && s[0].State == "expired" && len(s[0].Children) == 1
	}
	if !iketest.WaitFor(20*time.Second, func() bool { return expired(pr.a) && expired(pr.b) }) {
		t.Fatalf("phase 1 did not expire with its IPsec SA kept: A %+v, B %+v", pr.a.Snapshot(), pr.b.Snapshot())
	}
	wrong := *b
	wrongID := *b.Identities[0]
	wrongID.PSK = []byte("changed")
	wrong.Identities = []*IdentityConfig{&wrongID}
	pr.b.SetPeers([]*PeerConfig{&wrong})
	// The first Phase 1 and, from the soft lifetime on, two more attempts.
	attempts := func() int { return strings.Count(pr.la.String(), "initiating IKEv1 phase 1") }
	if !iketest.WaitFor(70*time.Second, func() bool { return attempts() >= 3 }) {
		t.Fatalf("%d phase 1 attempts, want the first and two for the expiring SA", attempts())
	}
	// ...while the SA lives: not a fresh start after its hard lifetime.
	if strings.Contains(pr.la.String(), "hard lifetime expired") {
		t.Fatal("the IPsec SA reached its hard lifetime before a second phase 1 attempt")
	}
	pr.b.SetPeers([]*PeerConfig{b})
	// Both sides are past their soft lifetimes by then and may both rekey: one pair or
	// two, the first SA replaced (the hard lifetime is checked again below).
	if !iketest.WaitFor(30*time.Second, func() bool {
		ca, cb := pr.ka.all(), pr.kb.all()
		if len(ca) == 0 || len(ca) != len(cb) {
			return false
		}
		for _, c := range ca {
			if c.InSPI == first {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("no rekey through a new phase 1 once the key was right: A %+v, B %+v", pr.a.Snapshot(), pr.b.Snapshot())
	}
	if strings.Contains(pr.la.String(), "hard lifetime expired") {
		t.Fatal("the IPsec SA reached its hard lifetime instead of being rekeyed")
	}
	if testing.Verbose() {
		t.Logf("A:\n%s", pr.la)
	}
}
