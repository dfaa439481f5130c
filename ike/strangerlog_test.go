package ike

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestStrangerLogBounded: a thousand IKE_SA_INIT requests with proposals no peer
// accepts, from one address and then from a thousand spoofed ones, are all counted but
// leave a handful of /log lines (they used to leave one each, flushing /log).
func TestStrangerLogBounded(t *testing.T) {
	var buf bytes.Buffer
	d := fuzzDaemon()
	d.log = slog.New(slog.NewTextHandler(&buf, nil))
	dh, _ := NewDH(DHModp2048)
	weak, _ := ParseProposal("3des-sha1-modp2048", ProtoIKE)
	local := netip.MustParseAddrPort("198.18.0.1:500")
	send := func(i int, from netip.AddrPort) {
		m := &Message{Header: Header{SPIi: uint64(i + 1), Version: Version2, Exchange: IKESAInit, Flags: FlagInitiator},
			Payloads: []Payload{&SA{Proposals: []Proposal{weak}}, &KE{Group: DHModp2048, Data: dh.Public()}, &Nonce{Data: make([]byte, 32)}}}
		d.handle(m.Encode(), from, local)
	}
	for i := 0; i < 1000; i++ {
		send(i, netip.MustParseAddrPort("198.18.0.2:500"))
	}
	if n := strings.Count(buf.String(), "no suitable proposal found"); n != 1 {
		t.Errorf("1000 refused proposals from one address: %d log lines, want 1", n)
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
	// A minute later the source's next line says how many were not logged.
	d.strangers.Now = func() time.Time { return time.Now().Add(StrangerLogInterval + time.Second) }
	buf.Reset()
	send(0, netip.MustParseAddrPort("198.18.0.2:500"))
	if out := buf.String(); !strings.Contains(out, "not logged (rate limit)") || !strings.Contains(out, "no suitable proposal found") {
		t.Errorf("after the interval:\n%s", out)
	}
}

// TestStrangerLogKinds: one source's failures of different kinds (two refused client
// certificates) are each logged once; repeats of one kind are not.
func TestStrangerLogKinds(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	var s strangerLog
	from := netip.MustParseAddr("198.18.0.2")
	for i := 0; i < 3; i++ {
		s.log(l, slog.LevelWarn, from, "ipsec: authentication failed", "reason", "certificate is not for this use")
		s.log(l, slog.LevelWarn, from, "ipsec: authentication failed", "reason", "certificate signed by unknown authority")
	}
	out := buf.String()
	if strings.Count(out, "not for this use") != 1 || strings.Count(out, "unknown authority") != 1 {
		t.Errorf("two kinds from one source, three times each:\n%s", out)
	}
}
