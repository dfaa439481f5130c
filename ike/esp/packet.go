package esp

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

var errInner = errors.New("esp: malformed inner packet")

// selector is what the SPD matches on, parsed from an inner IP packet.
type selector struct {
	src, dst         netip.Addr
	proto            uint8
	srcPort, dstPort uint16
	hdrLen           int // IP header length incl. IPv6 extension headers walked
}

// parseInner parses an IPv4 or IPv6 packet's addresses, upper-layer protocol and ports
// (ports only on the first fragment). It never panics on short or malformed input.
func parseInner(b []byte) (selector, error) {
	var s selector
	if len(b) < 1 {
		return s, errInner
	}
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		if len(b) < 20 {
			return s, errInner
		}
		ihl := int(b[0]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(b[2:]))
		if ihl < 20 || len(b) < ihl || tot < ihl || tot > len(b) {
			return s, errInner
		}
		s.src = netip.AddrFrom4([4]byte(b[12:16]))
		s.dst = netip.AddrFrom4([4]byte(b[16:20]))
		s.proto = b[9]
		s.hdrLen = ihl
		if binary.BigEndian.Uint16(b[6:])&0x1fff == 0 {
			l4 = b[ihl:tot]
		}
	case 6:
		if len(b) < 40 {
			return s, errInner
		}
		s.src = netip.AddrFrom16([16]byte(b[8:24]))
		s.dst = netip.AddrFrom16([16]byte(b[24:40]))
		nh, off := b[6], 40
		first := true
	walk:
		for i := 0; i < 8; i++ {
			switch nh {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(b) < off+8 {
					return s, errInner
				}
				nh, off = b[off], off+8+int(b[off+1])*8
			case 44: // fragment
				if len(b) < off+8 {
					return s, errInner
				}
				first = binary.BigEndian.Uint16(b[off+2:])&0xfff8 == 0
				nh, off = b[off], off+8
			default:
				break walk
			}
		}
		if off > len(b) {
			return s, errInner
		}
		s.proto, s.hdrLen = nh, off
		if first {
			l4 = b[off:]
		}
	default:
		return s, errInner
	}
	switch s.proto {
	case 6, 17, 132, 136: // tcp, udp, sctp, udplite
		if len(l4) >= 4 {
			s.srcPort = binary.BigEndian.Uint16(l4)
			s.dstPort = binary.BigEndian.Uint16(l4[2:])
		}
	}
	return s, nil
}

// matches tells whether a policy selects the packet.
func (p *Policy) matches(s *selector) bool {
	if !p.Src.Contains(s.src) || !p.Dst.Contains(s.dst) {
		return false
	}
	if p.Protocol != 0 && p.Protocol != s.proto {
		return false
	}
	if p.SrcPort != 0 && p.SrcPort != s.srcPort {
		return false
	}
	if p.DstPort != 0 && p.DstPort != s.dstPort {
		return false
	}
	return true
}
