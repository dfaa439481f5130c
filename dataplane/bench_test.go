package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// bpfFTestXDPLiveFrames is BPF_F_TEST_XDP_LIVE_FRAMES: every repetition gets a fresh
// copy of the frame and its verdict is carried out, as xdp-trafficgen does.
const bpfFTestXDPLiveFrames = 2

// BenchmarkDecap measures tun_decap per tunnel type with live frames beside the
// count-and-drop baseline in the same run: go test -run XXX -bench Decap ./dataplane.
// The redirect target is ifindex 1 (lo, which takes no XDP frames), so a figure is
// parse + match + strip + redirect attempt.
func BenchmarkDecap(b *testing.B) {
	objs := loadOrSkip(b)
	tp := &Tunnels{objs: *objs}
	var bench benchObjects
	if err := loadBenchObjects(&bench, nil); err != nil {
		b.Fatal(err)
	}
	defer bench.Close()
	inner := ipv4(17, netip.MustParseAddr("198.19.0.2"), netip.MustParseAddr("198.19.0.1"), make([]byte, 64))
	eoip := make([]byte, 8)
	binary.BigEndian.PutUint16(eoip, 0x2001)
	binary.BigEndian.PutUint16(eoip[2:], 0x6400)
	frame := ether(0x0800, inner)
	binary.BigEndian.PutUint16(eoip[4:], uint16(len(frame)))
	binary.LittleEndian.PutUint16(eoip[6:], 7)
	cases := []struct {
		name string
		tn   Tunnel
		pkt  []byte
		prog *ebpf.Program
	}{
		{"count-drop", Tunnel{}, ether(0x0800, ipv4(47, ipB, ipA, gre(0, 0x0800, nil, inner))), bench.CountDrop},
		{"gre", Tunnel{Kind: GRE, Local: ipA, Remote: ipB}, ether(0x0800, ipv4(47, ipB, ipA, gre(0, 0x0800, nil, inner))), objs.TunDecap},
		{"eoip", Tunnel{Kind: EoIP, Local: ipA, Remote: ipB, TunnelID: 7}, ether(0x0800, ipv4(47, ipB, ipA, append(eoip, frame...))), objs.TunDecap},
		{"ipip", Tunnel{Kind: IPIP, Local: ipA, Remote: ipB}, ether(0x0800, ipv4(4, ipB, ipA, inner)), objs.TunDecap},
		{"6to4", Tunnel{Kind: SixToFour, Local: ipA, Remote: ipB}, ether(0x0800, ipv4(41, ipB, ipA, make([]byte, 104))), objs.TunDecap},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if c.tn.Kind != 0 {
				c.tn.Hidden, c.tn.VisibleMAC, c.tn.HiddenMAC = 1, macA, macB
				if err := tp.Set(c.tn); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			_, err := c.prog.Run(&ebpf.RunOptions{Data: c.pkt, Repeat: uint32(b.N), Flags: bpfFTestXDPLiveFrames})
			if err != nil {
				b.Fatal(err)
			}
		})
	}
}
