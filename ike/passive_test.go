package ike

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestPassiveAcquireWaits: traffic for a passive peer's policy with no SA (the data
// path's ACQUIRE) starts no IKE SA, even though the peer has a single address and an
// identity to initiate with; the peer still answers when the remote initiates. Before,
// a passive peer whose remote reauthenticated break-before-make started its own IKE SA
// on the next packet, colliding with the remote's (qa12, issue 12).
func TestPassiveAcquireWaits(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha256-ecp256", "aes128gcm16", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha256-ecp256", "aes128gcm16", "k1", v1PortRelay, true, "198.19.2.0/24", "198.19.1.0/24")
	pr.b.SetPeers([]*PeerConfig{b})
	// Acquire runs under the daemon's lock and initiates, if it does, before it returns.
	pr.b.Acquire("a", b.Children[0].ID)
	if s := pr.b.Snapshot(); len(s) != 0 {
		t.Fatalf("the passive peer started an SA on traffic: %+v", s)
	}
	if strings.Contains(pr.lb.String(), "initiating") {
		t.Fatalf("the passive peer logged an initiation:\n%s", pr.lb)
	}
	pr.a.SetPeers([]*PeerConfig{a})
	pr.established(t)
	if !iketest.WaitFor(10*time.Second, func() bool { s := pr.b.Snapshot(); return len(s) == 1 && !s[0].Initiator }) {
		t.Fatalf("B's SAs: %+v", pr.b.Snapshot())
	}
}
