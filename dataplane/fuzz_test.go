package dataplane

import (
	"bytes"
	"testing"
)

// FuzzDecap feeds arbitrary frames to tun_decap through BPF_PROG_RUN, with a GRE, an
// EoIP and a 6to4 tunnel configured: every verdict is a known one and a frame passed to
// the stack is unchanged.
func FuzzDecap(f *testing.F) {
	objs := loadOrSkip(f)
	tp := &Tunnels{objs: *objs}
	for i, tn := range []Tunnel{{Kind: GRE, Local: ipA, Remote: ipB}, {Kind: EoIP, Remote: ipB, TunnelID: 1}, {Kind: SixToFour}} {
		tn.Hidden, tn.VisibleMAC, tn.HiddenMAC = i+1, macA, macB
		if err := tp.Set(tn); err != nil {
			f.Fatal(err)
		}
	}
	f.Add(ipv4(47, ipB, ipA, gre(0x9000, 0x0800, make([]byte, 8), ipv4(1, ipB, ipA, nil))))
	f.Add(ipv4(47, ipB, ipA, gre(0x2001, 0x6400, []byte{0, 14, 1, 0}, make([]byte, 14))))
	f.Add(ipv4(41, ipB, ipA, make([]byte, 40)))
	f.Add(ipv4(41, ipB, ipA, ipv6Empty(sixToFour(ipA), sixToFour(ipB)))) // a peer's 6to4 keepalive
	f.Fuzz(func(t *testing.T, l3 []byte) {
		pkt := ether(0x0800, l3)
		if len(pkt) < 14 || len(pkt) > 3000 {
			return
		}
		ret, out := runXDP(t, tp.objs.TunDecap, pkt)
		switch ret {
		case xdpPass:
			if !bytes.Equal(out[:len(pkt)], pkt) {
				t.Fatalf("passed frame changed")
			}
		case xdpDrop, xdpTX, xdpRedirect:
		default:
			t.Fatalf("verdict %d", ret)
		}
	})
}
