package msg

import (
	"encoding/binary"
	"fmt"
)

// HeaderLen is the length of the common header (clause 13.3).
const HeaderLen = 34

// Header is the common message header (Table 18). Type, Length and the control field
// are derived when marshalling.
type Header struct {
	TransportSpecific uint8 // majorSdoId: 1 for 802.1AS
	Type              Type
	MinorVersion      uint8 // versionPTP's minor nibble (IEEE 1588-2019); 0 here
	Length            uint16
	Domain            uint8
	Flags             uint16
	Correction        Correction
	SourcePort        PortIdentity
	Sequence          uint16
	LogInterval       int8
}

// Message is one decoded PTP message: *Sync, *DelayReq, *FollowUp, *DelayResp,
// *PdelayReq, *PdelayResp, *PdelayRespFollowUp, *Announce, *Signaling, *Management.
type Message interface {
	Head() *Header
	// Extensions are the TLVs after the body (clause 14).
	Extensions() []TLV
}

// Sync is clause 13.6.
type Sync struct {
	Header
	OriginTimestamp Timestamp
	TLVs            []TLV
}

// DelayReq is clause 13.6 (same body as Sync).
type DelayReq struct {
	Header
	OriginTimestamp Timestamp
	TLVs            []TLV
}

// FollowUp is clause 13.7.
type FollowUp struct {
	Header
	PreciseOriginTimestamp Timestamp
	TLVs                   []TLV
}

// DelayResp is clause 13.8.
type DelayResp struct {
	Header
	ReceiveTimestamp Timestamp
	RequestingPort   PortIdentity
	TLVs             []TLV
}

// PdelayReq is clause 13.9.
type PdelayReq struct {
	Header
	OriginTimestamp Timestamp
	TLVs            []TLV
}

// PdelayResp is clause 13.10.
type PdelayResp struct {
	Header
	RequestReceiptTimestamp Timestamp
	RequestingPort          PortIdentity
	TLVs                    []TLV
}

// PdelayRespFollowUp is clause 13.11.
type PdelayRespFollowUp struct {
	Header
	ResponseOriginTimestamp Timestamp
	RequestingPort          PortIdentity
	TLVs                    []TLV
}

// Announce is clause 13.5.
type Announce struct {
	Header
	OriginTimestamp  Timestamp
	CurrentUTCOffset int16
	GMPriority1      uint8
	GMQuality        ClockQuality
	GMPriority2      uint8
	GMIdentity       ClockIdentity
	StepsRemoved     uint16
	TimeSource       uint8
	TLVs             []TLV
}

// Signaling is clause 13.12.
type Signaling struct {
	Header
	TargetPort PortIdentity
	TLVs       []TLV
}

// Management is clause 15.4; its management TLV stays in TLVs.
type Management struct {
	Header
	TargetPort           PortIdentity
	StartingBoundaryHops uint8
	BoundaryHops         uint8
	Action               uint8
	TLVs                 []TLV
}

func (m *Header) Head() *Header { return m }

func (m *Sync) Extensions() []TLV               { return m.TLVs }
func (m *DelayReq) Extensions() []TLV           { return m.TLVs }
func (m *FollowUp) Extensions() []TLV           { return m.TLVs }
func (m *DelayResp) Extensions() []TLV          { return m.TLVs }
func (m *PdelayReq) Extensions() []TLV          { return m.TLVs }
func (m *PdelayResp) Extensions() []TLV         { return m.TLVs }
func (m *PdelayRespFollowUp) Extensions() []TLV { return m.TLVs }
func (m *Announce) Extensions() []TLV           { return m.TLVs }
func (m *Signaling) Extensions() []TLV          { return m.TLVs }
func (m *Management) Extensions() []TLV         { return m.TLVs }

// bodyLen is the length of the fixed body after the header, per type.
func bodyLen(t Type) (int, bool) {
	switch t {
	case TypeSync, TypeDelayReq, TypeFollowUp:
		return 10, true
	case TypeDelayResp, TypePdelayReq, TypePdelayResp, TypePdelayRespFollowUp:
		return 20, true
	case TypeAnnounce:
		return 30, true
	case TypeSignaling:
		return 10, true
	case TypeManagement:
		return 14, true
	}
	return 0, false
}

// PeekType reads the message type without parsing (receive paths dispatch on it).
func PeekType(b []byte) (Type, error) {
	if len(b) < HeaderLen {
		return 0, ErrShort
	}
	return Type(b[0] & 0x0f), nil
}

// Parse decodes one message. Bytes beyond messageLength (Ethernet padding) are ignored.
func Parse(b []byte) (Message, error) {
	if len(b) < HeaderLen {
		return nil, ErrShort
	}
	if b[1]&0x0f != 2 {
		return nil, ErrVersion
	}
	h := Header{
		TransportSpecific: b[0] >> 4,
		Type:              Type(b[0] & 0x0f),
		MinorVersion:      b[1] >> 4,
		Length:            binary.BigEndian.Uint16(b[2:]),
		Domain:            b[4],
		Flags:             binary.BigEndian.Uint16(b[6:]),
		Correction:        Correction(binary.BigEndian.Uint64(b[8:])),
		SourcePort:        getPortIdentity(b[20:]),
		Sequence:          binary.BigEndian.Uint16(b[30:]),
		LogInterval:       int8(b[33]),
	}
	n, ok := bodyLen(h.Type)
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrType, uint8(h.Type))
	}
	if int(h.Length) > len(b) || int(h.Length) < HeaderLen+n {
		return nil, fmt.Errorf("%w: length %d, have %d, %s needs %d", ErrShort, h.Length, len(b), h.Type, HeaderLen+n)
	}
	body := b[HeaderLen : HeaderLen+n]
	tlvs, err := parseTLVs(b[HeaderLen+n : h.Length])
	if err != nil {
		return nil, err
	}
	switch h.Type {
	case TypeSync:
		return &Sync{h, getTimestamp(body), tlvs}, nil
	case TypeDelayReq:
		return &DelayReq{h, getTimestamp(body), tlvs}, nil
	case TypeFollowUp:
		return &FollowUp{h, getTimestamp(body), tlvs}, nil
	case TypeDelayResp:
		return &DelayResp{h, getTimestamp(body), getPortIdentity(body[10:]), tlvs}, nil
	case TypePdelayReq:
		return &PdelayReq{h, getTimestamp(body), tlvs}, nil
	case TypePdelayResp:
		return &PdelayResp{h, getTimestamp(body), getPortIdentity(body[10:]), tlvs}, nil
	case TypePdelayRespFollowUp:
		return &PdelayRespFollowUp{h, getTimestamp(body), getPortIdentity(body[10:]), tlvs}, nil
	case TypeAnnounce:
		a := &Announce{Header: h, OriginTimestamp: getTimestamp(body), TLVs: tlvs}
		a.CurrentUTCOffset = int16(binary.BigEndian.Uint16(body[10:]))
		a.GMPriority1 = body[13]
		a.GMQuality = ClockQuality{Class: body[14], Accuracy: body[15], Variance: binary.BigEndian.Uint16(body[16:])}
		a.GMPriority2 = body[18]
		copy(a.GMIdentity[:], body[19:27])
		a.StepsRemoved = binary.BigEndian.Uint16(body[27:])
		a.TimeSource = body[29]
		return a, nil
	case TypeSignaling:
		return &Signaling{h, getPortIdentity(body), tlvs}, nil
	default: // TypeManagement
		return &Management{Header: h, TargetPort: getPortIdentity(body), StartingBoundaryHops: body[10],
			BoundaryHops: body[11], Action: body[12] & 0x0f, TLVs: tlvs}, nil
	}
}

// Marshal encodes a message; the header's Type and Length are set from the message.
func Marshal(m Message) []byte {
	h := m.Head()
	switch m.(type) {
	case *Sync:
		h.Type = TypeSync
	case *DelayReq:
		h.Type = TypeDelayReq
	case *FollowUp:
		h.Type = TypeFollowUp
	case *DelayResp:
		h.Type = TypeDelayResp
	case *PdelayReq:
		h.Type = TypePdelayReq
	case *PdelayResp:
		h.Type = TypePdelayResp
	case *PdelayRespFollowUp:
		h.Type = TypePdelayRespFollowUp
	case *Announce:
		h.Type = TypeAnnounce
	case *Signaling:
		h.Type = TypeSignaling
	case *Management:
		h.Type = TypeManagement
	}
	n, _ := bodyLen(h.Type)
	tlvs := m.Extensions()
	size := HeaderLen + n
	for _, t := range tlvs {
		size += 4 + len(t.Value)
	}
	b := make([]byte, size)
	h.Length = uint16(size)
	b[0] = h.TransportSpecific<<4 | uint8(h.Type)&0x0f
	b[1] = h.MinorVersion<<4 | 2
	binary.BigEndian.PutUint16(b[2:], h.Length)
	b[4] = h.Domain
	binary.BigEndian.PutUint16(b[6:], h.Flags)
	binary.BigEndian.PutUint64(b[8:], uint64(h.Correction))
	putPortIdentity(b[20:], h.SourcePort)
	binary.BigEndian.PutUint16(b[30:], h.Sequence)
	b[32] = h.Type.control()
	b[33] = byte(h.LogInterval)
	body := b[HeaderLen:]
	switch m := m.(type) {
	case *Sync:
		putTimestamp(body, m.OriginTimestamp)
	case *DelayReq:
		putTimestamp(body, m.OriginTimestamp)
	case *FollowUp:
		putTimestamp(body, m.PreciseOriginTimestamp)
	case *DelayResp:
		putTimestamp(body, m.ReceiveTimestamp)
		putPortIdentity(body[10:], m.RequestingPort)
	case *PdelayReq:
		putTimestamp(body, m.OriginTimestamp)
	case *PdelayResp:
		putTimestamp(body, m.RequestReceiptTimestamp)
		putPortIdentity(body[10:], m.RequestingPort)
	case *PdelayRespFollowUp:
		putTimestamp(body, m.ResponseOriginTimestamp)
		putPortIdentity(body[10:], m.RequestingPort)
	case *Announce:
		putTimestamp(body, m.OriginTimestamp)
		binary.BigEndian.PutUint16(body[10:], uint16(m.CurrentUTCOffset))
		body[13] = m.GMPriority1
		body[14] = m.GMQuality.Class
		body[15] = m.GMQuality.Accuracy
		binary.BigEndian.PutUint16(body[16:], m.GMQuality.Variance)
		body[18] = m.GMPriority2
		copy(body[19:27], m.GMIdentity[:])
		binary.BigEndian.PutUint16(body[27:], m.StepsRemoved)
		body[29] = m.TimeSource
	case *Signaling:
		putPortIdentity(body, m.TargetPort)
	case *Management:
		putPortIdentity(body, m.TargetPort)
		body[10] = m.StartingBoundaryHops
		body[11] = m.BoundaryHops
		body[12] = m.Action & 0x0f
	}
	off := HeaderLen + n
	for _, t := range tlvs {
		binary.BigEndian.PutUint16(b[off:], uint16(t.Type))
		binary.BigEndian.PutUint16(b[off+2:], uint16(len(t.Value)))
		copy(b[off+4:], t.Value)
		off += 4 + len(t.Value)
	}
	return b
}
