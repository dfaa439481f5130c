package esp

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// ServeUDP reads a port 4500 socket until it is closed, in batches (recvmmsg): ESP goes to
// dp.InputUDP, everything else (IKE after the non-ESP marker, keepalives) to ike, which may
// be nil. IKE can run its 4500 reader with it instead of its own loop; b passed to ike is
// only valid during the call.
func ServeUDP(dp Datapath, c *net.UDPConn, ike func(b []byte, src, dst netip.AddrPort)) error {
	local, _ := netip.ParseAddrPort(c.LocalAddr().String())
	pc := ipv4.NewPacketConn(c) // recvmmsg works for both families on Linux
	msgs := make([]ipv4.Message, 64)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 65536)}
	}
	for {
		n, err := pc.ReadBatch(msgs, 0)
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			b := msgs[i].Buffers[0][:msgs[i].N]
			ua, ok := msgs[i].Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			src := ua.AddrPort()
			src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
			if IsESPinUDP(b) {
				dp.InputUDP(b, src, local)
			} else if ike != nil {
				ike(b, src, local)
			}
		}
	}
}
