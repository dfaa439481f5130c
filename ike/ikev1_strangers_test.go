package ike

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestIKEv1StrangerLogBounded: a thousand Main Mode first messages offering what the
// peer refuses, from one address and then from a thousand spoofed ones, are all counted
// but leave a handful of /log lines instead of RouterOS's six or so each (they used to
// flush /log in a second).
func TestIKEv1StrangerLogBounded(t *testing.T) {
	var buf bytes.Buffer
	d := v1FuzzDaemon(ExchangeMain)
	d.log = slog.New(slog.NewTextHandler(&buf, nil))
	weak, _ := ParseProposal("3des-md5-modp1024", ProtoIKE)
	offers := v1P1Offers([]Proposal{weak}, v1AuthPSK, time.Hour, 0)
	prop := v1Proposal{Num: 1, Proto: v1ProtoISAKMP, Transforms: []v1Transform{offers[0].transform(1)}}
	body, first := appendV1Payloads(nil, []v1Payload{{Type: v1PSA, Body: (&v1SAPayload{Proposals: []v1Proposal{prop}}).encode()}})
	local := netip.MustParseAddrPort("198.18.0.1:500")
	send := func(i int, from netip.AddrPort) {
		d.handle(append(v1Header(uint64(i+1), 0, first, v1ExchMain, 0, 0, HeaderLen+len(body)), body...), from, local)
	}
	for i := 0; i < 1000; i++ {
		send(i, netip.MustParseAddrPort("198.18.0.2:500"))
	}
	out := buf.String()
	if n := strings.Count(out, "no suitable proposal found."); n != 1 {
		t.Errorf("1000 refused proposals from one address: %d 'no suitable proposal' lines, want 1:\n%.3000s", n, out)
	}
	if n := strings.Count(out, "rejected enctype"); n != 1 {
		t.Errorf("1000 refused proposals from one address: %d 'rejected enctype' lines, want 1", n)
	}
	buf.Reset()
	for i := 0; i < 1000; i++ {
		send(i, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(i % 250)}), 500))
	}
	if n := strings.Count(buf.String(), "\n"); n > strangerLines {
		t.Errorf("1000 refused proposals from spoofed addresses: %d log lines", n)
	}
	if got := d.Stats.NoProposal.Load(); got != 2000 {
		t.Errorf("no-proposal count %d, want 2000 (every one counted)", got)
	}
}
