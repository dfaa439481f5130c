package msg

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors of Parse.
var (
	ErrShort   = errors.New("ptp: message too short")
	ErrVersion = errors.New("ptp: not a PTPv2 message")
	ErrType    = errors.New("ptp: unknown message type")
	ErrTLV     = errors.New("ptp: malformed TLV")
)

// Type is the messageType of the header (Table 19).
type Type uint8

// Message types.
const (
	TypeSync               Type = 0x0
	TypeDelayReq           Type = 0x1
	TypePdelayReq          Type = 0x2
	TypePdelayResp         Type = 0x3
	TypeFollowUp           Type = 0x8
	TypeDelayResp          Type = 0x9
	TypePdelayRespFollowUp Type = 0xA
	TypeAnnounce           Type = 0xB
	TypeSignaling          Type = 0xC
	TypeManagement         Type = 0xD
)

// Event reports whether messages of the type are event messages (timestamped, port 319).
func (t Type) Event() bool { return t <= TypePdelayResp }

func (t Type) String() string {
	switch t {
	case TypeSync:
		return "Sync"
	case TypeDelayReq:
		return "Delay_Req"
	case TypePdelayReq:
		return "Pdelay_Req"
	case TypePdelayResp:
		return "Pdelay_Resp"
	case TypeFollowUp:
		return "Follow_Up"
	case TypeDelayResp:
		return "Delay_Resp"
	case TypePdelayRespFollowUp:
		return "Pdelay_Resp_Follow_Up"
	case TypeAnnounce:
		return "Announce"
	case TypeSignaling:
		return "Signaling"
	case TypeManagement:
		return "Management"
	}
	return fmt.Sprintf("type-%d", uint8(t))
}

// control returns the controlField of Table 23 (kept for PTPv1 hardware).
func (t Type) control() uint8 {
	switch t {
	case TypeSync:
		return 0
	case TypeDelayReq:
		return 1
	case TypeFollowUp:
		return 2
	case TypeDelayResp:
		return 3
	case TypeManagement:
		return 4
	}
	return 5
}

// Flag bits of flagField (Table 20), octet 0 in the high byte.
const (
	FlagAlternateMaster uint16 = 0x0100
	FlagTwoStep         uint16 = 0x0200
	FlagUnicast         uint16 = 0x0400
	FlagProfile1        uint16 = 0x2000
	FlagProfile2        uint16 = 0x4000
	FlagLeap61          uint16 = 0x0001
	FlagLeap59          uint16 = 0x0002
	FlagUTCOffsetValid  uint16 = 0x0004
	FlagPTPTimescale    uint16 = 0x0008
	FlagTimeTraceable   uint16 = 0x0010
	FlagFreqTraceable   uint16 = 0x0020
	FlagSecurity        uint16 = 0x8000
)

// ClockIdentity is an EUI-64 (clause 7.5.2.2).
type ClockIdentity [8]byte

// String renders the identity as RouterOS does: 64:D1:54:FF:FE:EB:AD:C7.
func (c ClockIdentity) String() string {
	var b strings.Builder
	for i, x := range c {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", x)
	}
	return b.String()
}

// IdentityFromMAC makes the EUI-64 of clause 7.5.2.2.2 from an EUI-48: FF-FE in the middle.
func IdentityFromMAC(mac []byte) ClockIdentity {
	var c ClockIdentity
	if len(mac) < 6 {
		return c
	}
	copy(c[:3], mac[:3])
	c[3], c[4] = 0xFF, 0xFE
	copy(c[5:], mac[3:6])
	return c
}

// Compare orders identities as unsigned integers (clause 7.5.2.4).
func (c ClockIdentity) Compare(o ClockIdentity) int {
	for i := range c {
		if c[i] != o[i] {
			if c[i] < o[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// PortIdentity names a port (clause 5.3.5).
type PortIdentity struct {
	Clock ClockIdentity
	Port  uint16
}

func (p PortIdentity) String() string { return p.Clock.String() + "-" + strconv.Itoa(int(p.Port)) }

// Compare orders port identities: clock identity, then port number.
func (p PortIdentity) Compare(o PortIdentity) int {
	if c := p.Clock.Compare(o.Clock); c != 0 {
		return c
	}
	switch {
	case p.Port < o.Port:
		return -1
	case p.Port > o.Port:
		return 1
	}
	return 0
}

// ClockQuality is clause 5.3.7.
type ClockQuality struct {
	Class    uint8
	Accuracy uint8
	Variance uint16 // offsetScaledLogVariance
}

// Timestamp is clause 5.3.3: 48-bit seconds and nanoseconds.
type Timestamp struct {
	Seconds     uint64
	Nanoseconds uint32
}

// NewTimestamp converts nanoseconds since the epoch (negative is clamped to 0).
func NewTimestamp(ns int64) Timestamp {
	if ns < 0 {
		return Timestamp{}
	}
	return Timestamp{Seconds: uint64(ns / 1e9), Nanoseconds: uint32(ns % 1e9)}
}

// Nanos is the timestamp in nanoseconds since the epoch.
func (t Timestamp) Nanos() int64 { return int64(t.Seconds)*1e9 + int64(t.Nanoseconds) }

// Correction is the correctionField: nanoseconds multiplied by 2^16 (clause 13.3.2.7).
type Correction int64

// CorrectionFromNanos converts nanoseconds.
func CorrectionFromNanos(ns int64) Correction { return Correction(ns << 16) }

// Nanos is the correction in whole nanoseconds.
func (c Correction) Nanos() int64 { return int64(c) >> 16 }

func putTimestamp(b []byte, t Timestamp) {
	binary.BigEndian.PutUint16(b, uint16(t.Seconds>>32))
	binary.BigEndian.PutUint32(b[2:], uint32(t.Seconds))
	binary.BigEndian.PutUint32(b[6:], t.Nanoseconds)
}

func getTimestamp(b []byte) Timestamp {
	return Timestamp{
		Seconds:     uint64(binary.BigEndian.Uint16(b))<<32 | uint64(binary.BigEndian.Uint32(b[2:])),
		Nanoseconds: binary.BigEndian.Uint32(b[6:]),
	}
}

func putPortIdentity(b []byte, p PortIdentity) {
	copy(b, p.Clock[:])
	binary.BigEndian.PutUint16(b[8:], p.Port)
}

func getPortIdentity(b []byte) PortIdentity {
	var p PortIdentity
	copy(p.Clock[:], b)
	p.Port = binary.BigEndian.Uint16(b[8:])
	return p
}
