package nd

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"
)

// ICMPv6 types.
const (
	typeRS = 133
	typeRA = 134
)

// Option types.
const (
	optSLLA   = 1
	optPrefix = 3
	optMTU    = 5
	optRDNSS  = 25
)

// Errors of ParseRS.
var (
	ErrShort    = errors.New("nd: message too short")
	ErrNotRS    = errors.New("nd: not a router solicitation")
	ErrBadOpt   = errors.New("nd: malformed option")
	ErrSLLAFrom = errors.New("nd: source link-layer address from the unspecified address")
)

// RS is a parsed router solicitation.
type RS struct {
	SLLA net.HardwareAddr // nil when absent
}

// ParseRS validates a router solicitation as RFC 4861 §6.1.1 says (the hop limit of 255
// is checked by the caller, which sees the IPv6 header): ICMP code 0, at least 8 bytes,
// every option with a non-zero length inside the message, and no source link-layer
// address option when the source is the unspecified address.
func ParseRS(b []byte, src netip.Addr) (RS, error) {
	var rs RS
	if len(b) < 8 {
		return rs, ErrShort
	}
	if b[0] != typeRS || b[1] != 0 {
		return rs, ErrNotRS
	}
	opts := b[8:]
	for len(opts) > 0 {
		if len(opts) < 2 {
			return rs, ErrBadOpt
		}
		n := int(opts[1]) * 8
		if n == 0 || n > len(opts) {
			return rs, ErrBadOpt
		}
		if opts[0] == optSLLA {
			if src.IsUnspecified() {
				return rs, ErrSLLAFrom
			}
			rs.SLLA = net.HardwareAddr(append([]byte(nil), opts[2:n]...))
		}
		opts = opts[n:]
	}
	return rs, nil
}

// Prefix is one prefix information option.
type Prefix struct {
	Prefix             netip.Prefix
	OnLink, Autonomous bool
	// PDPreferred is RFC 9762's P flag: hosts should take a prefix of their own by
	// DHCPv6 prefix delegation rather than form addresses in this one.
	PDPreferred      bool
	Valid, Preferred time.Duration // < 0: infinity
}

// RA is what one advertisement says.
type RA struct {
	HopLimit           uint8
	Managed, Other     bool
	Preference         string // low, medium, high
	Lifetime           time.Duration
	Reachable, Retrans time.Duration
	SLLA               net.HardwareAddr
	MTU                uint32
	Prefixes           []Prefix
	DNS                []netip.Addr
	DNSLifetime        time.Duration
}

func secs(d time.Duration) uint32 {
	if d < 0 {
		return 0xffffffff
	}
	s := d / time.Second
	if s > 0xfffffffe {
		return 0xfffffffe
	}
	return uint32(s)
}

// Marshal writes the ICMPv6 message; the kernel fills in the checksum.
func (ra *RA) Marshal() []byte {
	b := make([]byte, 16, 128)
	b[0] = typeRA
	b[4] = ra.HopLimit
	if ra.Managed {
		b[5] |= 0x80
	}
	if ra.Other {
		b[5] |= 0x40
	}
	switch ra.Preference {
	case "high":
		b[5] |= 0x01 << 3
	case "low":
		b[5] |= 0x03 << 3
	}
	lt := ra.Lifetime / time.Second
	if lt > 9000 {
		lt = 9000
	}
	binary.BigEndian.PutUint16(b[6:], uint16(lt))
	binary.BigEndian.PutUint32(b[8:], uint32(ra.Reachable/time.Millisecond))
	binary.BigEndian.PutUint32(b[12:], uint32(ra.Retrans/time.Millisecond))
	if len(ra.SLLA) == 6 {
		b = append(b, optSLLA, 1)
		b = append(b, ra.SLLA...)
	}
	if ra.MTU != 0 {
		o := make([]byte, 8)
		o[0], o[1] = optMTU, 1
		binary.BigEndian.PutUint32(o[4:], ra.MTU)
		b = append(b, o...)
	}
	for _, p := range ra.Prefixes {
		o := make([]byte, 32)
		o[0], o[1] = optPrefix, 4
		o[2] = byte(p.Prefix.Bits())
		if p.OnLink {
			o[3] |= 0x80
		}
		if p.Autonomous {
			o[3] |= 0x40
		}
		if p.PDPreferred {
			o[3] |= 0x10
		}
		binary.BigEndian.PutUint32(o[4:], secs(p.Valid))
		binary.BigEndian.PutUint32(o[8:], secs(p.Preferred))
		a := p.Prefix.Masked().Addr().As16()
		copy(o[16:], a[:])
		b = append(b, o...)
	}
	if len(ra.DNS) > 0 {
		o := make([]byte, 8, 8+16*len(ra.DNS))
		o[0], o[1] = optRDNSS, byte(1+2*len(ra.DNS))
		binary.BigEndian.PutUint32(o[4:], secs(ra.DNSLifetime))
		for _, a := range ra.DNS {
			x := a.As16()
			o = append(o, x[:]...)
		}
		b = append(b, o...)
	}
	return b
}
