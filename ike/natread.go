package ike

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// readNAT is read for a UDP 4500 socket, where ESP-in-UDP dominates: datagrams come in
// batches (recvmmsg) and with UDP GRO, so a peer's UDP GSO burst of ESP costs one system
// call instead of one per packet. ESP goes to the data path, the rest (IKE after the
// non-ESP marker) to handle as in read.
func (d *Daemon) readNAT(s *sock) {
	gro := false
	if rc, err := s.c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			gro = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1) == nil
		})
	}
	pc := ipv4.NewPacketConn(s.c) // recvmmsg serves both families on Linux
	msgs := make([]ipv4.Message, 32)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		msgs[i].OOB = make([]byte, 128)
	}
	type espIn struct {
		b           []byte
		from, local netip.AddrPort
	}
	var esps []espIn
	at := func(i int) ([]byte, netip.AddrPort, netip.AddrPort) { return esps[i].b, esps[i].from, esps[i].local }
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		d.mu.Lock()
		dp := d.dp
		d.mu.Unlock()
		bdp, batch := dp.(ESPBatchInput)
		esps = esps[:0]
		for i := 0; i < n; i++ {
			m := &msgs[i]
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			from := ua.AddrPort()
			from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			oob := m.OOB[:m.NN]
			local := netip.AddrPortFrom(dstOf(oob, s.v6), s.port)
			b := m.Buffers[0][:m.N]
			seg := len(b)
			if gro {
				if g := groSegment(oob); g > 0 {
					seg = g
				}
			}
			for len(b) > 0 {
				pkt := b[:min(seg, len(b))]
				b = b[len(pkt):]
				switch {
				case len(pkt) == 1 && pkt[0] == 0xff: // NAT keepalive
				case len(pkt) >= 4 && binary.BigEndian.Uint32(pkt) != 0:
					switch {
					case batch:
						esps = append(esps, espIn{pkt, from, local})
					case dp != nil:
						dp.InputESP(pkt, from, local)
					}
				case len(pkt) > 4:
					d.Stats.RxPackets.Add(1)
					msg := append([]byte(nil), pkt[4:]...)
					d.input(msg, from, local) // recover.go
				}
			}
		}
		if len(esps) > 0 {
			bdp.InputESPBatch(len(esps), at)
		}
	}
}

// dstOf is the destination address of a datagram from its control messages.
func dstOf(oob []byte, v6 bool) netip.Addr {
	var a netip.Addr
	if v6 {
		var cm ipv6.ControlMessage
		if cm.Parse(oob) == nil && cm.Dst != nil {
			a, _ = netip.AddrFromSlice(cm.Dst)
		}
	} else {
		var cm ipv4.ControlMessage
		if cm.Parse(oob) == nil && cm.Dst != nil {
			a, _ = netip.AddrFromSlice(cm.Dst.To4())
		}
	}
	return a.Unmap()
}

// groSegment is the segment size of a GRO-coalesced datagram (0: not coalesced).
func groSegment(oob []byte) int {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, c := range cms {
		if c.Header.Level == unix.SOL_UDP && c.Header.Type == unix.UDP_GRO && len(c.Data) >= 4 {
			return int(binary.NativeEndian.Uint32(c.Data))
		}
	}
	return 0
}
