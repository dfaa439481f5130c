package ike

import (
	"encoding/binary"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestResponseOfOtherExchangeDropped: an authenticated INFORMATIONAL response with the
// message ID of the initiator's outstanding IKE_AUTH request is not the IKE_AUTH answer
// (RFC 7296 2.1, 3.1: a response carries its request's exchange type and message ID).
// It is dropped and counted (in-header-errors), IKE_AUTH stays pending and is
// retransmitted, and the same IKE SA comes up once the real answer gets through.
// Before, the initiator took it as the IKE_AUTH answer and failed the IKE SA
// ("IKE_AUTH response without IDr or AUTH").
func TestResponseOfOtherExchangeDropped(t *testing.T) {
	pr := newV1Pair(t, nil)
	var hold atomic.Bool
	hold.Store(true)
	drop := func(pkt []byte, toA bool) [][]byte {
		if !toA && hold.Load() && len(pkt) >= HeaderLen && ExchangeType(pkt[18]) == IKEAuth {
			return nil // B never sees IKE_AUTH while held
		}
		return [][]byte{pkt}
	}
	pr.r.filter.Store(&drop)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha256-ecp256", "aes128-sha256", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha256-ecp256", "aes128-sha256", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	pr.start(a, b)
	if !iketest.WaitFor(10*time.Second, func() bool { return len(pr.r.sentByA(IKEAuth)) > 0 }) {
		t.Fatal("A sent no IKE_AUTH")
	}
	spiI := binary.BigEndian.Uint64(pr.r.sentByA(IKESAInit)[0])

	// B's half-open SA has the keys: its INFORMATIONAL response with message ID 1 is a
	// message A can verify.
	var pkts [][]byte
	pr.b.mu.Lock()
	for _, sa := range pr.b.sas {
		if sa.spiI == spiI && sa.state == stateHalfOpen {
			pkts = sa.encrypt(Informational, true, 1, nil)
		}
	}
	pr.b.mu.Unlock()
	if pkts == nil {
		t.Fatal("B has no half-open SA for A's IKE_SA_INIT")
	}
	malformed0 := pr.a.Stats.Malformed.Load()
	for _, p := range pkts {
		pr.r.c.WriteToUDP(p, pr.r.a)
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return pr.a.Stats.Malformed.Load() > malformed0 }) {
		t.Fatal("A did not count the INFORMATIONAL response")
	}
	if s := pr.a.Snapshot(); len(s) != 1 || s[0].SPIi != spiI || s[0].State == "established" {
		t.Fatalf("after the INFORMATIONAL response A has %+v, want its IKE SA 0x%016x still waiting for IKE_AUTH", s, spiI)
	}
	hold.Store(false)
	pr.established(t)
	if s := pr.a.Snapshot(); len(s) != 1 || s[0].SPIi != spiI {
		t.Fatalf("A's IKE SA %+v, want the first one (0x%016x)", s, spiI)
	}
	if strings.Contains(pr.la.String(), "IKE SA failed") {
		t.Fatalf("A failed an IKE SA:\n%s", pr.la)
	}
}

// TestDuplicatedInvalidKE: the responder's INVALID_KE_PAYLOAD arrives twice (a
// duplicating network). The initiator restarts IKE_SA_INIT with the group asked for
// once; the second copy, for the same SPI and message ID, is ignored, and the new
// attempt comes up. Before, the copy asked for the group now in use and the initiator
// failed the attempt ("peer wants DH group modp2048, which is not proposed"), every
// attempt.
func TestDuplicatedInvalidKE(t *testing.T) {
	pr := newV1Pair(t, nil)
	dup := func(pkt []byte, toA bool) [][]byte {
		if toA && len(pkt) >= HeaderLen && ExchangeType(pkt[18]) == IKESAInit {
			return [][]byte{pkt, pkt}
		}
		return [][]byte{pkt}
	}
	pr.r.filter.Store(&dup)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha256-ecp256", "aes128-sha256", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	second, err := ParseProposal("aes128-sha256-modp2048", ProtoIKE)
	if err != nil {
		t.Fatal(err)
	}
	second.Num = 2
	a.Proposals = append(a.Proposals, second)
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha256-modp2048", "aes128-sha256", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	pr.start(a, b)
	pr.established(t)
	if inits := pr.r.sentByA(IKESAInit); len(inits) < 2 {
		t.Fatalf("A sent %d IKE_SA_INIT requests, want the ecp256 one and the modp2048 one", len(inits))
	}
	if strings.Contains(pr.la.String(), "IKE SA failed") {
		t.Fatalf("A failed an IKE SA:\n%s", pr.la)
	}
	if s := pr.a.Snapshot(); len(s) != 1 || !strings.Contains(s[0].Suite, "modp2048") {
		t.Fatalf("A's IKE SAs %+v, want one with modp2048", s)
	}
}
