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
//   - EoIP: an EoIP header with payload length 0, not answered: both ends send them.
//
// 6to4 has no keepalive (nil).
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
