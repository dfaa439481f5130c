package ike

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
)

// fuzzDaemon is a responder without sockets (its answers fail to send, which handle
// ignores), configured for any IPv4 peer.
func fuzzDaemon() *Daemon {
	d := &Daemon{opts: DefaultOptions(), log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		sas: map[uint64]*IKESA{}, halfOpen: map[halfKey]*IKESA{}, started: map[string]*IKESA{},
		notify: make(chan struct{}, 1)}
	p := DefaultPeer()
	p.Name = "any"
	p.Passive = true
	ip, _ := ParseProposal("aes128-sha256-ecp256", ProtoIKE)
	p.Proposals = []Proposal{ip}
	p.Identities = []*IdentityConfig{{Method: AuthMethodPSK, PSK: []byte("k"), MyID: IDSpec{Auto: true}, RemoteID: IDSpec{Auto: true}}}
	d.peers = []*PeerConfig{p}
	return d
}

// FuzzHandle feeds arbitrary datagrams to the daemon's receive path: IKE_SA_INIT
// requests are answered (half-open SAs made), anything else is dropped and counted,
// and nothing panics.
func FuzzHandle(f *testing.F) {
	ip, _ := ParseProposal("aes128-sha256-ecp256", ProtoIKE)
	dh, _ := NewDH(DHECP256)
	m := &Message{Header: Header{SPIi: 1, Version: Version2, Exchange: IKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{&SA{Proposals: []Proposal{ip}}, &KE{Group: DHECP256, Data: dh.Public()}, &Nonce{Data: make([]byte, 32)}}}
	f.Add(m.Encode())
	f.Add(sampleMessage().Encode())
	from := netip.MustParseAddrPort("198.18.0.2:500")
	local := netip.MustParseAddrPort("198.18.0.1:500")
	f.Fuzz(func(t *testing.T, b []byte) {
		d := fuzzDaemon()
		d.handle(b, from, local)
		// A second message on whatever SA the first made (IKE_AUTH and the rest of the
		// encrypted path): flip the header to the responder's SPI.
		for spi := range d.sas {
			if len(b) >= HeaderLen {
				c := append([]byte(nil), b...)
				c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15] = byte(spi>>56), byte(spi>>48), byte(spi>>40), byte(spi>>32), byte(spi>>24), byte(spi>>16), byte(spi>>8), byte(spi)
				c[18] = byte(IKEAuth)
				c[20], c[21], c[22], c[23] = 0, 0, 0, 1
				d.handle(c, from, local)
			}
		}
	})
}
