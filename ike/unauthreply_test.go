package ike

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestUnauthenticatedInitErrors: an IKE_SA_INIT request with an unknown critical
// payload is answered N(UNSUPPORTED_CRITICAL_PAYLOAD) naming the type, and one with
// IKE major version 3 N(INVALID_MAJOR_VERSION) in a version 2.0 header (RFC 7296 2.5),
// as libreswan's unknown-v2-payload-critical and major-version-bump impairments send
// them; neither leaves an SA, each is logged at info, a response is never answered,
// and the answers are paced. Before, both were dropped without a word and the
// initiator retransmitted until it gave up.
func TestUnauthenticatedInitErrors(t *testing.T) {
	var buf bytes.Buffer
	d, peer, from, local := loopDaemon(t)
	d.log = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))

	dh, _ := NewDH(DHECP256)
	ip, _ := ParseProposal("aes128-sha256-ecp256", ProtoIKE)
	initReq := func(spi uint64, extra ...Payload) []byte {
		m := &Message{Header: Header{SPIi: spi, Version: Version2, Exchange: IKESAInit, Flags: FlagInitiator},
			Payloads: append([]Payload{&SA{Proposals: []Proposal{ip}}, &KE{Group: DHECP256, Data: dh.Public()}, &Nonce{Data: make([]byte, 32)}}, extra...)}
		return m.Encode()
	}
	recv := func() *Message {
		t.Helper()
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		b := make([]byte, 2048)
		n, err := peer.Read(b)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		m, err := Parse(b[:n])
		if err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		return m
	}
	silent := func(what string) {
		t.Helper()
		peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if n, err := peer.Read(make([]byte, 2048)); err == nil {
			t.Errorf("%s answered (%d bytes)", what, n)
		}
	}

	// Unknown payload type 255 with the critical bit, last in the message.
	crit := initReq(7, &Unknown{PType: 255, Data: []byte{1, 2, 3, 4}})
	crit[len(crit)-8+1] |= 0x80
	d.handle(crit, from, local)
	m := recv()
	n := FindNotify(m.Payloads, NotifyUnsupportedCritical)
	if m.Header.SPIi != 7 || m.Header.Exchange != IKESAInit || !m.Header.IsResponse() || n == nil || !bytes.Equal(n.Data, []byte{255}) {
		t.Errorf("critical payload: answer %+v %+v, want an IKE_SA_INIT response with UNSUPPORTED_CRITICAL_PAYLOAD (255)", m.Header, m.Payloads)
	}
	if len(d.sas) != 0 || len(d.halfOpen) != 0 {
		t.Errorf("refused request left state: %d SAs, %d half-open", len(d.sas), len(d.halfOpen))
	}
	// The same payload without the critical bit is skipped: the SA is set up.
	d.handle(initReq(8, &Unknown{PType: 255, Data: []byte{1, 2, 3, 4}}), from, local)
	if m := recv(); FindNotify(m.Payloads, NotifyUnsupportedCritical) != nil || Find[*KE](m.Payloads) == nil {
		t.Errorf("non-critical unknown payload: answer %+v, want the IKE_SA_INIT response", m.Payloads)
	}

	bump := initReq(9)
	bump[17] = 0x30
	d.handle(bump, from, local)
	m = recv()
	if m.Header.SPIi != 9 || m.Header.Version != Version2 || !m.Header.IsResponse() || FindNotify(m.Payloads, NotifyInvalidMajorVersion) == nil {
		t.Errorf("major version 3: answer %+v %+v, want a 2.0 response with INVALID_MAJOR_VERSION", m.Header, m.Payloads)
	}
	resp := append([]byte(nil), bump...)
	resp[19] = FlagResponse
	d.handle(resp, from, local)
	silent("a version 3 response")

	if len(d.sas) != 1 || len(d.halfOpen) != 1 {
		t.Errorf("refused version 3 requests left state: %d SAs, %d half-open (1 of the accepted request)", len(d.sas), len(d.halfOpen))
	}
	out := buf.String()
	for _, want := range []string{"level=INFO msg=\"ipsec: IKE_SA_INIT refused: unsupported critical payload\"", "payload-type=255",
		"level=INFO msg=\"ipsec: IKE_SA_INIT refused: unsupported IKE major version\"", "version=3.0"} {
		if !strings.Contains(out, want) {
			t.Errorf("log has no %q:\n%s", want, out)
		}
	}

	// Paced: a flood gets at most unauthReplyBurst answers a second.
	d.replies = replyBudget{}
	for i := 0; i < 4*unauthReplyBurst; i++ {
		d.handle(bump, from, local)
	}
	got := 0
	for {
		peer.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		if _, err := peer.Read(make([]byte, 2048)); err != nil {
			break
		}
		got++
	}
	if got == 0 || got > unauthReplyBurst {
		t.Errorf("%d requests in a burst: %d answers, want 1..%d", 4*unauthReplyBurst, got, unauthReplyBurst)
	}
}

// loopDaemon is fuzzDaemon with a socket on loopback (no root needed) and the socket of
// a peer that d's messages go to (as from), for tests of what d sends.
func loopDaemon(t *testing.T) (d *Daemon, peer *net.UDPConn, from, local netip.AddrPort) {
	d = fuzzDaemon()
	srv, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	peer, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	local = srv.LocalAddr().(*net.UDPAddr).AddrPort()
	from = peer.LocalAddr().(*net.UDPAddr).AddrPort()
	d.socks = []*sock{{c: srv, port: local.Port()}}
	return d, peer, from, local
}

// TestRxCountsInitRequest: the responder's active-peers rx-bytes and rx-packets count
// the IKE_SA_INIT request that made the SA (and its retransmission), as tx counts the
// response.
// Before, rx started at the IKE_AUTH request (QA: rx-packets=1, tx-packets=2).
func TestRxCountsInitRequest(t *testing.T) {
	d, peer, from, local := loopDaemon(t)
	dh, _ := NewDH(DHECP256)
	ip, _ := ParseProposal("aes128-sha256-ecp256", ProtoIKE)
	req := (&Message{Header: Header{SPIi: 5, Version: Version2, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{&SA{Proposals: []Proposal{ip}}, &KE{Group: DHECP256, Data: dh.Public()}, &Nonce{Data: make([]byte, 32)}}}).Encode()
	sent := 0
	for i := 1; i <= 2; i++ { // the request, then its retransmission
		d.handle(req, from, local)
		peer.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := peer.Read(make([]byte, 2048))
		if err != nil {
			t.Fatalf("no IKE_SA_INIT response: %v", err)
		}
		sent += n
		snap := d.Snapshot()
		if len(snap) != 1 {
			t.Fatalf("%d SAs, want 1", len(snap))
		}
		for _, st := range snap {
			if st.RxPackets != uint64(i) || st.RxBytes != uint64(i*len(req)) || st.TxPackets != uint64(i) || st.TxBytes != uint64(sent) {
				t.Errorf("after %d requests of %d bytes and %d bytes of responses: rx %d/%d tx %d/%d (bytes/packets)",
					i, len(req), sent, st.RxBytes, st.RxPackets, st.TxBytes, st.TxPackets)
			}
		}
	}
}

// TestInitErrorRepliesPaced: a flood of IKE_SA_INIT requests that are refused with an
// error notify (INVALID_SYNTAX, NO_PROPOSAL_CHOSEN, INVALID_KE_PAYLOAD), as spoofed
// requests make them, gets at most unauthReplyBurst answers a second, while an
// acceptable request in the middle of it is still answered in full. Before, only
// COOKIE logic limited them: every refused request was answered.
func TestInitErrorRepliesPaced(t *testing.T) {
	d, peer, from, local := loopDaemon(t)
	d.replies = replyBudget{}
	ecp, _ := NewDH(DHECP256)
	modp, _ := NewDH(DHModp2048)
	ok, _ := ParseProposal("aes128-sha256-ecp256", ProtoIKE)
	other, _ := ParseProposal("3des-sha1-modp1024", ProtoIKE)
	req := func(spi uint64, ps ...Payload) []byte {
		return (&Message{Header: Header{SPIi: spi, Version: Version2, Exchange: IKESAInit, Flags: FlagInitiator}, Payloads: ps}).Encode()
	}
	nonce := &Nonce{Data: make([]byte, 32)}
	const each = 2 * unauthReplyBurst
	for i := uint64(0); i < each; i++ {
		d.handle(req(1000+i, &SA{Proposals: []Proposal{ok}}, &KE{Group: DHECP256, Data: ecp.Public()}), from, local)             // no nonce: INVALID_SYNTAX
		d.handle(req(2000+i, &SA{Proposals: []Proposal{other}}, &KE{Group: DHModp1024, Data: ecp.Public()}, nonce), from, local) // NO_PROPOSAL_CHOSEN
		d.handle(req(3000+i, &SA{Proposals: []Proposal{ok}}, &KE{Group: DHModp2048, Data: modp.Public()}, nonce), from, local)   // INVALID_KE_PAYLOAD
		if i == each/2 {
			d.handle(req(1, &SA{Proposals: []Proposal{ok}}, &KE{Group: DHECP256, Data: ecp.Public()}, nonce), from, local)
		}
	}
	errs, full := map[NotifyType]int{}, 0
	for {
		peer.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		b := make([]byte, 2048)
		n, err := peer.Read(b)
		if err != nil {
			break
		}
		m, err := Parse(b[:n])
		if err != nil {
			t.Fatalf("answer does not parse: %v", err)
		}
		if m.Header.SPIi == 1 && Find[*KE](m.Payloads) != nil {
			full++
			continue
		}
		for _, nt := range Notifies(m.Payloads) {
			errs[nt.NType]++
		}
	}
	total := errs[NotifyInvalidSyntax] + errs[NotifyNoProposalChosen] + errs[NotifyInvalidKEPayload]
	// The budget is per second: the flood may straddle two.
	if total == 0 || total > 2*unauthReplyBurst {
		t.Errorf("%d refused requests: %d error answers (%v), want 1..%d", 3*each, total, errs, 2*unauthReplyBurst)
	}
	if full != 1 {
		t.Errorf("the acceptable request got %d full answers, want 1", full)
	}
	if paced := d.Stats.RepliesPaced.Load(); paced != uint64(3*each-total) {
		t.Errorf("RepliesPaced %d, want %d (refused %d, answered %d)", paced, 3*each-total, 3*each, total)
	}
}
