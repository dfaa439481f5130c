package tunnel

import (
	"encoding/binary"
	"net/netip"

	"github.com/routerd/routerd/dataplane"
)

// ipv4Header writes a 20-byte IPv4 header with its checksum.
func ipv4Header(b []byte, totLen int, proto byte, src, dst netip.Addr) {
	b[0] = 0x45
	b[1] = 0
	binary.BigEndian.PutUint16(b[2:], uint16(totLen))
	binary.BigEndian.PutUint16(b[4:], 0)
	binary.BigEndian.PutUint16(b[6:], 0)
	b[8] = 255
	b[9] = proto
	b[10], b[11] = 0, 0
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	binary.BigEndian.PutUint16(b[10:], ipChecksum(b[:20]))
}

func ipChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// keepalivePacket builds the keepalive a tunnel sends, outer IPv4 header included:
//   - GRE (as Cisco and RouterOS): GRE carrying an IPv4 packet from the remote back to
//     us whose payload is a GRE header with protocol 0; the peer decapsulates and
//     forwards it, and its arrival here is the answer;
//   - IPIP: the same reflection with a bare IPv4 header inside;
//   - 6to4: the same reflection one layer up: an empty IPv6 packet (next header 59,
//     "no next header") from the peer's 6to4 address 2002:<remote>:: to ours,
//     2002:<local>::. The peer decapsulates it and routes it by its IPv6 destination,
//     which 6to4 (2002::/16 into the tunnel) sends back encapsulated to us, where it is
//     the answer. routerd's decapsulator turns a peer's such packet around itself
//     (bpf/tunnel.c, DECAP_SWAP). A Linux sit peer without a fixed remote drops it as
//     spoofed (its 6to4 addresses do not embed the outer IPv4 addresses), as it would
//     any packet meant to come back;
//   - EoIP: an EoIP header with payload length 0, not answered: both ends send them.
func keepalivePacket(kind dataplane.Kind, local, remote netip.Addr, tunnelID uint16) []byte {
	switch kind {
	case dataplane.GRE:
		b := make([]byte, 48)
		ipv4Header(b, 48, 47, local, remote)
		binary.BigEndian.PutUint16(b[22:], 0x0800)
		ipv4Header(b[24:], 24, 47, remote, local)
		// inner GRE: flags 0, protocol 0
		return b
	case dataplane.IPIP:
		b := make([]byte, 40)
		ipv4Header(b, 40, 4, local, remote)
		ipv4Header(b[20:], 20, 4, remote, local)
		return b
	case dataplane.SixToFour:
		b := make([]byte, 60)
		ipv4Header(b, 60, 41, local, remote)
		ip6 := b[20:]
		ip6[0] = 0x60
		ip6[6] = 59 // no next header; payload length 0
		ip6[7] = 64
		copy(ip6[8:24], sixToFourAddr(remote))
		copy(ip6[24:40], sixToFourAddr(local))
		return b
	case dataplane.EoIP:
		b := make([]byte, 28)
		ipv4Header(b, 28, 47, local, remote)
		binary.BigEndian.PutUint16(b[20:], 0x2001)
		binary.BigEndian.PutUint16(b[22:], 0x6400)
		binary.BigEndian.PutUint16(b[24:], 0)
		binary.LittleEndian.PutUint16(b[26:], tunnelID)
		return b
	}
	return nil
}

// sixToFourAddr is the 6to4 address 2002:<v4>:: (interface id 0) of an IPv4 address.
func sixToFourAddr(v4 netip.Addr) []byte {
	a := v4.As4()
	return []byte{0x20, 0x02, a[0], a[1], a[2], a[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
}
