package dhcpinform

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// Message types (option 53) this package reads and writes.
const (
	TypeAck    = 5
	TypeInform = 8
)

const (
	opRequest = 1
	opReply   = 2

	optPad              = 0
	optSubnetMask       = 1
	optMessageType      = 53
	optServerID         = 54
	optParamRequest     = 55
	optClasslessRoutes  = 121
	optMSClasslessRoute = 249
	optEnd              = 255

	fixedLen = 236 // BOOTP header up to the options
	maxLen   = 576 // what every DHCP client accepts (RFC 2131 2)
	cookie   = 0x63825363
)

// Errors of Parse; every one wraps ErrMalformed.
var (
	ErrMalformed = errors.New("malformed DHCP message")
	errShort     = fmt.Errorf("%w: shorter than a BOOTP header", ErrMalformed)
	errCookie    = fmt.Errorf("%w: no magic cookie", ErrMalformed)
	errOption    = fmt.Errorf("%w: option runs past the end", ErrMalformed)
)

// Message is the part of a client's BOOTREQUEST an answer needs.
type Message struct {
	XID    uint32
	Flags  uint16
	CIAddr netip.Addr
	HType  byte
	HLen   byte
	CHAddr [16]byte
	// Type is option 53, 0 when absent.
	Type byte
	// Params is option 55, the options the client asks for.
	Params []byte
}

// Parse reads a BOOTREQUEST. A BOOTREPLY or a message without the DHCP magic cookie is
// refused; unknown options are skipped.
func Parse(b []byte) (Message, error) {
	var m Message
	if len(b) < fixedLen+4 {
		return m, errShort
	}
	if b[0] != opRequest {
		return m, fmt.Errorf("%w: op %d is not BOOTREQUEST", ErrMalformed, b[0])
	}
	m.HType, m.HLen = b[1], b[2]
	m.XID = binary.BigEndian.Uint32(b[4:8])
	m.Flags = binary.BigEndian.Uint16(b[10:12])
	m.CIAddr = netip.AddrFrom4([4]byte(b[12:16]))
	copy(m.CHAddr[:], b[28:44])
	if binary.BigEndian.Uint32(b[fixedLen:]) != cookie {
		return m, errCookie
	}
	opts := b[fixedLen+4:]
	for len(opts) > 0 {
		code := opts[0]
		if code == optEnd {
			break
		}
		if code == optPad {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return m, errOption
		}
		val := opts[2 : 2+int(opts[1])]
		switch code {
		case optMessageType:
			if len(val) != 1 {
				return m, fmt.Errorf("%w: option 53 of length %d", ErrMalformed, len(val))
			}
			m.Type = val[0]
		case optParamRequest:
			m.Params = append(m.Params, val...)
		}
		opts = opts[2+len(val):]
	}
	return m, nil
}

// Ack is the DHCPACK to an inform: the client's own fields back, server as the server
// identifier, and routes as options 249 and 121. The message stays within 576 bytes, the
// size every client must accept: routes beyond that are left out and reported by n.
func (m Message) Ack(server netip.Addr, routes []netip.Prefix) (b []byte, n int) {
	b = make([]byte, fixedLen+4, maxLen)
	b[0], b[1], b[2] = opReply, m.HType, m.HLen
	binary.BigEndian.PutUint32(b[4:], m.XID)
	binary.BigEndian.PutUint16(b[10:], m.Flags)
	if m.CIAddr.Is4() {
		a := m.CIAddr.As4()
		copy(b[12:16], a[:])
	}
	copy(b[28:44], m.CHAddr[:])
	binary.BigEndian.PutUint32(b[fixedLen:], cookie)
	b = append(b, optMessageType, 1, TypeAck)
	if server.Is4() {
		a := server.As4()
		b = append(b, optServerID, 4, a[0], a[1], a[2], a[3])
	}
	// Each route goes into both options; an option holds at most 255 bytes.
	var enc []byte
	for _, p := range routes {
		r := classless(p)
		if r == nil || len(enc)+len(r) > 255 || len(b)+2*(len(enc)+len(r)+2)+1 > maxLen {
			continue
		}
		enc = append(enc, r...)
		n++
	}
	if len(enc) > 0 {
		b = append(b, optMSClasslessRoute, byte(len(enc)))
		b = append(b, enc...)
		b = append(b, optClasslessRoutes, byte(len(enc)))
		b = append(b, enc...)
	}
	return append(b, optEnd), n
}

// classless encodes one route as RFC 3442 does (prefix length, the significant octets of
// the destination, router 0.0.0.0); nil for what is no IPv4 prefix.
func classless(p netip.Prefix) []byte {
	if !p.Addr().Is4() || !p.IsValid() {
		return nil
	}
	p = p.Masked()
	a := p.Addr().As4()
	sig := (p.Bits() + 7) / 8
	r := append([]byte{byte(p.Bits())}, a[:sig]...)
	return append(r, 0, 0, 0, 0)
}

// Routes reads options 121 or 249 back (the first found) from a DHCPACK; tests and
// tools use it.
func Routes(b []byte) ([]netip.Prefix, error) {
	if len(b) < fixedLen+4 || binary.BigEndian.Uint32(b[fixedLen:]) != cookie {
		return nil, errShort
	}
	opts := b[fixedLen+4:]
	for len(opts) > 0 && opts[0] != optEnd {
		if opts[0] == optPad {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || len(opts) < 2+int(opts[1]) {
			return nil, errOption
		}
		code, val := opts[0], opts[2:2+int(opts[1])]
		opts = opts[2+len(val):]
		if code != optMSClasslessRoute && code != optClasslessRoutes {
			continue
		}
		var out []netip.Prefix
		for len(val) > 0 {
			bits := int(val[0])
			sig := (bits + 7) / 8
			if bits > 32 || len(val) < 1+sig+4 {
				return nil, fmt.Errorf("%w: bad classless route", ErrMalformed)
			}
			var a [4]byte
			copy(a[:], val[1:1+sig])
			out = append(out, netip.PrefixFrom(netip.AddrFrom4(a), bits))
			val = val[1+sig+4:]
		}
		return out, nil
	}
	return nil, nil
}
