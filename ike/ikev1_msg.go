package ike

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"net/netip"
)

// IKEv1 (RFC 2409) over ISAKMP (RFC 2408): the message codec. The payloads stay raw
// byte spans in the received message, because the hashes of Phase 1 and Quick Mode are
// taken over payload bodies and over "the rest of the message after HASH" exactly as
// they travelled.

// Version1 is the version octet of ISAKMP messages (major 1, minor 0).
const Version1 = 0x10

// ISAKMP exchange types (RFC 2408 3.1, RFC 2409 5.5, draft-dukes-ike-mode-cfg).
const (
	v1ExchBase        ExchangeType = 1
	v1ExchMain        ExchangeType = 2
	v1ExchAggressive  ExchangeType = 4
	v1ExchInfo        ExchangeType = 5
	v1ExchTransaction ExchangeType = 6
	v1ExchQuick       ExchangeType = 32
)

// ISAKMP header flags.
const (
	v1FlagEncrypted = 0x01
	v1FlagCommit    = 0x02
)

// ISAKMP payload types (RFC 2408 3.1, RFC 3947 and the draft numbers, mode config).
const (
	v1PSA          = 1
	v1PProposal    = 2
	v1PTransform   = 3
	v1PKE          = 4
	v1PID          = 5
	v1PCert        = 6
	v1PCertReq     = 7
	v1PHash        = 8
	v1PSig         = 9
	v1PNonce       = 10
	v1PNotify      = 11
	v1PDelete      = 12
	v1PVendor      = 13
	v1PAttr        = 14
	v1PNATD        = 20
	v1PNATOA       = 21
	v1PNATDDraft   = 130
	v1PNATOADraft  = 131
	v1PFragment    = 132
	v1MaxPayloads  = 64
	v1DOIIPsec     = 1
	v1SitIdentOnly = 1
)

// ISAKMP notify message types (RFC 2408 3.14.1, RFC 2407 4.6.3, RFC 3706).
const (
	v1NInvalidPayloadType   = 1
	v1NInvalidCookie        = 4
	v1NInvalidExchangeType  = 7
	v1NInvalidFlags         = 8
	v1NInvalidMessageID     = 9
	v1NInvalidSPI           = 11
	v1NNoProposalChosen     = 14
	v1NPayloadMalformed     = 16
	v1NInvalidKeyInfo       = 17
	v1NInvalidIDInformation = 18
	v1NAuthFailed           = 24
	v1NInvalidHashInfo      = 23
	v1NConnected            = 16384
	v1NResponderLifetime    = 24576
	v1NReplayStatus         = 24577
	v1NInitialContact       = 24578
	v1NRUThere              = 36136
	v1NRUThereAck           = 36137
)

// Phase 1 attribute classes and values (RFC 2409 appendix A).
const (
	v1AEnc       = 1
	v1AHash      = 2
	v1AAuth      = 3
	v1AGroup     = 4
	v1ALifeType  = 11
	v1ALifeDur   = 12
	v1AKeyLength = 14

	v1EncDES3 = 5
	v1EncAES  = 7

	v1HashMD5    = 1
	v1HashSHA1   = 2
	v1HashSHA256 = 4
	v1HashSHA384 = 5
	v1HashSHA512 = 6

	v1AuthPSK              = 1
	v1AuthXAuthInitPSK     = 65001
	v1AuthXAuthRespPSK     = 65002
	v1LifeSeconds          = 1
	v1LifeKilobytes        = 2
	v1TransformKeyIKE      = 1
	v1ProtoISAKMP          = 1
	v1ProtoESP             = 3
	v1EncapTunnel          = 1
	v1EncapTransport       = 2
	v1EncapUDPTunnel       = 3
	v1EncapUDPTransport    = 4
	v1EncapUDPTunnelDraft  = 61443
	v1EncapUDPTranspDraft  = 61444
	v1PAttrLifeType        = 1
	v1PAttrLifeDur         = 2
	v1PAttrGroup           = 3
	v1PAttrEncap           = 4
	v1PAttrAuth            = 5
	v1PAttrKeyLength       = 6
	v1IDIPv4Subnet         = 4
	v1IDIPv6Subnet         = 6
	v1IDIPv4Range          = 7
	v1IDIPv6Range          = 8
	v1AuthAlgHMACMD5       = 1
	v1AuthAlgHMACSHA1      = 2
	v1AuthAlgHMACSHA256    = 5
	v1AuthAlgHMACSHA384    = 6
	v1AuthAlgHMACSHA512    = 7
	v1NATTNone             = 0
	v1NATTDraft            = 1
	v1NATTRFC              = 2
	v1FragmentationVendor  = "FRAGMENTATION"
	v1ModeCfgAttrHeaderLen = 4
)

// Vendor IDs routerd sends and recognises.
var (
	vidRFC3947   = md5sum("RFC 3947")
	vidDraft03   = md5sum("draft-ietf-ipsec-nat-t-ike-03")
	vidDraft02N  = md5sum("draft-ietf-ipsec-nat-t-ike-02\n")
	vidDraft02   = md5sum("draft-ietf-ipsec-nat-t-ike-02")
	vidDPD       = []byte{0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00}
	vidXAuth     = []byte{0x09, 0x00, 0x26, 0x89, 0xdf, 0xd6, 0xb7, 0x12}
	vidUnity     = []byte{0x12, 0xf5, 0xf2, 0x8c, 0x45, 0x71, 0x68, 0xa9, 0x70, 0x2d, 0x9f, 0xe2, 0x74, 0xcc, 0x01, 0x00}
	vidFragment  = []byte{0x40, 0x48, 0xb7, 0xd5, 0x6e, 0xbc, 0xe8, 0x85, 0x25, 0xe7, 0xde, 0x7f, 0x00, 0xd6, 0xc2, 0xd3}
	knownVendors = []struct {
		name   string
		id     []byte
		prefix bool
	}{
		{"RFC 3947", vidRFC3947, false}, {"draft-ietf-ipsec-nat-t-ike-03", vidDraft03, false},
		{"draft-ietf-ipsec-nat-t-ike-02\\n", vidDraft02N, false}, {"draft-ietf-ipsec-nat-t-ike-02", vidDraft02, false},
		{"DPD", vidDPD, false}, {"XAuth", vidXAuth, false}, {"Cisco Unity", vidUnity, false},
		{"FRAGMENTATION", vidFragment, true}, {"strongSwan", md5sum("strongSwan"), false},
	}
)

func md5sum(s string) []byte { h := md5.Sum([]byte(s)); return h[:] }

// v1Payload is one payload of an ISAKMP message: its type and body, and where its
// generic header starts in the message it was read from (for the hashes).
type v1Payload struct {
	Type uint8
	Body []byte
	Off  int
}

// parseV1Payloads reads the payload chain from off; bytes after the last payload are
// the encryption padding and are ignored.
func parseV1Payloads(b []byte, off int, first uint8) ([]v1Payload, error) {
	var out []v1Payload
	next := first
	for next != 0 {
		if len(out) >= v1MaxPayloads {
			return nil, malformed("more than %d payloads", v1MaxPayloads)
		}
		if off+4 > len(b) {
			return nil, malformed("payload %d truncated", next)
		}
		plen := int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < 4 || off+plen > len(b) {
			return nil, malformed("payload %d length %d", next, plen)
		}
		out = append(out, v1Payload{Type: next, Body: b[off+4 : off+plen], Off: off})
		next = b[off]
		off += plen
	}
	return out, nil
}

// appendV1Payloads encodes a payload chain; it returns the first payload's type.
func appendV1Payloads(b []byte, ps []v1Payload) ([]byte, uint8) {
	for i, p := range ps {
		next := uint8(0)
		if i+1 < len(ps) {
			next = ps[i+1].Type
		}
		b = append(b, next, 0, byte((len(p.Body)+4)>>8), byte(len(p.Body)+4))
		b = append(b, p.Body...)
	}
	if len(ps) == 0 {
		return b, 0
	}
	return b, ps[0].Type
}

func findV1(ps []v1Payload, t uint8) *v1Payload {
	for i := range ps {
		if ps[i].Type == t {
			return &ps[i]
		}
	}
	return nil
}

func allV1(ps []v1Payload, t uint8) []*v1Payload {
	var out []*v1Payload
	for i := range ps {
		if ps[i].Type == t {
			out = append(out, &ps[i])
		}
	}
	return out
}

// v1Attr is an SA attribute (RFC 2408 3.3): a basic (TV) one when it fits 16 bits,
// else variable length.
type v1Attr struct {
	Type  uint16
	Value uint64
}

type v1Transform struct {
	Num, ID uint8
	Attrs   []v1Attr
}

type v1Proposal struct {
	Num, Proto uint8
	SPI        []byte
	Transforms []v1Transform
}

// v1SAPayload is the body of an SA payload (DOI IPsec, SIT_IDENTITY_ONLY).
type v1SAPayload struct {
	Proposals []v1Proposal
}

func parseV1SA(b []byte) (*v1SAPayload, error) {
	if len(b) < 8 {
		return nil, malformed("SA payload of %d bytes", len(b))
	}
	if doi := binary.BigEndian.Uint32(b); doi != v1DOIIPsec {
		return nil, malformed("SA DOI %d", doi)
	}
	if sit := binary.BigEndian.Uint32(b[4:]); sit != v1SitIdentOnly {
		return nil, malformed("SA situation %d", sit)
	}
	ps, err := parseV1Payloads(b, 8, v1PProposal)
	if err != nil {
		return nil, err
	}
	sa := &v1SAPayload{}
	for _, p := range ps {
		if p.Type != v1PProposal {
			return nil, malformed("payload %d inside SA", p.Type)
		}
		pb := p.Body
		if len(pb) < 4 || len(pb) < 4+int(pb[2]) {
			return nil, malformed("short proposal")
		}
		prop := v1Proposal{Num: pb[0], Proto: pb[1], SPI: pb[4 : 4+int(pb[2])]}
		n := int(pb[3])
		if n == 0 {
			return nil, malformed("proposal without transforms")
		}
		ts, err := parseV1Payloads(pb, 4+int(pb[2]), v1PTransform)
		if err != nil {
			return nil, err
		}
		if len(ts) != n {
			return nil, malformed("proposal says %d transforms, has %d", n, len(ts))
		}
		for _, t := range ts {
			if t.Type != v1PTransform || len(t.Body) < 4 {
				return nil, malformed("bad transform")
			}
			tr := v1Transform{Num: t.Body[0], ID: t.Body[1]}
			ab := t.Body[4:]
			for len(ab) > 0 {
				if len(ab) < 4 || len(tr.Attrs) > 32 {
					return nil, malformed("bad attribute")
				}
				typ := binary.BigEndian.Uint16(ab)
				if typ&0x8000 != 0 {
					tr.Attrs = append(tr.Attrs, v1Attr{Type: typ &^ 0x8000, Value: uint64(binary.BigEndian.Uint16(ab[2:]))})
					ab = ab[4:]
					continue
				}
				l := int(binary.BigEndian.Uint16(ab[2:]))
				if l > 8 || len(ab) < 4+l {
					return nil, malformed("attribute %d of %d bytes", typ, l)
				}
				var v uint64
				for _, c := range ab[4 : 4+l] {
					v = v<<8 | uint64(c)
				}
				tr.Attrs = append(tr.Attrs, v1Attr{Type: typ, Value: v})
				ab = ab[4+l:]
			}
			prop.Transforms = append(prop.Transforms, tr)
		}
		sa.Proposals = append(sa.Proposals, prop)
	}
	if len(sa.Proposals) == 0 {
		return nil, malformed("SA without proposals")
	}
	return sa, nil
}

func (sa *v1SAPayload) encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, v1DOIIPsec)
	b = binary.BigEndian.AppendUint32(b, v1SitIdentOnly)
	var props []v1Payload
	for _, p := range sa.Proposals {
		pb := []byte{p.Num, p.Proto, byte(len(p.SPI)), byte(len(p.Transforms))}
		pb = append(pb, p.SPI...)
		var ts []v1Payload
		for _, t := range p.Transforms {
			tb := []byte{t.Num, t.ID, 0, 0}
			for _, a := range t.Attrs {
				if a.Value <= 0xffff {
					tb = binary.BigEndian.AppendUint16(tb, a.Type|0x8000)
					tb = binary.BigEndian.AppendUint16(tb, uint16(a.Value))
					continue
				}
				tb = binary.BigEndian.AppendUint16(tb, a.Type)
				tb = binary.BigEndian.AppendUint16(tb, 4)
				tb = binary.BigEndian.AppendUint32(tb, uint32(a.Value))
			}
			ts = append(ts, v1Payload{Type: v1PTransform, Body: tb})
		}
		pb, _ = appendV1Payloads(pb, ts)
		props = append(props, v1Payload{Type: v1PProposal, Body: pb})
	}
	b, _ = appendV1Payloads(b, props)
	return b
}

// v1Notify is a decoded Notification payload.
type v1Notify struct {
	Proto uint8
	Type  uint16
	SPI   []byte
	Data  []byte
}

func parseV1Notify(b []byte) (*v1Notify, error) {
	if len(b) < 8 || len(b) < 8+int(b[5]) {
		return nil, malformed("short notify")
	}
	n := &v1Notify{Proto: b[4], Type: binary.BigEndian.Uint16(b[6:])}
	n.SPI = b[8 : 8+int(b[5])]
	n.Data = b[8+int(b[5]):]
	return n, nil
}

func (n *v1Notify) encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, v1DOIIPsec)
	b = append(b, n.Proto, byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, n.Type)
	b = append(b, n.SPI...)
	return append(b, n.Data...)
}

// v1Delete is a decoded Delete payload.
type v1Delete struct {
	Proto uint8
	SPIs  [][]byte
}

func parseV1Delete(b []byte) (*v1Delete, error) {
	if len(b) < 8 {
		return nil, malformed("short delete")
	}
	d := &v1Delete{Proto: b[4]}
	size, n := int(b[5]), int(binary.BigEndian.Uint16(b[6:]))
	if size == 0 || size > 16 || len(b) != 8+size*n {
		return nil, malformed("delete with %d SPIs of %d bytes in %d", n, size, len(b))
	}
	for i := 0; i < n; i++ {
		d.SPIs = append(d.SPIs, b[8+i*size:8+(i+1)*size])
	}
	return d, nil
}

func (d *v1Delete) encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, v1DOIIPsec)
	size := 0
	if len(d.SPIs) > 0 {
		size = len(d.SPIs[0])
	}
	b = append(b, d.Proto, byte(size))
	b = binary.BigEndian.AppendUint16(b, uint16(len(d.SPIs)))
	for _, s := range d.SPIs {
		b = append(b, s...)
	}
	return b
}

// v1ID is an identification payload body: type, protocol, port, data (RFC 2407 4.6.2).
type v1ID struct {
	Type  uint8
	Proto uint8
	Port  uint16
	Data  []byte
}

func parseV1ID(b []byte) (*v1ID, error) {
	if len(b) < 5 {
		return nil, malformed("short ID")
	}
	return &v1ID{Type: b[0], Proto: b[1], Port: binary.BigEndian.Uint16(b[2:]), Data: b[4:]}, nil
}

func (id *v1ID) encode() []byte {
	b := []byte{id.Type, id.Proto, byte(id.Port >> 8), byte(id.Port)}
	return append(b, id.Data...)
}

// selectorID writes a Quick Mode ID for a selector: an address when it is one host,
// a subnet when it is a prefix, a range otherwise.
func selectorID(s Selector) *v1ID {
	id := &v1ID{Proto: s.IPProto}
	if s.StartPort == s.EndPort {
		id.Port = s.StartPort
	}
	v6 := s.Start.Is6()
	switch p, ok := rangePrefix(s.Start, s.End); {
	case s.Start == s.End:
		id.Type = uint8(IDIPv4)
		if v6 {
			id.Type = uint8(IDIPv6)
		}
		id.Data = s.Start.AsSlice()
	case ok:
		id.Type = v1IDIPv4Subnet
		if v6 {
			id.Type = v1IDIPv6Subnet
		}
		mask := make([]byte, len(s.Start.AsSlice()))
		for i := 0; i < p.Bits(); i++ {
			mask[i/8] |= 0x80 >> (i % 8)
		}
		id.Data = append(p.Addr().AsSlice(), mask...)
	default:
		id.Type = v1IDIPv4Range
		if v6 {
			id.Type = v1IDIPv6Range
		}
		id.Data = append(s.Start.AsSlice(), s.End.AsSlice()...)
	}
	return id
}

// selector reads a Quick Mode ID back into a selector.
func (id *v1ID) selector() (Selector, error) {
	s := Selector{IPProto: id.Proto, StartPort: 0, EndPort: 65535}
	if id.Port != 0 {
		s.StartPort, s.EndPort = id.Port, id.Port
	}
	alen := 4
	switch id.Type {
	case uint8(IDIPv6), v1IDIPv6Subnet, v1IDIPv6Range:
		alen = 16
	}
	switch id.Type {
	case uint8(IDIPv4), uint8(IDIPv6):
		if len(id.Data) != alen {
			return s, malformed("ID address of %d bytes", len(id.Data))
		}
		a, _ := netip.AddrFromSlice(id.Data)
		s.Start, s.End = a, a
	case v1IDIPv4Subnet, v1IDIPv6Subnet:
		if len(id.Data) != 2*alen {
			return s, malformed("ID subnet of %d bytes", len(id.Data))
		}
		a, _ := netip.AddrFromSlice(id.Data[:alen])
		ones := 0
		for _, c := range id.Data[alen:] {
			for i := 7; i >= 0 && c&(1<<i) != 0; i-- {
				ones++
			}
		}
		p := netip.PrefixFrom(a, ones).Masked()
		s.Start, s.End = p.Addr(), lastAddr(p)
	case v1IDIPv4Range, v1IDIPv6Range:
		if len(id.Data) != 2*alen {
			return s, malformed("ID range of %d bytes", len(id.Data))
		}
		a, _ := netip.AddrFromSlice(id.Data[:alen])
		b, _ := netip.AddrFromSlice(id.Data[alen:])
		if b.Less(a) {
			return s, malformed("ID range ends before it starts")
		}
		s.Start, s.End = a, b
	default:
		return s, fmt.Errorf("%w: Quick Mode ID type %d", ErrNotSupported, id.Type)
	}
	return s, nil
}

// v1Header encodes an ISAKMP header.
func v1Header(ci, cr uint64, next uint8, exch ExchangeType, flags uint8, msgID uint32, length int) []byte {
	h := Header{SPIi: ci, SPIr: cr, NextPayload: PayloadType(next), Version: Version1, Exchange: exch, Flags: flags,
		MsgID: msgID, Length: uint32(length)}
	b := make([]byte, HeaderLen)
	h.put(b)
	return b
}

func vendorName(id []byte) string {
	for _, v := range knownVendors {
		if len(id) >= len(v.id) && string(id[:len(v.id)]) == string(v.id) && (v.prefix || len(id) == len(v.id)) {
			return v.name
		}
	}
	if len(id) >= 8 && string(id[:8]) == string(vidXAuth) {
		return "XAuth"
	}
	return fmt.Sprintf("%x", id)
}
