package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// XDP return codes.
const (
	xdpDrop     = 1
	xdpPass     = 2
	xdpTX       = 3
	xdpRedirect = 4
)

var (
	macA = []byte{2, 0, 0, 0, 0, 0xa}
	macB = []byte{2, 0, 0, 0, 0, 0xb}
	ipA  = netip.MustParseAddr("198.18.0.1") // us
	ipB  = netip.MustParseAddr("198.18.0.2") // the peer
)

func ipv4(proto byte, src, dst netip.Addr, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	b[8] = 64
	b[9] = proto
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	return append(b, payload...)
}

func ether(typ uint16, payload []byte) []byte {
	b := append(append(append([]byte{}, macA...), macB...), byte(typ>>8), byte(typ))
	return append(b, payload...)
}

func gre(flags, proto uint16, extra []byte, payload []byte) []byte {
	b := []byte{byte(flags >> 8), byte(flags), byte(proto >> 8), byte(proto)}
	return append(append(b, extra...), payload...)
}

// objsWith loads the programs (no pins) and configures one tunnel of kind with the
// peer: hidden ifindex 1 (the test only looks at the verdict and the packet).
func objsWith(t *testing.T, tn Tunnel) *Tunnels {
	objs := loadOrSkip(t)
	tp := &Tunnels{objs: *objs}
	tn.Hidden = 1
	tn.VisibleMAC, tn.HiddenMAC = []byte{2, 0, 0, 0, 1, 1}, []byte{2, 0, 0, 0, 1, 2}
	if err := tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	return tp
}

func runXDP(t *testing.T, p *ebpf.Program, pkt []byte) (uint32, []byte) {
	t.Helper()
	out := make([]byte, len(pkt)+256)
	ret, err := p.Run(&ebpf.RunOptions{Data: pkt, DataOut: out})
	if err != nil {
		t.Fatal(err)
	}
	return ret, out
}

func TestDecapGREParser(t *testing.T) {
	tp := objsWith(t, Tunnel{Kind: GRE, Local: ipA, Remote: ipB})
	inner := ipv4(1, netip.MustParseAddr("198.19.0.2"), netip.MustParseAddr("198.19.0.1"), []byte("ping payload"))
	opts := ipv4(47, ipB, ipA, gre(0, 0x0800, nil, inner))
	opts = append(opts[:20], append([]byte{1, 1, 1, 0}, opts[20:]...)...) // NOP NOP NOP EOL
	opts[0] = 0x46
	binary.BigEndian.PutUint16(opts[2:], uint16(len(opts)))
	frag := ipv4(47, ipB, ipA, gre(0, 0x0800, nil, inner))
	frag[6] = 0x20 // MF
	for _, tc := range []struct {
		name  string
		pkt   []byte
		want  uint32
		strip int // bytes of outer IP+GRE removed (delivered packets)
	}{
		{"plain", ipv4(47, ipB, ipA, gre(0, 0x0800, nil, inner)), xdpRedirect, 24},
		{"checksum", ipv4(47, ipB, ipA, gre(0x8000, 0x0800, make([]byte, 4), inner)), xdpRedirect, 28},
		{"checksum+seq", ipv4(47, ipB, ipA, gre(0x9000, 0x0800, make([]byte, 8), inner)), xdpRedirect, 32},
		{"seq", ipv4(47, ipB, ipA, gre(0x1000, 0x0800, make([]byte, 4), inner)), xdpRedirect, 28},
		{"key: not ours", ipv4(47, ipB, ipA, gre(0x2000, 0x0800, make([]byte, 4), inner)), xdpPass, 0},
		{"routing bit", ipv4(47, ipB, ipA, gre(0x4000, 0x0800, make([]byte, 4), inner)), xdpPass, 0},
		{"version 1", ipv4(47, ipB, ipA, gre(0x0001, 0x0800, nil, inner)), xdpPass, 0},
		{"truncated GRE", ipv4(47, ipB, ipA, []byte{0, 0}), xdpPass, 0},
		{"checksum bit, header cut", ipv4(47, ipB, ipA, gre(0x8000, 0x0800, nil, nil)), xdpPass, 0},
		{"IP options", opts, xdpPass, 0},
		{"fragment", frag, xdpPass, 0},
		{"other source", ipv4(47, netip.MustParseAddr("198.18.0.9"), ipA, gre(0, 0x0800, nil, inner)), xdpPass, 0},
		{"IPv6 payload", ipv4(47, ipB, ipA, gre(0, 0x86dd, nil, make([]byte, 40))), xdpRedirect, 24},
		{"ARP payload: dropped", ipv4(47, ipB, ipA, gre(0, 0x0806, nil, make([]byte, 28))), xdpDrop, 0},
		{"keepalive answer", ipv4(47, ipB, ipA, gre(0, 0, nil, nil)), xdpDrop, 0},
		{"peer's keepalive", ipv4(47, ipB, ipA, gre(0, 0x0800, nil, ipv4(47, ipA, ipB, gre(0, 0, nil, nil)))), xdpTX, 24},
		{"not IPv4", ether(0x86dd, make([]byte, 60))[14:], xdpPass, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := ether(0x0800, tc.pkt)
			if tc.name == "not IPv4" {
				pkt = ether(0x86dd, make([]byte, 60))
			}
			ret, out := runXDP(t, tp.objs.TunDecap, pkt)
			if ret != tc.want {
				t.Fatalf("verdict %d, want %d", ret, tc.want)
			}
			switch ret {
			case xdpPass:
				if !bytes.Equal(out[:len(pkt)], pkt) {
					t.Errorf("passed packet changed")
				}
			case xdpRedirect:
				rest := pkt[14+tc.strip:]
				if !bytes.Equal(out[14:14+len(rest)], rest) {
					t.Errorf("inner packet not at 14: % x", out[:40])
				}
				if !bytes.Equal(out[:6], []byte{2, 0, 0, 0, 1, 1}) {
					t.Errorf("destination MAC % x, want the visible end's", out[:6])
				}
			case xdpTX:
				if !bytes.Equal(out[:6], macB) || !bytes.Equal(out[6:12], macA) {
					t.Errorf("reflected frame MACs not swapped: % x", out[:12])
				}
			}
		})
	}
	st, err := tp.Stats(1)
	if err != nil {
		t.Fatal(err)
	}
	if st.KeepaliveRx != 1 || st.KeepaliveReflected != 1 || st.Drops[0] != 1 || st.RxPackets != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestDecapEoIPAndMSS(t *testing.T) {
	tp := objsWith(t, Tunnel{Kind: EoIP, Local: ipA, Remote: ipB, TunnelID: 258, ClampMSS: true, MSS4: 1418})
	eoip := func(id uint16, frame []byte) []byte {
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h, 0x2001)
		binary.BigEndian.PutUint16(h[2:], 0x6400)
		binary.BigEndian.PutUint16(h[4:], uint16(len(frame)))
		binary.LittleEndian.PutUint16(h[6:], id)
		return append(h, frame...)
	}
	// A TCP SYN with MSS 1460 inside the bridged frame.
	tcp := make([]byte, 24)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12] = 6 << 4
	tcp[13] = 0x02 // SYN
	copy(tcp[20:], []byte{2, 4, 0x05, 0xb4})
	ip := ipv4(6, netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2"), tcp)
	binary.BigEndian.PutUint16(ip[10:], ipCsum(ip[:20]))
	binary.BigEndian.PutUint16(tcp[16:], 0)
	copy(ip[20:], tcp)
	binary.BigEndian.PutUint16(ip[36:], tcpCsum(ip))
	frame := ether(0x0800, ip)

	ret, out := runXDP(t, tp.objs.TunDecap, ether(0x0800, ipv4(47, ipB, ipA, eoip(258, frame))))
	if ret != xdpRedirect {
		t.Fatalf("EoIP verdict %d", ret)
	}
	got := out[:len(frame)]
	if mss := binary.BigEndian.Uint16(got[14+20+22:]); mss != 1418 {
		t.Errorf("MSS %d after clamp, want 1418", mss)
	}
	if !verifyTCP(got[14:]) {
		t.Errorf("TCP checksum wrong after clamp")
	}
	if ret, _ := runXDP(t, tp.objs.TunDecap, ether(0x0800, ipv4(47, ipB, ipA, eoip(259, frame)))); ret != xdpPass {
		t.Errorf("other tunnel-id: verdict %d, want pass", ret)
	}
	if ret, _ := runXDP(t, tp.objs.TunDecap, ether(0x0800, ipv4(47, ipB, ipA, eoip(258, nil)))); ret != xdpDrop {
		t.Errorf("EoIP keepalive: verdict %d, want drop", ret)
	}
	bad := eoip(258, frame)
	binary.BigEndian.PutUint16(bad[4:], 1400)
	if ret, _ := runXDP(t, tp.objs.TunDecap, ether(0x0800, ipv4(47, ipB, ipA, bad))); ret != xdpDrop {
		t.Errorf("EoIP length beyond packet: verdict %d, want drop", ret)
	}
	if st, _ := tp.Stats(1); st.KeepaliveRx != 1 || st.Drops[5] != 1 {
		t.Errorf("stats %+v", st)
	}
}

func ipCsum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return ^uint16(s)
}

// tcpCsum computes the TCP checksum of an IPv4 packet with the checksum field as is
// (0 when the field is right).
func tcpCsum(ip []byte) uint16 {
	seg := ip[20:]
	ph := append(append([]byte{}, ip[12:20]...), 0, 6, byte(len(seg)>>8), byte(len(seg)))
	return ipCsum(append(ph, seg...))
}

func verifyTCP(ip []byte) bool { return tcpCsum(ip) == 0 }

// ipv6Empty is an IPv6 packet with no payload (next header 59) between src and dst.
func ipv6Empty(src, dst netip.Addr) []byte {
	b := make([]byte, 40)
	b[0], b[6], b[7] = 0x60, 59, 64
	s, d := src.As16(), dst.As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return b
}

// sixToFour is 2002:<v4>::.
func sixToFour(v4 netip.Addr) netip.Addr {
	a := v4.As4()
	return netip.AddrFrom16([16]byte{0x20, 0x02, a[0], a[1], a[2], a[3]})
}

func TestDecap6to4Keepalive(t *testing.T) {
	tp := objsWith(t, Tunnel{Kind: SixToFour, Local: ipA, Remote: ipB})
	peerKeepalive := ether(0x0800, ipv4(41, ipB, ipA, ipv6Empty(sixToFour(ipA), sixToFour(ipB))))
	for _, tc := range []struct {
		name string
		pkt  []byte
		want uint32
	}{
		{"answer to ours", ether(0x0800, ipv4(41, ipB, ipA, ipv6Empty(sixToFour(ipB), sixToFour(ipA)))), xdpDrop},
		{"peer's keepalive", peerKeepalive, xdpTX},
		// Not keepalives: delivered as any IPv6 packet.
		{"other destination", ether(0x0800, ipv4(41, ipB, ipA, ipv6Empty(sixToFour(ipB), netip.MustParseAddr("2002:c612:1::1")))), xdpRedirect},
		{"other source", ether(0x0800, ipv4(41, ipB, ipA, ipv6Empty(netip.MustParseAddr("2001:db8::1"), sixToFour(ipA)))), xdpRedirect},
		{"with payload", ether(0x0800, ipv4(41, ipB, ipA, func() []byte {
			b := append(ipv6Empty(sixToFour(ipB), sixToFour(ipA)), 0, 0, 0, 0)
			b[5] = 4
			return b
		}())), xdpRedirect},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ret, out := runXDP(t, tp.objs.TunDecap, tc.pkt)
			if ret != tc.want {
				t.Fatalf("verdict %d, want %d", ret, tc.want)
			}
			if ret != xdpTX {
				return
			}
			// Sent back as it came, outer addresses and MACs swapped.
			want := append([]byte{}, tc.pkt...)
			copy(want[0:6], tc.pkt[6:12])
			copy(want[6:12], tc.pkt[0:6])
			copy(want[14+12:14+16], tc.pkt[14+16:14+20])
			copy(want[14+16:14+20], tc.pkt[14+12:14+16])
			if !bytes.Equal(out[:len(want)], want) {
				t.Errorf("reflected\n% x\nwant\n% x", out[:len(want)], want)
			}
		})
	}
	st, err := tp.Stats(1)
	if err != nil {
		t.Fatal(err)
	}
	if st.KeepaliveRx != 1 || st.KeepaliveReflected != 1 || st.RxPackets != 3 {
		t.Errorf("stats %+v", st)
	}
	// The TC decapsulator turns the peer's keepalive around too (to the same device).
	ret, err := tp.objs.TunDecapTc.Run(&ebpf.RunOptions{Data: peerKeepalive, DataOut: make([]byte, len(peerKeepalive)+64)})
	if err != nil {
		t.Fatal(err)
	}
	if ret != tcActRedirect {
		t.Errorf("tc verdict %d, want redirect (%d)", ret, tcActRedirect)
	}
}
