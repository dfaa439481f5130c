package ike

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// v1FuzzDaemon is fuzzDaemon with an IKEv1 main mode peer beside the IKEv2 one.
func v1FuzzDaemon(mode ExchangeMode) *Daemon {
	d := fuzzDaemon()
	p := DefaultPeer()
	p.Name = "v1"
	p.Passive = true
	p.Exchange = mode
	ip, _ := ParseProposal("aes128-sha1-modp1024", ProtoIKE)
	p.Proposals = []Proposal{ip}
	p.Identities = []*IdentityConfig{{Method: AuthMethodPSK, PSK: []byte("k"), MyID: IDSpec{Auto: true}, RemoteID: IDSpec{Auto: true}}}
	ep, _ := ParseProposal("aes128-sha1", ProtoESP)
	p.Children = []*ChildConfig{{ID: 1, Local: SelectorFromPrefix(netip.MustParsePrefix("198.19.1.0/24"), 0, 0),
		Remote: SelectorFromPrefix(netip.MustParsePrefix("198.19.2.0/24"), 0, 0), Tunnel: true, Proposals: []Proposal{ep}, Lifetime: time.Hour}}
	d.peers = append(d.peers, p)
	return d
}

// v1FirstMessage is an initiator's first Phase 1 message for the fuzz corpus.
func v1FirstMessage(exch ExchangeType) []byte {
	ip, _ := ParseProposal("aes128-sha1-modp1024", ProtoIKE)
	offers := v1P1Offers([]Proposal{ip}, v1AuthPSK, time.Hour, 0)
	prop := v1Proposal{Num: 1, Proto: v1ProtoISAKMP}
	for i, o := range offers {
		prop.Transforms = append(prop.Transforms, o.transform(uint8(i+1)))
	}
	ps := []v1Payload{{Type: v1PSA, Body: (&v1SAPayload{Proposals: []v1Proposal{prop}}).encode()}}
	if exch == v1ExchAggressive {
		dh, _ := NewDH(DHModp1024)
		ps = append(ps, v1Payload{Type: v1PKE, Body: dh.Public()}, v1Payload{Type: v1PNonce, Body: make([]byte, 20)},
			v1Payload{Type: v1PID, Body: (&v1ID{Type: uint8(IDIPv4), Data: []byte{198, 18, 0, 2}}).encode()})
	}
	ps = append(ps, v1Payload{Type: v1PVendor, Body: vidRFC3947}, v1Payload{Type: v1PVendor, Body: vidDPD})
	body, first := appendV1Payloads(nil, ps)
	return append(v1Header(7, 0, first, exch, 0, 0, HeaderLen+len(body)), body...)
}

// FuzzHandleV1 feeds arbitrary ISAKMP datagrams to the receive path: first messages
// of main and aggressive mode are answered, then the same bytes go to the SA they made
// as later Phase 1, Quick Mode and informational messages. Nothing panics.
func FuzzHandleV1(f *testing.F) {
	f.Add(v1FirstMessage(v1ExchMain))
	f.Add(v1FirstMessage(v1ExchAggressive))
	from := netip.MustParseAddrPort("198.18.0.2:500")
	local := netip.MustParseAddrPort("198.18.0.1:500")
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, mode := range []ExchangeMode{ExchangeMain, ExchangeAggressive} {
			d := v1FuzzDaemon(mode)
			d.handle(b, from, local)
			for spi, sa := range d.sas {
				if len(b) < HeaderLen || sa.v1 == nil {
					continue
				}
				for _, exch := range []ExchangeType{sa.v1.mode, v1ExchQuick, v1ExchInfo} {
					c := append([]byte(nil), b...)
					binary.BigEndian.PutUint64(c[0:], sa.spiI)
					binary.BigEndian.PutUint64(c[8:], spi)
					c[18] = byte(exch)
					d.handle(c, from, local)
				}
				sa.timers(time.Now().Add(time.Hour))
			}
		}
	})
}

// FuzzParseV1 runs the payload decoders on arbitrary bytes.
func FuzzParseV1(f *testing.F) {
	m := v1FirstMessage(v1ExchAggressive)
	f.Add(m[HeaderLen:])
	f.Add((&v1Delete{Proto: 3, SPIs: [][]byte{{1, 2, 3, 4}}}).encode())
	f.Add((&v1Notify{Proto: 1, Type: v1NRUThere, SPI: make([]byte, 16), Data: []byte{0, 0, 0, 1}}).encode())
	f.Add(selectorID(SelectorFromPrefix(netip.MustParsePrefix("198.19.0.0/16"), 6, 80)).encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if ps, err := parseV1Payloads(b, 0, v1PSA); err == nil {
			for _, p := range ps {
				if sa, err := parseV1SA(p.Body); err == nil {
					for _, pr := range sa.Proposals {
						for i := range pr.Transforms {
							v1P1Of(&pr.Transforms[i])
							v1ESPOf(&pr.Transforms[i])
						}
					}
					if _, err := parseV1SA(sa.encode()); err != nil {
						t.Fatalf("re-encoded SA does not parse: %v", err)
					}
				}
			}
		}
		parseV1Notify(b)
		parseV1Delete(b)
		if id, err := parseV1ID(b); err == nil {
			id.selector()
		}
		v1NotifyLifetime(b)
	})
}
