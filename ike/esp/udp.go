package esp

import (
	"encoding/binary"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// ServeUDP reads a port 4500 socket until it is closed, in batches (recvmmsg): ESP goes to
// dp.InputUDPBatch, a read at a time, everything else (IKE after the non-ESP marker, keepalives) to ike, which may
// be nil. IKE can run its 4500 reader with it instead of its own loop; b passed to ike is
// only valid during the call.
func ServeUDP(dp Datapath, c *net.UDPConn, ike func(b []byte, src, dst netip.AddrPort)) error {
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	// UDP GRO: a peer's UDP GSO burst arrives as one buffer of equal-size datagrams.
	gro := false
	if rc, err := c.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) {
			gro = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1) == nil
		})
	}
	pc := ipv4.NewPacketConn(c) // recvmmsg works for both families on Linux
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
		msgs[i].OOB = make([]byte, 64)
	}
	type espIn struct {
		b   []byte
		src netip.AddrPort
	}
	var esps []espIn
	at := func(i int) ([]byte, netip.AddrPort, netip.AddrPort) { return esps[i].b, esps[i].src, local }
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return err
		}
		esps = esps[:0]
		for i := 0; i < n; i++ {
			b := msgs[i].Buffers[0][:msgs[i].N]
			ua, ok := msgs[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			src := ua.AddrPort()
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			seg := len(b)
			if gro {
				if g := groSize(msgs[i].OOB[:msgs[i].NN]); g > 0 {
					seg = g
				}
			}
			for len(b) > 0 {
				d := b[:min(seg, len(b))]
				b = b[len(d):]
				if IsESPinUDP(d) {
					esps = append(esps, espIn{d, src})
				} else if ike != nil {
					ike(d, src, local)
				}
			}
		}
		if len(esps) > 0 {
			dp.InputUDPBatch(len(esps), at)
		}
	}
}

// groSize returns the segment size of a UDP_GRO control message, 0 without one.
func groSize(oob []byte) int {
	cms, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, cm := range cms {
		if cm.Header.Level == unix.SOL_UDP && cm.Header.Type == unix.UDP_GRO && len(cm.Data) >= 4 {
			return int(binary.NativeEndian.Uint32(cm.Data))
		}
	}
	return 0
}
