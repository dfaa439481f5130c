package ike

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// ExchangeType is the IKEv2 exchange type of a message (RFC 7296 3.1).
type ExchangeType uint8

// Exchange types.
const (
	IKESAInit     ExchangeType = 34
	IKEAuth       ExchangeType = 35
	CreateChildSA ExchangeType = 36
	Informational ExchangeType = 37
)

func (e ExchangeType) String() string {
	switch e {
	case IKESAInit:
		return "IKE_SA_INIT"
	case IKEAuth:
		return "IKE_AUTH"
	case CreateChildSA:
		return "CREATE_CHILD_SA"
	case Informational:
		return "INFORMATIONAL"
	}
	return fmt.Sprintf("EXCHANGE(%d)", uint8(e))
}

// PayloadType is the type of a payload in the chain (RFC 7296 3.2, RFC 7383 2.5).
type PayloadType uint8

// Payload types.
const (
	PayloadNone    PayloadType = 0
	PayloadSA      PayloadType = 33
	PayloadKE      PayloadType = 34
	PayloadIDi     PayloadType = 35
	PayloadIDr     PayloadType = 36
	PayloadCERT    PayloadType = 37
	PayloadCERTREQ PayloadType = 38
	PayloadAUTH    PayloadType = 39
	PayloadNonce   PayloadType = 40
	PayloadNotify  PayloadType = 41
	PayloadDelete  PayloadType = 42
	PayloadVendor  PayloadType = 43
	PayloadTSi     PayloadType = 44
	PayloadTSr     PayloadType = 45
	PayloadSK      PayloadType = 46
	PayloadCP      PayloadType = 47
	PayloadEAP     PayloadType = 48
	PayloadSKF     PayloadType = 53
)

// Header flags (RFC 7296 3.1).
const (
	FlagInitiator = 0x08
	FlagVersion   = 0x10
	FlagResponse  = 0x20
)

// HeaderLen is the length of the fixed IKE header.
const HeaderLen = 28

// Version2 is the version octet of IKEv2 messages (major 2, minor 0).
const Version2 = 0x20

// Errors of the codec. A parse error wraps ErrMalformed, so callers count it as one.
var (
	ErrMalformed = errors.New("malformed IKE message")
	// ErrUnsupportedCritical reports an unknown payload with the critical bit set; the
	// payload type is in the wrapping CriticalPayloadError, the responder answers
	// UNSUPPORTED_CRITICAL_PAYLOAD.
	ErrUnsupportedCritical = errors.New("unsupported critical payload")
)

// CriticalPayloadError is ErrUnsupportedCritical naming the payload's type, which the
// UNSUPPORTED_CRITICAL_PAYLOAD notify carries (RFC 7296 3.10.1).
type CriticalPayloadError struct{ Type PayloadType }

func (e *CriticalPayloadError) Error() string {
	return fmt.Sprintf("%v: type %d", ErrUnsupportedCritical, e.Type)
}
func (e *CriticalPayloadError) Unwrap() error { return ErrUnsupportedCritical }

// unsupportedCritical is the UNSUPPORTED_CRITICAL_PAYLOAD notify for a parse error,
// nil when err is not ErrUnsupportedCritical.
func unsupportedCritical(err error) *Notify {
	var ce *CriticalPayloadError
	if !errors.As(err, &ce) {
		return nil
	}
	return &Notify{NType: NotifyUnsupportedCritical, Data: []byte{byte(ce.Type)}}
}

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Header is the IKE header.
type Header struct {
	SPIi, SPIr  uint64
	NextPayload PayloadType
	Version     uint8
	Exchange    ExchangeType
	Flags       uint8
	MsgID       uint32
	Length      uint32
}

// IsResponse reports whether the R flag is set.
func (h *Header) IsResponse() bool { return h.Flags&FlagResponse != 0 }

// FromInitiator reports whether the I flag is set (the sender is the original initiator).
func (h *Header) FromInitiator() bool { return h.Flags&FlagInitiator != 0 }

// ParseHeader reads the IKE header of b and checks its length against len(b).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderLen {
		return h, malformed("short header (%d bytes)", len(b))
	}
	h.SPIi = binary.BigEndian.Uint64(b[0:])
	h.SPIr = binary.BigEndian.Uint64(b[8:])
	h.NextPayload = PayloadType(b[16])
	h.Version = b[17]
	h.Exchange = ExchangeType(b[18])
	h.Flags = b[19]
	h.MsgID = binary.BigEndian.Uint32(b[20:])
	h.Length = binary.BigEndian.Uint32(b[24:])
	if h.Length < HeaderLen || int64(h.Length) > int64(len(b)) {
		return h, malformed("header length %d, datagram %d", h.Length, len(b))
	}
	return h, nil
}

func (h *Header) put(b []byte) {
	binary.BigEndian.PutUint64(b[0:], h.SPIi)
	binary.BigEndian.PutUint64(b[8:], h.SPIr)
	b[16] = byte(h.NextPayload)
	b[17] = h.Version
	b[18] = byte(h.Exchange)
	b[19] = h.Flags
	binary.BigEndian.PutUint32(b[20:], h.MsgID)
	binary.BigEndian.PutUint32(b[24:], h.Length)
}

// Payload is one decoded payload.
type Payload interface {
	Type() PayloadType
	// body appends the payload body (after the generic payload header).
	body(b []byte) []byte
}

// Message is a decoded IKE message. Encrypted payloads (SK, SKF) stay opaque until the SA
// decrypts them (see Crypto.Open).
type Message struct {
	Header
	Payloads []Payload
}

// ProtocolID of proposals, notifies and deletes.
type ProtocolID uint8

// Protocol IDs.
const (
	ProtoIKE ProtocolID = 1
	ProtoAH  ProtocolID = 2
	ProtoESP ProtocolID = 3
)

// TransformType (RFC 7296 3.3.2).
type TransformType uint8

// Transform types.
const (
	TransformENCR  TransformType = 1
	TransformPRF   TransformType = 2
	TransformINTEG TransformType = 3
	TransformDH    TransformType = 4
	TransformESN   TransformType = 5
)

// Transform is one algorithm of a proposal; KeyLen is the Key Length attribute in bits
// (0: absent).
type Transform struct {
	Type   TransformType
	ID     uint16
	KeyLen uint16
}

// Proposal is one proposal of an SA payload.
type Proposal struct {
	Num        uint8
	Protocol   ProtocolID
	SPI        []byte
	Transforms []Transform
}

// SA is the Security Association payload.
type SA struct{ Proposals []Proposal }

// KE is the Key Exchange payload.
type KE struct {
	Group uint16
	Data  []byte
}

// IDType is the type of an identification payload (RFC 7296 3.5).
type IDType uint8

// ID types.
const (
	IDIPv4     IDType = 1
	IDFQDN     IDType = 2
	IDRFC822   IDType = 3
	IDIPv6     IDType = 5
	IDDERASNDN IDType = 9
	IDDERASNGN IDType = 10
	IDKeyID    IDType = 11
)

// ID is an IDi or IDr payload.
type ID struct {
	Responder bool // IDr
	IDType    IDType
	// Reserved is the three RESERVED octets as received: ignored on receipt, but part
	// of what the peer's AUTH covers (RestOfIDPayload, RFC 7296 2.15, 3.5). Zero in
	// what we send.
	Reserved [3]byte
	Data     []byte
}

// Cert is a CERT or CERTREQ payload, carried unchanged for the certificate authentication
// that follows in its own issue.
type Cert struct {
	Request  bool // CERTREQ
	Encoding uint8
	Data     []byte
}

// AuthMethod of the AUTH payload.
type AuthMethod uint8

// Authentication methods.
const (
	AuthRSA       AuthMethod = 1
	AuthPSK       AuthMethod = 2
	AuthDSS       AuthMethod = 3
	AuthECDSA256  AuthMethod = 9
	AuthECDSA384  AuthMethod = 10
	AuthECDSA521  AuthMethod = 11
	AuthDigSig    AuthMethod = 14
	AuthNullEmpty AuthMethod = 13
)

// Auth is the Authentication payload.
type Auth struct {
	Method AuthMethod
	Data   []byte
}

// Nonce is the Ni/Nr payload.
type Nonce struct{ Data []byte }

// NotifyType (RFC 7296 3.10.1 and later RFCs).
type NotifyType uint16

// Notify types used here.
const (
	NotifyUnsupportedCritical     NotifyType = 1
	NotifyInvalidIKESPI           NotifyType = 4
	NotifyInvalidMajorVersion     NotifyType = 5
	NotifyInvalidSyntax           NotifyType = 7
	NotifyInvalidMessageID        NotifyType = 9
	NotifyInvalidSPI              NotifyType = 11
	NotifyNoProposalChosen        NotifyType = 14
	NotifyInvalidKEPayload        NotifyType = 17
	NotifyAuthenticationFailed    NotifyType = 24
	NotifySinglePairRequired      NotifyType = 34
	NotifyNoAdditionalSAs         NotifyType = 35
	NotifyInternalAddressFailure  NotifyType = 36
	NotifyFailedCPRequired        NotifyType = 37
	NotifyTSUnacceptable          NotifyType = 38
	NotifyInvalidSelectors        NotifyType = 39
	NotifyTemporaryFailure        NotifyType = 43
	NotifyChildSANotFound         NotifyType = 44
	NotifyInitialContact          NotifyType = 16384
	NotifySetWindowSize           NotifyType = 16385
	NotifyAdditionalTSPossible    NotifyType = 16386
	NotifyIPCompSupported         NotifyType = 16387
	NotifyNATDetectionSourceIP    NotifyType = 16388
	NotifyNATDetectionDestIP      NotifyType = 16389
	NotifyCookie                  NotifyType = 16390
	NotifyUseTransportMode        NotifyType = 16391
	NotifyHTTPCertLookupSupported NotifyType = 16392
	NotifyRekeySA                 NotifyType = 16393
	NotifyESPTFCPaddingNotSupp    NotifyType = 16394
	NotifyNonFirstFragmentsAlso   NotifyType = 16395
	NotifyMobikeSupported         NotifyType = 16396
	NotifyMultipleAuthSupported   NotifyType = 16404
	NotifyRedirectSupported       NotifyType = 16406
	NotifyEAPOnlyAuthentication   NotifyType = 16417
	NotifyIKEv2FragmentationSupp  NotifyType = 16430
	NotifySignatureHashAlgorithms NotifyType = 16431
	notifyErrorMax                NotifyType = 16383
)

// IsError reports whether the notify type is an error type (below 16384).
func (t NotifyType) IsError() bool { return t <= notifyErrorMax }

// Notify is the Notify payload.
type Notify struct {
	Protocol ProtocolID
	SPI      []byte
	NType    NotifyType
	Data     []byte
}

// Delete is the Delete payload; SPIs are empty for the IKE SA.
type Delete struct {
	Protocol ProtocolID
	SPIs     [][]byte
}

// Vendor is the Vendor ID payload.
type Vendor struct{ Data []byte }

// TS types.
const (
	TSIPv4Range = 7
	TSIPv6Range = 8
)

// Selector is one traffic selector.
type Selector struct {
	IPProto    uint8
	StartPort  uint16
	EndPort    uint16
	Start, End netip.Addr
}

// TS is a TSi or TSr payload.
type TS struct {
	Responder bool // TSr
	Selectors []Selector
}

// CPAttr is a configuration attribute.
type CPAttr struct {
	Type  uint16
	Value []byte
}

// CP types and attributes (RFC 7296 3.15).
const (
	CPRequest = 1
	CPReply   = 2
	CPSet     = 3
	CPAck     = 4

	CPInternalIP4Address = 1
	CPInternalIP4Netmask = 2
	CPInternalIP4DNS     = 3
	CPInternalIP4Subnet  = 13
)

// CP is the Configuration payload.
type CP struct {
	CfgType uint8
	Attrs   []CPAttr
}

// EAP is the EAP payload, carried as bytes for the EAP authentication issue.
type EAP struct{ Data []byte }

// Encrypted is an SK payload before decryption: First is the type of the first inner
// payload, Body the IV, ciphertext and ICV.
type Encrypted struct {
	First PayloadType
	Body  []byte
	// Offset is where the SK payload's generic header starts in the message (the AAD
	// of AEAD ciphers runs to Offset+4).
	Offset int
}

// Fragment is an SKF payload (RFC 7383 2.5): fragment Num of Total; First is set on
// fragment 1 only.
type Fragment struct {
	First      PayloadType
	Num, Total uint16
	Body       []byte
	Offset     int
}

// Unknown is a payload of a type this codec does not know, not critical (kept so that
// the chain can be re-encoded and logged).
type Unknown struct {
	PType PayloadType
	Data  []byte
}

func (*SA) Type() PayloadType        { return PayloadSA }
func (*KE) Type() PayloadType        { return PayloadKE }
func (*Nonce) Type() PayloadType     { return PayloadNonce }
func (*Notify) Type() PayloadType    { return PayloadNotify }
func (*Delete) Type() PayloadType    { return PayloadDelete }
func (*Vendor) Type() PayloadType    { return PayloadVendor }
func (*CP) Type() PayloadType        { return PayloadCP }
func (*EAP) Type() PayloadType       { return PayloadEAP }
func (*Auth) Type() PayloadType      { return PayloadAUTH }
func (u *Unknown) Type() PayloadType { return u.PType }
func (*Encrypted) Type() PayloadType { return PayloadSK }
func (*Fragment) Type() PayloadType  { return PayloadSKF }
func (p *ID) Type() PayloadType {
	if p.Responder {
		return PayloadIDr
	}
	return PayloadIDi
}
func (p *TS) Type() PayloadType {
	if p.Responder {
		return PayloadTSr
	}
	return PayloadTSi
}
func (p *Cert) Type() PayloadType {
	if p.Request {
		return PayloadCERTREQ
	}
	return PayloadCERT
}

// Bodies.

func (p *SA) body(b []byte) []byte {
	for i, pr := range p.Proposals {
		start := len(b)
		last := byte(2)
		if i == len(p.Proposals)-1 {
			last = 0
		}
		b = append(b, last, 0, 0, 0, pr.Num, byte(pr.Protocol), byte(len(pr.SPI)), byte(len(pr.Transforms)))
		b = append(b, pr.SPI...)
		for j, t := range pr.Transforms {
			tl := byte(3)
			if j == len(pr.Transforms)-1 {
				tl = 0
			}
			n := 8
			if t.KeyLen != 0 {
				n += 4
			}
			b = append(b, tl, 0, byte(n>>8), byte(n), byte(t.Type), 0, byte(t.ID>>8), byte(t.ID))
			if t.KeyLen != 0 {
				b = append(b, 0x80, 14, byte(t.KeyLen>>8), byte(t.KeyLen))
			}
		}
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b
}

func (p *KE) body(b []byte) []byte {
	b = append(b, byte(p.Group>>8), byte(p.Group), 0, 0)
	return append(b, p.Data...)
}

func (p *ID) body(b []byte) []byte {
	b = append(append(b, byte(p.IDType)), p.Reserved[:]...)
	return append(b, p.Data...)
}

// idBody is the ID payload body (RestOfIDPayload) an identity of ours is sent as.
func idBody(id Identity) []byte { return (&ID{IDType: id.Type, Data: id.Data}).body(nil) }

func (p *Cert) body(b []byte) []byte { return append(append(b, p.Encoding), p.Data...) }

func (p *Auth) body(b []byte) []byte {
	b = append(b, byte(p.Method), 0, 0, 0)
	return append(b, p.Data...)
}

func (p *Nonce) body(b []byte) []byte     { return append(b, p.Data...) }
func (p *Vendor) body(b []byte) []byte    { return append(b, p.Data...) }
func (p *EAP) body(b []byte) []byte       { return append(b, p.Data...) }
func (p *Unknown) body(b []byte) []byte   { return append(b, p.Data...) }
func (p *Encrypted) body(b []byte) []byte { return append(b, p.Body...) }
func (p *Fragment) body(b []byte) []byte {
	b = append(b, byte(p.Num>>8), byte(p.Num), byte(p.Total>>8), byte(p.Total))
	return append(b, p.Body...)
}

func (p *Notify) body(b []byte) []byte {
	b = append(b, byte(p.Protocol), byte(len(p.SPI)), byte(p.NType>>8), byte(p.NType))
	b = append(b, p.SPI...)
	return append(b, p.Data...)
}

func (p *Delete) body(b []byte) []byte {
	size := 0
	if len(p.SPIs) > 0 {
		size = len(p.SPIs[0])
	}
	b = append(b, byte(p.Protocol), byte(size), byte(len(p.SPIs)>>8), byte(len(p.SPIs)))
	for _, s := range p.SPIs {
		b = append(b, s...)
	}
	return b
}

func (p *TS) body(b []byte) []byte {
	b = append(b, byte(len(p.Selectors)), 0, 0, 0)
	for _, s := range p.Selectors {
		typ, alen := byte(TSIPv4Range), 4
		if s.Start.Is6() && !s.Start.Is4In6() {
			typ, alen = TSIPv6Range, 16
		}
		n := 8 + 2*alen
		b = append(b, typ, s.IPProto, byte(n>>8), byte(n),
			byte(s.StartPort>>8), byte(s.StartPort), byte(s.EndPort>>8), byte(s.EndPort))
		if alen == 4 {
			a, e := s.Start.Unmap().As4(), s.End.Unmap().As4()
			b = append(append(b, a[:]...), e[:]...)
		} else {
			a, e := s.Start.As16(), s.End.As16()
			b = append(append(b, a[:]...), e[:]...)
		}
	}
	return b
}

func (p *CP) body(b []byte) []byte {
	b = append(b, p.CfgType, 0, 0, 0)
	for _, a := range p.Attrs {
		b = append(b, byte(a.Type>>8)&0x7f, byte(a.Type), byte(len(a.Value)>>8), byte(len(a.Value)))
		b = append(b, a.Value...)
	}
	return b
}

// AppendPayloads appends the chain of payloads with generic headers; it returns the
// buffer and the type of the first payload. The last payload's Next Payload is next
// (0 unless the chain is followed by more).
func AppendPayloads(b []byte, ps []Payload) ([]byte, PayloadType) {
	first := PayloadNone
	if len(ps) > 0 {
		first = ps[0].Type()
	}
	for i, p := range ps {
		next := PayloadNone
		if i+1 < len(ps) {
			next = ps[i+1].Type()
		}
		if e, ok := p.(*Encrypted); ok {
			next = e.First
		}
		if f, ok := p.(*Fragment); ok {
			next = f.First
		}
		start := len(b)
		b = append(b, byte(next), 0, 0, 0)
		b = p.body(b)
		binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	}
	return b, first
}

// Encode serialises a message with cleartext payloads (SK/SKF payloads already built are
// appended as they are). It sets NextPayload and Length.
func (m *Message) Encode() []byte {
	b := make([]byte, HeaderLen, 512)
	b, m.NextPayload = AppendPayloads(b, m.Payloads)
	m.Length = uint32(len(b))
	m.Header.put(b)
	return b
}

// Parse decodes a whole IKE message (cleartext payloads; SK/SKF are returned opaque).
func Parse(b []byte) (*Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.Version>>4 != 2 {
		return &Message{Header: h}, malformed("version %#x", h.Version)
	}
	b = b[:h.Length]
	ps, err := ParsePayloads(b, HeaderLen, h.NextPayload)
	if err != nil {
		return &Message{Header: h}, err
	}
	return &Message{Header: h, Payloads: ps}, nil
}

// ParsePayloads decodes the payload chain of b starting at off with first payload type
// first. An SK or SKF payload must be the last one.
func ParsePayloads(b []byte, off int, first PayloadType) ([]Payload, error) {
	var ps []Payload
	next := first
	for next != PayloadNone {
		if len(b)-off < 4 {
			return nil, malformed("truncated payload header of type %d", next)
		}
		typ := next
		next = PayloadType(b[off])
		critical := b[off+1]&0x80 != 0
		plen := int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < 4 || plen > len(b)-off {
			return nil, malformed("payload %d length %d, %d left", typ, plen, len(b)-off)
		}
		body := b[off+4 : off+plen]
		var p Payload
		var err error
		switch typ {
		case PayloadSK:
			p = &Encrypted{First: next, Body: body, Offset: off}
			if off+plen != len(b) {
				return nil, malformed("data after the encrypted payload")
			}
			return append(ps, p), nil
		case PayloadSKF:
			if len(body) < 4 {
				return nil, malformed("short fragment payload")
			}
			f := &Fragment{First: next, Num: binary.BigEndian.Uint16(body), Total: binary.BigEndian.Uint16(body[2:]),
				Body: body[4:], Offset: off}
			if f.Num == 0 || f.Total == 0 || f.Num > f.Total {
				return nil, malformed("fragment %d of %d", f.Num, f.Total)
			}
			if off+plen != len(b) {
				return nil, malformed("data after the fragment payload")
			}
			return append(ps, f), nil
		default:
			p, err = parseBody(typ, body)
		}
		if err != nil {
			return nil, err
		}
		if p == nil {
			if critical {
				return nil, &CriticalPayloadError{Type: typ}
			}
			p = &Unknown{PType: typ, Data: body}
		}
		ps = append(ps, p)
		off += plen
	}
	if off != len(b) {
		return nil, malformed("%d bytes after the last payload", len(b)-off)
	}
	return ps, nil
}

func parseBody(typ PayloadType, b []byte) (Payload, error) {
	cp := func(x []byte) []byte { return append([]byte(nil), x...) }
	switch typ {
	case PayloadSA:
		return parseSA(b)
	case PayloadKE:
		if len(b) < 4 {
			return nil, malformed("short KE payload")
		}
		return &KE{Group: binary.BigEndian.Uint16(b), Data: cp(b[4:])}, nil
	case PayloadIDi, PayloadIDr:
		if len(b) < 4 {
			return nil, malformed("short ID payload")
		}
		return &ID{Responder: typ == PayloadIDr, IDType: IDType(b[0]), Reserved: [3]byte(b[1:4]), Data: cp(b[4:])}, nil
	case PayloadCERT, PayloadCERTREQ:
		if len(b) < 1 {
			return nil, malformed("short CERT payload")
		}
		return &Cert{Request: typ == PayloadCERTREQ, Encoding: b[0], Data: cp(b[1:])}, nil
	case PayloadAUTH:
		if len(b) < 4 {
			return nil, malformed("short AUTH payload")
		}
		return &Auth{Method: AuthMethod(b[0]), Data: cp(b[4:])}, nil
	case PayloadNonce:
		if len(b) < 16 || len(b) > 256 {
			return nil, malformed("nonce of %d bytes", len(b))
		}
		return &Nonce{Data: cp(b)}, nil
	case PayloadNotify:
		if len(b) < 4 || len(b) < 4+int(b[1]) {
			return nil, malformed("short notify payload")
		}
		n := &Notify{Protocol: ProtocolID(b[0]), NType: NotifyType(binary.BigEndian.Uint16(b[2:]))}
		n.SPI = cp(b[4 : 4+int(b[1])])
		n.Data = cp(b[4+int(b[1]):])
		return n, nil
	case PayloadDelete:
		if len(b) < 4 {
			return nil, malformed("short delete payload")
		}
		d := &Delete{Protocol: ProtocolID(b[0])}
		size, n := int(b[1]), int(binary.BigEndian.Uint16(b[2:]))
		if size*n != len(b)-4 {
			return nil, malformed("delete payload of %d SPIs of %d bytes in %d", n, size, len(b)-4)
		}
		for i := 0; i < n && size > 0; i++ {
			d.SPIs = append(d.SPIs, cp(b[4+i*size:4+(i+1)*size]))
		}
		return d, nil
	case PayloadVendor:
		return &Vendor{Data: cp(b)}, nil
	case PayloadTSi, PayloadTSr:
		return parseTS(typ == PayloadTSr, b)
	case PayloadCP:
		if len(b) < 4 {
			return nil, malformed("short CP payload")
		}
		c := &CP{CfgType: b[0]}
		for r := b[4:]; len(r) > 0; {
			if len(r) < 4 {
				return nil, malformed("short CP attribute")
			}
			l := int(binary.BigEndian.Uint16(r[2:]))
			if len(r) < 4+l {
				return nil, malformed("CP attribute length %d", l)
			}
			c.Attrs = append(c.Attrs, CPAttr{Type: binary.BigEndian.Uint16(r) & 0x7fff, Value: cp(r[4 : 4+l])})
			r = r[4+l:]
		}
		return c, nil
	case PayloadEAP:
		return &EAP{Data: cp(b)}, nil
	}
	return nil, nil
}

func parseSA(b []byte) (*SA, error) {
	sa := &SA{}
	for len(b) > 0 {
		if len(b) < 8 {
			return nil, malformed("short proposal")
		}
		last, plen := b[0], int(binary.BigEndian.Uint16(b[2:]))
		if plen < 8 || plen > len(b) || (last != 0 && last != 2) {
			return nil, malformed("proposal length %d of %d", plen, len(b))
		}
		p := Proposal{Num: b[4], Protocol: ProtocolID(b[5])}
		spiLen, nt := int(b[6]), int(b[7])
		if 8+spiLen > plen {
			return nil, malformed("proposal SPI size %d", spiLen)
		}
		p.SPI = append([]byte(nil), b[8:8+spiLen]...)
		r := b[8+spiLen : plen]
		for i := 0; i < nt; i++ {
			if len(r) < 8 {
				return nil, malformed("short transform")
			}
			tlast, tlen := r[0], int(binary.BigEndian.Uint16(r[2:]))
			if tlen < 8 || tlen > len(r) || (tlast != 0 && tlast != 3) || (tlast == 0) != (i == nt-1) {
				return nil, malformed("transform length %d of %d", tlen, len(r))
			}
			t := Transform{Type: TransformType(r[4]), ID: binary.BigEndian.Uint16(r[6:])}
			for a := r[8:tlen]; len(a) > 0; {
				if len(a) < 4 {
					return nil, malformed("short transform attribute")
				}
				at := binary.BigEndian.Uint16(a)
				if at&0x8000 != 0 { // TV
					if at&0x7fff == 14 {
						t.KeyLen = binary.BigEndian.Uint16(a[2:])
					}
					a = a[4:]
					continue
				}
				l := int(binary.BigEndian.Uint16(a[2:]))
				if len(a) < 4+l {
					return nil, malformed("transform attribute length %d", l)
				}
				a = a[4+l:]
			}
			p.Transforms = append(p.Transforms, t)
			r = r[tlen:]
		}
		if len(r) != 0 {
			return nil, malformed("%d bytes after the transforms", len(r))
		}
		sa.Proposals = append(sa.Proposals, p)
		b = b[plen:]
		if last == 0 {
			break
		}
	}
	if len(b) != 0 || len(sa.Proposals) == 0 {
		return nil, malformed("SA payload without proposals or with trailing bytes")
	}
	return sa, nil
}

func parseTS(resp bool, b []byte) (*TS, error) {
	if len(b) < 4 {
		return nil, malformed("short TS payload")
	}
	ts := &TS{Responder: resp}
	n := int(b[0])
	r := b[4:]
	for i := 0; i < n; i++ {
		if len(r) < 8 {
			return nil, malformed("short traffic selector")
		}
		typ, l := r[0], int(binary.BigEndian.Uint16(r[2:]))
		if l > len(r) {
			return nil, malformed("traffic selector length %d", l)
		}
		var alen int
		switch typ {
		case TSIPv4Range:
			alen = 4
		case TSIPv6Range:
			alen = 16
		default:
			return nil, malformed("traffic selector type %d", typ)
		}
		if l != 8+2*alen {
			return nil, malformed("traffic selector length %d for type %d", l, typ)
		}
		s := Selector{IPProto: r[1], StartPort: binary.BigEndian.Uint16(r[4:]), EndPort: binary.BigEndian.Uint16(r[6:])}
		s.Start, _ = netip.AddrFromSlice(r[8 : 8+alen])
		s.End, _ = netip.AddrFromSlice(r[8+alen : 8+2*alen])
		ts.Selectors = append(ts.Selectors, s)
		r = r[l:]
	}
	// No selectors at all is well-formed: charon sends it when its own configuration
	// narrows to nothing (a transport child between subnets); the answer to that is
	// TS_UNACCEPTABLE, not INVALID_SYNTAX, which would cost the whole IKE SA.
	if len(r) != 0 {
		return nil, malformed("TS payload with %d selectors and %d trailing bytes", n, len(r))
	}
	return ts, nil
}

// Find returns the first payload of type T, or nil.
func Find[T Payload](ps []Payload) T {
	var zero T
	for _, p := range ps {
		if v, ok := p.(T); ok {
			return v
		}
	}
	return zero
}

// Notifies returns the notify payloads of ps.
func Notifies(ps []Payload) []*Notify {
	var ns []*Notify
	for _, p := range ps {
		if n, ok := p.(*Notify); ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// FindNotify returns the first notify of type t, or nil.
func FindNotify(ps []Payload, t NotifyType) *Notify {
	for _, n := range Notifies(ps) {
		if n.NType == t {
			return n
		}
	}
	return nil
}

// FindType returns the first payload of type t, or nil (IDi and IDr, TSi and TSr share a
// Go type).
func FindType(ps []Payload, t PayloadType) Payload {
	for _, p := range ps {
		if p.Type() == t {
			return p
		}
	}
	return nil
}
