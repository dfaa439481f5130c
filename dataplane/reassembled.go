package dataplane

import (
	"encoding/binary"
	"errors"
)

// Errors of Decap.
var (
	// ErrNotTunnel: the packet is no tunnel packet of this host's (another protocol's
	// GRE, a key, an unknown endpoint or tunnel-id).
	ErrNotTunnel = errors.New("not a packet of a tunnel here")
	// ErrMalformed: headers inconsistent with the packet (an EoIP length beyond it).
	ErrMalformed = errors.New("malformed tunnel packet")
	// ErrCleartext: a packet of an IPsec-protected tunnel that did not come out of ESP.
	ErrCleartext = errors.New("cleartext packet of an IPsec-protected tunnel")
)

// Inner is a decapsulated packet to deliver: Frame (an Ethernet frame) is sent out of
// the tunnel's hidden end, so that the visible end receives it.
type Inner struct {
	Hidden int
	Frame  []byte
}

// outer is what parseOuter reads from an outer IPv4 packet.
type outer struct {
	key tunnelTunRxKey
	// off is where the payload starts; n its length.
	off, n int
	// ethertype of the payload (host order); 0: EoIP, whose payload is a whole frame.
	ethertype uint16
}

// parseOuter reads an outer IPv4 packet (a reassembled one: the stack took it because
// its fragments are the stack's, see bpf/tunnel.c decap_parse) as decap_parse does.
func parseOuter(pkt []byte) (outer, error) {
	var o outer
	if len(pkt) < 20 || pkt[0]>>4 != 4 {
		return o, ErrNotTunnel
	}
	ihl := int(pkt[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(pkt[2:]))
	if ihl < 20 || tot < ihl || tot > len(pkt) {
		return o, ErrMalformed
	}
	pkt = pkt[:tot]
	// The maps hold addresses in network order read as a host (little-endian) u32.
	o.key.Remote = binary.LittleEndian.Uint32(pkt[12:])
	o.key.Local = binary.LittleEndian.Uint32(pkt[16:])
	o.key.Proto = pkt[9]
	p := pkt[ihl:]
	switch o.key.Proto {
	case 47:
		if len(p) < 4 {
			return o, ErrMalformed
		}
		flags, proto := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
		if flags == 0x2001 && proto == 0x6400 {
			if len(p) < 8 {
				return o, ErrMalformed
			}
			o.key.Eoip, o.key.Id = 1, binary.LittleEndian.Uint16(p[6:])
			o.off, o.n = ihl+8, int(binary.BigEndian.Uint16(p[4:]))
			if o.n < 14 || o.off+o.n > tot {
				return o, ErrMalformed
			}
			return o, nil
		}
		// Version 0, no key, routing or recursion (decap_parse takes the same).
		if flags&^(0x8000|0x1000) != 0 {
			return o, ErrNotTunnel
		}
		h := 4
		if flags&0x8000 != 0 {
			h += 4
		}
		if flags&0x1000 != 0 {
			h += 4
		}
		if h > len(p) {
			return o, ErrMalformed
		}
		o.ethertype, o.off, o.n = proto, ihl+h, tot-ihl-h
	case 4:
		o.ethertype, o.off, o.n = 0x0800, ihl, tot-ihl
	case 41:
		o.ethertype, o.off, o.n = 0x86dd, ihl, tot-ihl
	default:
		return o, ErrNotTunnel
	}
	return o, nil
}

// Decap decapsulates, in place, an outer IPv4 packet that the stack reassembled from
// fragments (the eBPF decapsulators leave fragments to it) for a tunnel in the maps.
// The frame it returns lies within pkt: EoIP's is the payload as carried; for the other
// kinds an Ethernet header is written over the end of the outer headers, in front of the
// payload, so that nothing is copied. viaESP says the packet came out of the userspace
// ESP path's device, the one way into an IPsec-protected tunnel. Keepalives are never
// fragmented and are not looked for here.
func (t *Tunnels) Decap(pkt []byte, viaESP bool) (Inner, error) {
	o, err := parseOuter(pkt)
	if err != nil {
		return Inner{}, err
	}
	rx, ok := t.lookupRx(o.key)
	if !ok {
		return Inner{}, ErrNotTunnel
	}
	if rx.Ipsec != 0 && !viaESP {
		return Inner{Hidden: int(rx.Ifindex)}, ErrCleartext
	}
	if o.key.Eoip == 1 {
		return Inner{Hidden: int(rx.Ifindex), Frame: pkt[o.off : o.off+o.n]}, nil
	}
	if !carries(Kind(rx.Kind), o.ethertype) {
		return Inner{}, ErrNotTunnel
	}
	// parseOuter leaves at least a 20-byte IPv4 header in front of the payload.
	if o.off < 14 {
		return Inner{}, ErrMalformed
	}
	frame := pkt[o.off-14 : o.off+o.n]
	copy(frame, rx.PeerMac[:])
	copy(frame[6:], rx.OwnMac[:])
	binary.BigEndian.PutUint16(frame[12:], o.ethertype)
	return Inner{Hidden: int(rx.Ifindex), Frame: frame}, nil
}

// carries is bpf/tunnel.c's carries: the payloads each kind delivers.
func carries(k Kind, ethertype uint16) bool {
	switch k {
	case GRE:
		return ethertype == 0x0800 || ethertype == 0x86dd
	case IPIP:
		return ethertype == 0x0800
	case SixToFour:
		return ethertype == 0x86dd
	}
	return false
}

// lookupRx finds a packet's tunnel as rx_lookup does: the exact entry, then local any,
// remote any (6to4 without remote-address), both any.
func (t *Tunnels) lookupRx(k tunnelTunRxKey) (tunnelTunRx, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m, err := t.mirrored()
	if err != nil {
		return tunnelTunRx{}, false
	}
	local, remote := k.Local, k.Remote
	for _, try := range [][2]uint32{{remote, local}, {remote, 0}, {0, local}, {0, 0}} {
		k.Remote, k.Local = try[0], try[1]
		if rx, ok := m.rx[k]; ok {
			return rx, true
		}
	}
	return tunnelTunRx{}, false
}
