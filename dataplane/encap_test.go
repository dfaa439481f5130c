package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os/exec"
	"testing"

	"github.com/cilium/ebpf"
)

const tcActRedirect = 7

// encapRig is the benchmark rig (its own namespace) made ready for tun_encap: the
// hidden end h0 forwards (bpf_fib_lookup asks that of the input device) and the peer
// 198.18.0.2 has a permanent neighbour entry on u0, so the lookup answers with its MAC.
func encapRig(t *testing.T) (*rig, *Tunnels) {
	objs := loadOrSkip(t)
	r := newRig(t, openBench(t, 0, nil))
	r.in(t, func() {
		if out, err := exec.Command("sysctl", "-qw", "net.ipv4.conf.h0.forwarding=1").CombinedOutput(); err != nil {
			t.Fatalf("sysctl: %v %s", err, out)
		}
		if out, err := exec.Command("ip", "neigh", "add", "198.18.0.2", "lladdr", "02:00:00:00:00:0b", "dev", "u0", "nud", "permanent").CombinedOutput(); err != nil {
			t.Fatalf("ip neigh: %v %s", err, out)
		}
	})
	return r, &Tunnels{objs: *objs}
}

// runEncap runs tun_encap on a frame as if it arrived at the hidden end.
func runEncap(t *testing.T, r *rig, p *ebpf.Program, frame []byte) (uint32, []byte) {
	t.Helper()
	return runEncapGSO(t, r, p, frame, 0)
}

// runEncapGSO is runEncap with the frame a GSO packet of gsoSize when that is above 0
// (BPF_PROG_RUN sets gso_size and gso_segs; it cannot set a GSO type, so the packet's
// type is none of SKB_GSO_*).
func runEncapGSO(t *testing.T, r *rig, p *ebpf.Program, frame []byte, gsoSize uint32) (uint32, []byte) {
	t.Helper()
	ctx := make([]byte, 192) // struct __sk_buff
	binary.LittleEndian.PutUint32(ctx[40:], uint32(r.hidden))
	if gsoSize > 0 {
		binary.LittleEndian.PutUint32(ctx[164:], 2) // gso_segs
		binary.LittleEndian.PutUint32(ctx[176:], gsoSize)
	}
	out := make([]byte, len(frame)+128)
	var ret uint32
	r.in(t, func() {
		var err error
		ret, err = p.Run(&ebpf.RunOptions{Data: frame, DataOut: out, Context: ctx})
		if err != nil {
			t.Fatal(err)
		}
	})
	return ret, out
}

// tcpSYN is an IPv4 TCP SYN with an MSS option and valid checksums.
func tcpSYN(tos byte, df bool, mss uint16) []byte {
	tcp := make([]byte, 24)
	binary.BigEndian.PutUint16(tcp[0:], 40000)
	binary.BigEndian.PutUint16(tcp[2:], 80)
	tcp[12] = 6 << 4
	tcp[13] = 0x02
	copy(tcp[20:], []byte{2, 4, byte(mss >> 8), byte(mss)})
	ip := ipv4(6, netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2"), tcp)
	ip[1] = tos
	if df {
		ip[6] = 0x40
	}
	binary.BigEndian.PutUint16(ip[10:], ipCsum(ip[:20]))
	binary.BigEndian.PutUint16(ip[36:], tcpCsum(ip))
	return ip
}

// TestEncap: tun_encap through BPF_PROG_RUN: outer header (addresses, protocol, TTL,
// DSCP inherited or fixed with ECN per RFC 6040, DF inherited or never, checksum), the
// tunnel header, the next hop's MAC, and the MSS clamp on encapsulation with a TCP
// checksum that still verifies.
func TestEncap(t *testing.T) {
	r, tp := encapRig(t)
	for _, tc := range []struct {
		name    string
		tn      Tunnel
		tos     byte
		df      bool
		wantTOS byte
		wantDF  bool
		wantMSS uint16
		wantTTL byte
		hdr     []byte // tunnel header after the outer IP
		proto   byte
	}{
		{"gre inherit", Tunnel{Kind: GRE, DSCP: DSCPInherit, DFInherit: true, TTL: 64, ClampMSS: true, MSS4: 1436},
			0xb9, true, 0xb9, true, 1436, 64, []byte{0, 0, 8, 0}, 47},
		{"gre fixed dscp, df no, CE", Tunnel{Kind: GRE, DSCP: 10, TTL: 64, ClampMSS: true, MSS4: 1436},
			0xbb, true, 10<<2 | 2, false, 1436, 64, []byte{0, 0, 8, 0}, 47},
		{"ipip inherit, no DF inside", Tunnel{Kind: IPIP, DSCP: DSCPInherit, DFInherit: true, TTL: 17},
			0x20, false, 0x20, false, 1460, 17, nil, 4},
		{"gre clamp off", Tunnel{Kind: GRE, DSCP: DSCPInherit, TTL: 64, MSS4: 1436},
			0, true, 0, false, 1460, 64, []byte{0, 0, 8, 0}, 47},
		{"gre mss below clamp", Tunnel{Kind: GRE, DSCP: DSCPInherit, TTL: 64, ClampMSS: true, MSS4: 1436},
			0, true, 0, false, 1400, 64, []byte{0, 0, 8, 0}, 47},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := tc.tn
			tn.Local, tn.Remote = ipA, ipB
			tn.Hidden, tn.VisibleMAC, tn.HiddenMAC = r.hidden, r.visibleMAC, r.ownMAC
			if err := tp.Set(tn); err != nil {
				t.Fatal(err)
			}
			mss := uint16(1460)
			if tc.name == "gre mss below clamp" {
				mss = 1400
			}
			inner := tcpSYN(tc.tos, tc.df, mss)
			ret, out := runEncap(t, r, tp.objs.TunEncap, ether(0x0800, inner))
			if ret != tcActRedirect {
				st, _ := tp.Stats(r.hidden)
				t.Fatalf("verdict %d, want redirect; stats %+v", ret, st)
			}
			if !bytes.Equal(out[:6], []byte{2, 0, 0, 0, 0, 0xb}) || !bytes.Equal(out[6:12], r.underlayMAC) || out[12] != 8 || out[13] != 0 {
				t.Errorf("outer Ethernet % x", out[:14])
			}
			ip := out[14:]
			hl := 20 + len(tc.hdr)
			if ip[0] != 0x45 || ip[9] != tc.proto || ip[8] != tc.wantTTL || ip[1] != tc.wantTOS {
				t.Errorf("outer IP version/ihl %#x proto %d ttl %d tos %#x; want proto %d ttl %d tos %#x", ip[0], ip[9], ip[8], ip[1], tc.proto, tc.wantTTL, tc.wantTOS)
			}
			if df := ip[6]&0x40 != 0; df != tc.wantDF {
				t.Errorf("DF %v, want %v", df, tc.wantDF)
			}
			if got := int(binary.BigEndian.Uint16(ip[2:])); got != hl+len(inner) {
				t.Errorf("outer total length %d, want %d", got, hl+len(inner))
			}
			if ipCsum(ip[:20]) != 0 {
				t.Errorf("outer IP checksum wrong")
			}
			if !bytes.Equal(ip[12:16], ipA.AsSlice()) || !bytes.Equal(ip[16:20], ipB.AsSlice()) {
				t.Errorf("outer addresses % x", ip[12:20])
			}
			if !bytes.Equal(ip[20:hl], tc.hdr) {
				t.Errorf("tunnel header % x, want % x", ip[20:hl], tc.hdr)
			}
			in := ip[hl : hl+len(inner)]
			if got := binary.BigEndian.Uint16(in[20+22:]); got != tc.wantMSS {
				t.Errorf("MSS %d, want %d", got, tc.wantMSS)
			}
			if !verifyTCP(in) {
				t.Errorf("inner TCP checksum wrong after encapsulation")
			}
			if !bytes.Equal(in[:20], inner[:20]) {
				t.Errorf("inner IP header changed")
			}
		})
	}

	t.Run("eoip", func(t *testing.T) {
		tn := Tunnel{Kind: EoIP, Local: ipA, Remote: ipB, TunnelID: 0x0102, DSCP: DSCPInherit, TTL: 64,
			Hidden: r.hidden, VisibleMAC: r.visibleMAC, HiddenMAC: r.ownMAC}
		if err := tp.Set(tn); err != nil {
			t.Fatal(err)
		}
		frame := ether(0x0806, make([]byte, 28)) // ARP: EoIP carries any frame
		ret, out := runEncap(t, r, tp.objs.TunEncap, frame)
		if ret != tcActRedirect {
			t.Fatalf("verdict %d", ret)
		}
		ip := out[14:]
		want := []byte{0x20, 0x01, 0x64, 0x00, 0, byte(len(frame)), 0x02, 0x01} // id little-endian
		if ip[9] != 47 || !bytes.Equal(ip[20:28], want) || !bytes.Equal(ip[28:28+len(frame)], frame) {
			t.Errorf("EoIP packet % x", ip[:28+len(frame)])
		}
		if ipCsum(ip[:20]) != 0 || int(binary.BigEndian.Uint16(ip[2:])) != 28+len(frame) {
			t.Errorf("outer header % x", ip[:20])
		}
	})

	// An ipsec-secret tunnel on the userspace ESP path is routed in the ESP path's table
	// only: before its policy's route is there, its packets are dropped (counted as no
	// route), not sent in the clear by the main table's route.
	t.Run("gre ipsec-protected", func(t *testing.T) {
		tn := Tunnel{Kind: GRE, Local: ipA, Remote: ipB, DSCP: DSCPInherit, TTL: 64, IPsecTable: 250,
			Hidden: r.hidden, VisibleMAC: r.visibleMAC, HiddenMAC: r.ownMAC}
		if err := tp.Set(tn); err != nil {
			t.Fatal(err)
		}
		before, _ := tp.Stats(r.hidden)
		if ret, _ := runEncap(t, r, tp.objs.TunEncap, ether(0x0800, tcpSYN(0, true, 1400))); ret != 2 {
			t.Fatalf("no route in the IPsec table: verdict %d, want shot", ret)
		}
		if st, _ := tp.Stats(r.hidden); st.Drops[1] != before.Drops[1]+1 {
			t.Errorf("no-route drops %d, want %d", st.Drops[1], before.Drops[1]+1)
		}
		r.in(t, func() {
			if out, err := exec.Command("ip", "route", "add", "198.18.0.2/32", "dev", "u0", "table", "250").CombinedOutput(); err != nil {
				t.Fatalf("ip route: %v %s", err, out)
			}
		})
		ret, out := runEncap(t, r, tp.objs.TunEncap, ether(0x0800, tcpSYN(0, true, 1400)))
		if ret != tcActRedirect || out[14+9] != 47 {
			t.Fatalf("with the policy's route: verdict %d, outer % x", ret, out[14:34])
		}
	})

	t.Run("6to4 without remote", func(t *testing.T) {
		tn := Tunnel{Kind: SixToFour, Local: ipA, DSCP: DSCPInherit, TTL: 64,
			Hidden: r.hidden, VisibleMAC: r.visibleMAC, HiddenMAC: r.ownMAC}
		if err := tp.Set(tn); err != nil {
			t.Fatal(err)
		}
		ip6 := make([]byte, 40)
		ip6[0], ip6[6], ip6[7] = 0x60, 59, 64
		copy(ip6[24:], []byte{0x20, 0x02, 198, 18, 0, 2}) // 2002:c612:2::
		ret, out := runEncap(t, r, tp.objs.TunEncap, ether(0x86dd, ip6))
		if ret != tcActRedirect || out[14+9] != 41 || !bytes.Equal(out[14+16:14+20], ipB.AsSlice()) {
			t.Errorf("verdict %d, outer % x", ret, out[14:34])
		}
		copy(ip6[24:], []byte{0x20, 0x01, 0x0d, 0xb8}) // not 2002::/16: nowhere to send it
		if ret, _ := runEncap(t, r, tp.objs.TunEncap, ether(0x86dd, ip6)); ret != 2 {
			t.Errorf("non-6to4 destination: verdict %d, want shot", ret)
		}
		if st, _ := tp.Stats(r.hidden); st.Drops[3] != 1 {
			t.Errorf("no-remote drops %d", st.Drops[3])
		}
	})
}

// TestEncapTooBig: an outer packet above the underlay's MTU (a tunnel with mtu=1500 on
// a 1500-byte underlay) is received once more on the hidden end for the stack to
// fragment, marked by an all-zero source MAC, with its TTL raised by the hop the stack
// takes and an identification of its own; the program, seeing it come back, hands it
// to the stack. With DF inherited from the inner packet it is dropped as frag-needed.
// On the userspace ESP path the ESP device takes it whole (the ESP packet is what gets
// fragmented).
func TestEncapTooBig(t *testing.T) {
	r, tp := encapRig(t)
	const tcActOK, tcActShot = 0, 2
	full := make([]byte, 1500-20-8) // a 1500-byte IPv4 packet in a 1514-byte frame
	inner := ipv4(17, netip.MustParseAddr("198.19.0.1"), netip.MustParseAddr("198.19.0.2"), append(make([]byte, 8), full...))
	inner[6] = 0x40 // DF
	binary.BigEndian.PutUint16(inner[10:], 0)
	binary.BigEndian.PutUint16(inner[10:], ipCsum(inner[:20]))
	frame := ether(0x0800, inner)

	eoip := Tunnel{Kind: EoIP, Local: ipA, Remote: ipB, TunnelID: 9, DSCP: DSCPInherit, TTL: 64,
		Hidden: r.hidden, VisibleMAC: r.visibleMAC, HiddenMAC: r.ownMAC}
	if err := tp.Set(eoip); err != nil {
		t.Fatal(err)
	}
	before, _ := tp.Stats(r.hidden)
	ret, out := runEncap(t, r, tp.objs.TunEncap, frame)
	if ret != tcActRedirect {
		t.Fatalf("verdict %d, want a redirect to the hidden end", ret)
	}
	ip := out[14:]
	if !bytes.Equal(out[6:12], make([]byte, 6)) || out[0] != 2 || out[12] != 8 || out[13] != 0 {
		t.Errorf("Ethernet header % x: want an all-zero source and a unicast destination", out[:14])
	}
	if tot := int(binary.BigEndian.Uint16(ip[2:])); tot != 20+8+len(frame) {
		t.Errorf("outer length %d, want %d", tot, 20+8+len(frame))
	}
	if ip[8] != 65 || ip[6]&0x40 != 0 || ipCsum(ip[:20]) != 0 || !bytes.Equal(ip[12:16], ipA.AsSlice()) {
		t.Errorf("outer header % x: want TTL 65, no DF, a valid checksum, source %s", ip[:20], ipA)
	}
	if !bytes.Equal(ip[28:28+len(frame)], frame) {
		t.Errorf("frame not carried whole")
	}
	if st, _ := tp.Stats(r.hidden); st.TxFragmented != before.TxFragmented+1 || st.TxPackets != before.TxPackets+1 {
		t.Errorf("tx-fragmented %d tx-packets %d, want one more of each (%+v)", st.TxFragmented, st.TxPackets, before)
	}
	// Back on the hidden end: to the stack, untouched.
	back := out[:14+20+8+len(frame)]
	if ret, again := runEncap(t, r, tp.objs.TunEncap, back); ret != tcActOK || !bytes.Equal(again[:len(back)], back) {
		t.Errorf("the marked packet back on the hidden end: verdict %d, want the stack's", ret)
	}

	// dont-fragment=inherit and DF inside: dropped and counted.
	eoip.DFInherit = true
	if err := tp.Set(eoip); err != nil {
		t.Fatal(err)
	}
	before, _ = tp.Stats(r.hidden)
	if ret, _ := runEncap(t, r, tp.objs.TunEncap, frame); ret != tcActShot {
		t.Errorf("DF inherited: verdict %d, want shot", ret)
	}
	if st, _ := tp.Stats(r.hidden); st.Drops[7] != before.Drops[7]+1 {
		t.Errorf("frag-needed drops %d, want %d", st.Drops[7], before.Drops[7]+1)
	}
	// A frame that fits goes out as ever.
	small := ether(0x0800, tcpSYN(0, true, 1400))
	if ret, out := runEncap(t, r, tp.objs.TunEncap, small); ret != tcActRedirect || !bytes.Equal(out[6:12], r.underlayMAC) {
		t.Errorf("small frame: verdict %d, source MAC % x", ret, out[6:12])
	}

	// GRE: the same.
	gre := Tunnel{Kind: GRE, Local: ipA, Remote: ipB, DSCP: DSCPInherit, TTL: 64,
		Hidden: r.hidden, VisibleMAC: r.visibleMAC, HiddenMAC: r.ownMAC}
	if err := tp.Set(gre); err != nil {
		t.Fatal(err)
	}
	if ret, out := runEncap(t, r, tp.objs.TunEncap, frame); ret != tcActRedirect || !bytes.Equal(out[6:12], make([]byte, 6)) ||
		binary.BigEndian.Uint16(out[14+2:]) != 1524 {
		t.Errorf("gre: verdict %d, header % x", ret, out[:34])
	}

	// The userspace ESP path: its device takes the packet whole.
	gre.IPsecTable = 251
	if err := tp.Set(gre); err != nil {
		t.Fatal(err)
	}
	r.in(t, func() {
		if out, err := exec.Command("ip", "route", "add", "198.18.0.2/32", "dev", "u0", "table", "251").CombinedOutput(); err != nil {
			t.Fatalf("ip route: %v %s", err, out)
		}
	})
	if ret, out := runEncap(t, r, tp.objs.TunEncap, frame); ret != tcActRedirect || !bytes.Equal(out[6:12], r.underlayMAC) {
		t.Errorf("ipsec table: verdict %d, source MAC % x: want sent as is", ret, out[6:12])
	}
}
