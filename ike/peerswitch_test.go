package ike

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestResponderPeerByIdentity: the responder has two peers of one address, as a static
// peer (tunnel-mode policy between two networks) beside a tunnel's ipsec-secret (its
// dynamic peer with a transport-mode policy for GRE between the endpoints). The
// initiator brings both up. Each IKE SA must end on the responder's peer whose secret
// it authenticates with and each CHILD SA on that peer's policy, whichever peer comes
// first in the responder's configuration; with one secret for both, the proposed
// traffic selectors decide. Fails without the change: the first peer answered every
// IKE_AUTH (AUTHENTICATION_FAILED for the other secret, TS_UNACCEPTABLE with the same).
func TestResponderPeerByIdentity(t *testing.T) {
	for _, c := range []struct {
		name           string
		greFirst       bool
		staticKey, key string
	}{
		{"static first, two secrets", false, "k-static", "k-gre"},
		{"tunnel first, two secrets", true, "k-static", "k-gre"},
		{"static first, one secret", false, "k1", "k1"},
		{"tunnel first, one secret", true, "k1", "k1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			mk := func(port uint16, passive bool) []*PeerConfig {
				st := v1TestPeer(t, "static", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", c.staticKey, port, passive, "198.19.1.0/24", "198.19.2.0/24")
				if passive {
					st = v1TestPeer(t, "static", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", c.staticKey, port, passive, "198.19.2.0/24", "198.19.1.0/24")
				}
				gre := v1TestPeer(t, "gre", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", c.key, port, passive, "127.0.0.1/32", "127.0.0.1/32")
				gre.Children[0].ID = 2
				for _, s := range []*Selector{&gre.Children[0].Local, &gre.Children[0].Remote} {
					s.IPProto = 47
				}
				gre.Children[0].Tunnel = false
				if c.greFirst {
					return []*PeerConfig{gre, st}
				}
				return []*PeerConfig{st, gre}
			}
			pr.b.SetPeers(mk(0, true))
			pr.a.SetPeers(mk(v1PortRelay, false))
			byPolicy := func(k *keepChildren) map[uint64]*ChildSA {
				m := map[uint64]*ChildSA{}
				for _, ch := range k.all() {
					m[ch.Policy.ID] = ch
				}
				return m
			}
			if !iketest.WaitFor(20*time.Second, func() bool { return len(byPolicy(pr.ka)) == 2 && len(byPolicy(pr.kb)) == 2 }) {
				t.Fatalf("want both CHILD SAs on both sides: A %v, B %v", fmt.Sprint(byPolicy(pr.ka)), fmt.Sprint(byPolicy(pr.kb)))
			}
			ma, mb := byPolicy(pr.ka), byPolicy(pr.kb)
			for id, peer := range map[uint64]string{1: "static", 2: "gre"} {
				a, b := ma[id], mb[id]
				if a.Peer != peer || b.Peer != peer {
					t.Errorf("policy %d: CHILD SA of peer %q on A and %q on B, want %q", id, a.Peer, b.Peer, peer)
				}
				if a.OutSPI != b.InSPI || a.InSPI != b.OutSPI {
					t.Errorf("policy %d: SPIs do not pair: A %x/%x B %x/%x", id, a.InSPI, a.OutSPI, b.InSPI, b.OutSPI)
				}
				if a.Tunnel != (id == 1) || b.Tunnel != (id == 1) {
					t.Errorf("policy %d: tunnel mode A %v B %v", id, a.Tunnel, b.Tunnel)
				}
			}
			want := map[string]bool{"static": true, "gre": true}
			for _, s := range pr.b.Snapshot() {
				if s.State == "established" {
					delete(want, s.Peer)
				}
			}
			if len(want) != 0 {
				t.Errorf("B has no established IKE SA for %v: %+v", want, pr.b.Snapshot())
			}
			if pr.b.Stats.AuthFailed.Load() != 0 {
				t.Errorf("B counted %d authentication failures", pr.b.Stats.AuthFailed.Load())
			}
		})
	}
}

// TestResponderPeerNarrowestPolicy: the responder has two peers of one address with the
// same secret, a static one whose policy takes everything (0.0.0.0/0 both ways, tunnel
// mode) and a tunnel's (GRE between the endpoints, transport mode); the initiator brings
// up the GRE CHILD SA. Both peers authenticate it and both policies take its selectors:
// the narrower GRE policy must win whichever peer comes first. Fails without the change
// when the wide peer comes first (it took the first peer whose policy overlapped, and
// the GRE CHILD SA ended on the static peer's 0.0.0.0/0 policy).
func TestResponderPeerNarrowestPolicy(t *testing.T) {
	for _, wideFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("wide-first=%v", wideFirst), func(t *testing.T) {
			pr := newV1Pair(t, nil)
			gre := func(port uint16, passive bool) *PeerConfig {
				p := v1TestPeer(t, "gre", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", port, passive, "127.0.0.1/32", "127.0.0.1/32")
				p.Children[0].ID = 2
				p.Children[0].Local.IPProto, p.Children[0].Remote.IPProto = 47, 47
				p.Children[0].Tunnel = false
				return p
			}
			wide := v1TestPeer(t, "wide", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "0.0.0.0/0", "0.0.0.0/0")
			peersB := []*PeerConfig{gre(0, true), wide}
			if wideFirst {
				peersB = []*PeerConfig{wide, gre(0, true)}
			}
			pr.b.SetPeers(peersB)
			pr.a.SetPeers([]*PeerConfig{gre(v1PortRelay, false)})
			if !iketest.WaitFor(20*time.Second, func() bool { return len(pr.ka.all()) == 1 && len(pr.kb.all()) == 1 }) {
				t.Fatalf("want one CHILD SA on each side: A %d, B %d\nB log:\n%s", len(pr.ka.all()), len(pr.kb.all()), pr.lb.String())
			}
			a, b := pr.ka.all()[0], pr.kb.all()[0]
			if b.Peer != "gre" || b.Policy.ID != 2 || b.Tunnel {
				t.Errorf("B's CHILD SA is on peer %q policy %d tunnel %v, want peer gre policy 2 transport", b.Peer, b.Policy.ID, b.Tunnel)
			}
			if a.OutSPI != b.InSPI || a.InSPI != b.OutSPI {
				t.Errorf("SPIs do not pair: A %x/%x B %x/%x", a.InSPI, a.OutSPI, b.InSPI, b.OutSPI)
			}
			for _, s := range pr.b.Snapshot() {
				if s.State == "established" && s.Peer != "gre" {
					t.Errorf("B's IKE SA is on peer %q, want gre", s.Peer)
				}
			}
		})
	}
}

// TestResponderFallsBackToLessSpecificPeer: the most specific peer of the initiator's
// address (a tunnel's dynamic /32 peer, profile default) cannot accept its IKE offer; a
// catch-all peer (0.0.0.0/0) whose profile can answers instead, and the SAs come up on
// it. Before, the /32 peer refused NO_PROPOSAL_CHOSEN forever and the catch-all was
// never tried (qa12: after a restart, a GRE tunnel's dynamic peer shadowed the peer of
// the reference's GRE-over-IKEv2 client).
func TestResponderFallsBackToLessSpecificPeer(t *testing.T) {
	pr := newV1Pair(t, nil)
	tunnel := v1TestPeer(t, "gre2", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "other", 0, true, "127.0.0.1/32", "127.0.0.1/32")
	tunnel.Children[0].Local.IPProto, tunnel.Children[0].Remote.IPProto = 47, 47
	tunnel.Children[0].Tunnel = false
	any := v1TestPeer(t, "ike2", ExchangeIKEv2, "aes256-sha256-ecp256", "aes256gcm16", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	any.Remote = netip.MustParsePrefix("0.0.0.0/0")
	pr.b.SetPeers([]*PeerConfig{tunnel, any})
	pr.a.SetPeers([]*PeerConfig{v1TestPeer(t, "b", ExchangeIKEv2, "aes256-sha256-ecp256", "aes256gcm16", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")})
	if !iketest.WaitFor(20*time.Second, func() bool { return len(pr.ka.all()) == 1 && len(pr.kb.all()) == 1 }) {
		t.Fatalf("want one CHILD SA on each side: A %d, B %d", len(pr.ka.all()), len(pr.kb.all()))
	}
	if b := pr.kb.all()[0]; b.Peer != "ike2" {
		t.Errorf("B's CHILD SA is on peer %q, want ike2", b.Peer)
	}
	if lb := pr.lb.String(); !strings.Contains(lb, "a less specific one does") || strings.Contains(lb, "no suitable proposal found") {
		t.Errorf("B's log does not show the fallback alone:\n%s", lb)
	}
}
