package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
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

// Decap decapsulates an outer IPv4 packet that the stack reassembled from fragments
// (the eBPF decapsulators leave fragments to it) for a tunnel in the maps, into buf
// (which must hold the packet plus an Ethernet header). viaESP says the packet came out
// of the userspace ESP path's device, the one way into an IPsec-protected tunnel.
// Keepalives are never fragmented and are not looked for here.
func (t *Tunnels) Decap(pkt []byte, viaESP bool, buf []byte) (Inner, error) {
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
	payload := pkt[o.off : o.off+o.n]
	if o.key.Eoip == 1 {
		if len(buf) < len(payload) {
			return Inner{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(payload))
		}
		return Inner{Hidden: int(rx.Ifindex), Frame: buf[:copy(buf, payload)]}, nil
	}
	if !carries(Kind(rx.Kind), o.ethertype) {
		return Inner{}, ErrNotTunnel
	}
	if len(buf) < 14+len(payload) {
		return Inner{}, fmt.Errorf("%w: %d bytes", ErrMalformed, len(payload))
	}
	copy(buf, rx.PeerMac[:])
	copy(buf[6:], rx.OwnMac[:])
	binary.BigEndian.PutUint16(buf[12:], o.ethertype)
	n := 14 + copy(buf[14:], payload)
	return Inner{Hidden: int(rx.Ifindex), Frame: buf[:n]}, nil
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
