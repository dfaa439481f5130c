package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netns"
)

// fpRig is a namespace with the ports the fast path tests route between: a0 (in,
// 198.18.1.1/24, 2001:db8:1::1/64), b0 (out, 198.18.2.1/24, 2001:db8:2::1/64, with
// permanent neighbours .2 and ::2), c0 (198.18.4.1/24, not a fast path port), and a
// tunnel veth pair h0/v0 (hidden, visible). Each end's peer (a1, b1, c1, h1) stays in
// the namespace unconfigured.
type fpRig struct {
	rig
	tp                 *Tunnels
	a0, b0, c0, h0, v0 int
	a0MAC, b0MAC       net.HardwareAddr
	hMAC, vMAC         net.HardwareAddr
}

var neighMAC = net.HardwareAddr{2, 0, 0, 0, 0x22, 0x22}

func newFPRig(t *testing.T) *fpRig {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespace and BPF")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	name := fmt.Sprintf("dpfp%d-%d", os.Getpid(), rigSeq.Add(1))
	sh := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	for _, p := range [][2]string{{"a0", "a1"}, {"b0", "b1"}, {"c0", "c1"}, {"h0", "v0"}} {
		sh("-n", name, "link", "add", p[0], "type", "veth", "peer", "name", p[1])
		sh("-n", name, "link", "set", p[0], "up")
		sh("-n", name, "link", "set", p[1], "up")
	}
	sh("-n", name, "link", "set", "lo", "up")
	for _, a := range [][2]string{{"198.18.1.1/24", "a0"}, {"198.18.2.1/24", "b0"}, {"198.18.4.1/24", "c0"}} {
		sh("-n", name, "addr", "add", a[0], "dev", a[1])
	}
	for _, a := range [][2]string{{"2001:db8:1::1/64", "a0"}, {"2001:db8:2::1/64", "b0"}} {
		sh("-n", name, "addr", "add", a[0], "dev", a[1], "nodad")
	}
	sh("-n", name, "route", "add", "unreachable", "198.19.9.0/24")
	sh("-n", name, "neigh", "add", "198.18.2.2", "lladdr", neighMAC.String(), "dev", "b0", "nud", "permanent")
	sh("-n", name, "neigh", "add", "198.18.4.2", "lladdr", neighMAC.String(), "dev", "c0", "nud", "permanent")
	sh("-n", name, "neigh", "add", "2001:db8:2::2", "lladdr", neighMAC.String(), "dev", "b0", "nud", "permanent")
	for _, k := range []string{"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"} {
		if out, err := exec.Command("ip", "netns", "exec", name, "sysctl", "-qw", k).CombinedOutput(); err != nil {
			t.Fatalf("sysctl %s: %v\n%s", k, err, out)
		}
	}
	r := &fpRig{}
	h, err := netns.GetFromName(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	r.ns = h
	pins, err := OpenPins(t.TempDir(), "tunnel")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pins.Close)
	r.in(t, func() {
		for _, x := range []struct {
			n   string
			idx *int
			mac *net.HardwareAddr
		}{{"a0", &r.a0, &r.a0MAC}, {"b0", &r.b0, &r.b0MAC}, {"c0", &r.c0, nil}, {"h0", &r.h0, &r.hMAC}, {"v0", &r.v0, &r.vMAC}} {
			ifc, err := net.InterfaceByName(x.n)
			if err != nil {
				t.Fatal(err)
			}
			*x.idx = ifc.Index
			if x.mac != nil {
				*x.mac = ifc.HardwareAddr
			}
		}
		tp, err := OpenTunnels(pins.Dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { tp.Close() })
		r.tp = tp
		// b1 takes redirected frames into b0 (GRO on: NAPI), a1 does not.
		if out, err := exec.Command("ethtool", "-K", "b1", "gro", "on").CombinedOutput(); err != nil {
			t.Fatalf("ethtool: %v\n%s", err, out)
		}
		for _, p := range []struct {
			n   string
			idx int
			tx  bool
		}{{"a0", r.a0, false}, {"b0", r.b0, true}} {
			_, tx, err := tp.AddFastPort(p.idx, p.n, "")
			if err != nil {
				t.Fatal(err)
			}
			if tx != p.tx {
				t.Errorf("%s takes redirects: %v, want %v", p.n, tx, p.tx)
			}
		}
		if err := tp.SetFastPath(true, true, false, false); err != nil {
			t.Fatal(err)
		}
	})
	return r
}

// run runs xdp_port once on pkt as received on ifindex and returns the verdict and the
// frame as the program left it.
func (r *fpRig) run(t *testing.T, ifindex int, pkt []byte) (uint32, []byte) {
	t.Helper()
	var (
		ret uint32
		out []byte
	)
	r.in(t, func() {
		ctx := xdpMd{DataEnd: uint32(len(pkt)), IngressIfindex: uint32(ifindex)}
		opts := &ebpf.RunOptions{Data: pkt, DataOut: make([]byte, len(pkt)+256), Context: ctx}
		var err error
		ret, err = r.tp.objs.XdpPort.Run(opts)
		if err != nil {
			t.Fatal(err)
		}
		out = opts.DataOut
	})
	return ret, out
}

func withCsum(ip []byte) []byte {
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], ipCsum(ip[:20]))
	return ip
}

func frameTo(dst net.HardwareAddr, typ uint16, l3 []byte) []byte {
	f := ether(typ, l3)
	copy(f, dst)
	return f
}

func ipv6Pkt(src, dst string, hop byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0], b[6], b[7] = 0x60, 17, hop
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	return append(b, payload...)
}

// TestFastPathForward: xdp_port forwards what the kernel would forward (TTL and hop
// limit decremented, IPv4 checksum still valid, MACs of the next hop) and hands
// everything else to the stack unchanged, each with its pass reason counted.
func TestFastPathForward(t *testing.T) {
	r := newFPRig(t)
	src, dst := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.2.2")
	udp := make([]byte, 28)
	v4 := func(d netip.Addr, ttl byte, size int) []byte {
		ip := ipv4(17, src, d, make([]byte, size))
		ip[8] = ttl
		return frameTo(r.a0MAC, 0x0800, withCsum(ip))
	}

	// Forwarded: TTL 64 -> 63, checksum valid, next hop's MAC from b0's.
	in := v4(dst, 64, len(udp))
	ret, out := r.run(t, r.a0, in)
	if ret != xdpRedirect {
		t.Fatalf("verdict %d, want redirect", ret)
	}
	ip := out[14:34]
	if ip[8] != 63 || ipCsum(ip) != 0 {
		t.Errorf("TTL %d, checksum check %#x (want 63, 0)", ip[8], ipCsum(ip))
	}
	if !bytes.Equal(out[:6], neighMAC) || !bytes.Equal(out[6:12], r.b0MAC) {
		t.Errorf("MACs %x -> %x, want %s -> %s", out[6:12], out[:6], r.b0MAC, neighMAC)
	}
	if !bytes.Equal(out[34:len(in)], in[34:]) {
		t.Errorf("payload changed")
	}
	// TTL 0x01 of a checksum near the fold edge: the incremental update still agrees.
	edge := v4(dst, 2, 4)
	ret, out = r.run(t, r.a0, edge)
	if ret != xdpRedirect || ipCsum(out[14:34]) != 0 {
		t.Errorf("TTL 2: verdict %d, checksum check %#x", ret, ipCsum(out[14:34]))
	}

	v6 := ipv6Pkt("2001:db8:1::2", "2001:db8:2::2", 64, make([]byte, 16))
	ret, out = r.run(t, r.a0, frameTo(r.a0MAC, 0x86dd, v6))
	if ret != xdpRedirect || out[14+7] != 63 || !bytes.Equal(out[:6], neighMAC) {
		t.Errorf("IPv6: verdict %d hop limit %d dst %x", ret, out[14+7], out[:6])
	}

	withOptions := func() []byte {
		ip := ipv4(17, src, dst, append([]byte{1, 1, 1, 0}, udp...))
		ip[0] = 0x46
		return frameTo(r.a0MAC, 0x0800, withCsum(ip))
	}
	hbh := ipv6Pkt("2001:db8:1::2", "2001:db8:2::2", 64, make([]byte, 16))
	hbh[6] = 0
	otherMAC := v4(dst, 64, 28)
	copy(otherMAC, []byte{2, 9, 9, 9, 9, 9})
	r.in(t, func() {
		if err := exec.Command("ip", "link", "set", "b0", "mtu", "1280").Run(); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		name   string
		pkt    []byte
		reason int
	}{
		{"ttl 1", v4(dst, 1, 28), 3},
		{"local", v4(netip.MustParseAddr("198.18.1.1"), 64, 28), 4},
		{"broadcast", v4(netip.MustParseAddr("198.18.2.255"), 64, 28), 4},
		{"options", withOptions(), 2},
		{"not our MAC", otherMAC, 1},
		{"unreachable route", v4(netip.MustParseAddr("198.19.9.9"), 64, 28), 7},
		{"no route", v4(netip.MustParseAddr("198.19.10.9"), 64, 28), 4},
		{"unresolved", v4(netip.MustParseAddr("198.18.2.9"), 64, 28), 6},
		{"over mtu", v4(dst, 64, 1400), 5},
		{"egress not a fast path port", v4(netip.MustParseAddr("198.18.4.2"), 64, 28), 8},
		{"hop limit 1", frameTo(r.a0MAC, 0x86dd, ipv6Pkt("2001:db8:1::2", "2001:db8:2::2", 1, nil)), 3},
		{"hop-by-hop", frameTo(r.a0MAC, 0x86dd, hbh), 2},
		{"link-local", frameTo(r.a0MAC, 0x86dd, ipv6Pkt("fe80::2", "2001:db8:2::2", 64, nil)), 4},
		{"arp", frameTo(r.a0MAC, 0x0806, make([]byte, 28)), 1},
	} {
		before, _ := r.tp.FastPortStats(r.a0)
		ret, out := r.run(t, r.a0, tc.pkt)
		after, err := r.tp.FastPortStats(r.a0)
		if err != nil {
			t.Fatal(err)
		}
		if ret != xdpPass || !bytes.Equal(out[:len(tc.pkt)], tc.pkt) {
			t.Errorf("%s: verdict %d (want pass), frame changed: %v", tc.name, ret, !bytes.Equal(out[:len(tc.pkt)], tc.pkt))
		}
		if after.Pass[tc.reason] != before.Pass[tc.reason]+1 || after.Packets4+after.Packets6 != before.Packets4+before.Packets6 {
			t.Errorf("%s: pass counters %v -> %v, want %s counted", tc.name, before.Pass, after.Pass, PassReasons[tc.reason])
		}
	}

	st, err := r.tp.FastPortStats(r.a0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Packets4 != 2 || st.Packets6 != 1 || st.Bytes4 != uint64(len(in)-14+len(edge)-14) {
		t.Errorf("counters %+v", st)
	}

	// Off (allow-fast-path=no, or a firewall rule): everything to the stack.
	r.in(t, func() { r.tp.SetFastPath(false, false, false, false) })
	if ret, _ := r.run(t, r.a0, v4(dst, 64, 28)); ret != xdpPass {
		t.Errorf("fast path off: verdict %d", ret)
	}
	if ret, _ := r.run(t, r.a0, frameTo(r.a0MAC, 0x86dd, v6)); ret != xdpPass {
		t.Errorf("fast path off, IPv6: verdict %d", ret)
	}
	// A port that is no fast path port forwards nothing.
	r.in(t, func() { r.tp.SetFastPath(true, true, false, false) })
	r.in(t, func() { r.tp.RemoveFastPort(r.a0, "a0") })
	if ret, _ := r.run(t, r.a0, v4(dst, 64, 28)); ret != xdpPass {
		t.Errorf("removed port: verdict %d", ret)
	}
}

// TestDecapAndForward: a GRE packet whose inner destination leaves by another fast path
// port is decapsulated and forwarded in one pass; with allow-fast-path=no on the tunnel
// it is delivered to the tunnel interface as before.
func TestDecapAndForward(t *testing.T) {
	r := newFPRig(t)
	local, remote := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")
	r.in(t, func() {
		if err := exec.Command("sysctl", "-qw", "net.ipv4.conf.v0.forwarding=1").Run(); err != nil {
			t.Fatal(err)
		}
	})
	tn := Tunnel{Kind: GRE, Local: local, Remote: remote, TTL: 64, Hidden: r.h0, Visible: r.v0,
		VisibleMAC: r.vMAC, HiddenMAC: r.hMAC, FastPath: true}
	if err := r.tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	inner := withCsum(ipv4(17, netip.MustParseAddr("198.18.5.2"), netip.MustParseAddr("198.18.2.2"), make([]byte, 40)))
	pkt := frameTo(r.a0MAC, 0x0800, withCsum(ipv4(47, remote, local, gre(0, 0x0800, nil, inner))))
	ret, out := r.run(t, r.a0, pkt)
	if ret != xdpRedirect {
		t.Fatalf("verdict %d, want redirect", ret)
	}
	if !bytes.Equal(out[:6], neighMAC) || !bytes.Equal(out[6:12], r.b0MAC) || out[14+8] != 63 || ipCsum(out[14:34]) != 0 {
		t.Errorf("forwarded frame %x", out[:34])
	}
	if !bytes.Equal(out[14+20:14+len(inner)], inner[20:]) {
		t.Errorf("inner payload changed")
	}
	st, _ := r.tp.FastPortStats(r.a0)
	ts, _ := r.tp.Stats(r.h0)
	if st.Packets4 != 1 || ts.RxPackets != 1 {
		t.Errorf("fast path %+v, tunnel rx %d", st, ts.RxPackets)
	}

	// A tunnel that clamps the MSS takes the general decapsulation path: forwarded the same.
	tn.ClampMSS, tn.MSS4, tn.MSS6 = true, 1400, 1380
	if err := r.tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	ret, out = r.run(t, r.a0, pkt)
	if ret != xdpRedirect || !bytes.Equal(out[:6], neighMAC) || out[14+8] != 63 || ipCsum(out[14:34]) != 0 {
		t.Errorf("clamping tunnel: verdict %d frame %x", ret, out[:34])
	}

	tn.FastPath = false
	if err := r.tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	ret, out = r.run(t, r.a0, pkt)
	if ret != xdpRedirect || !bytes.Equal(out[:6], r.vMAC) || out[14+8] != 64 {
		t.Errorf("allow-fast-path=no: verdict %d frame %x (want the inner packet to the visible end, TTL 64)", ret, out[:34])
	}
}

// udpPkt is an IPv4 UDP packet with valid IP and UDP checksums.
func udpPkt(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	u := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(u, sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	u = append(u, payload...)
	binary.BigEndian.PutUint16(u[6:], l4Csum(src, dst, 17, u))
	return withCsum(ipv4(17, src, dst, u))
}

// l4Csum is the UDP/TCP checksum of seg (its checksum field zero or not: it is summed
// as it is, so a valid segment sums to 0).
func l4Csum(src, dst netip.Addr, proto byte, seg []byte) uint16 {
	s, d := src.As4(), dst.As4()
	ph := append(append(append([]byte{}, s[:]...), d[:]...), 0, proto, byte(len(seg)>>8), byte(len(seg)))
	return ipCsum(append(ph, seg...))
}

// TestFastTrackNAT: with the firewall's rules in the way (FastPath off for IPv4), a UDP
// packet of a connection marked fasttracked (conntrack mark bit 31, the entry made with
// conntrack -I as a masquerading router's) is forwarded with the NAT of its entry applied
// (source address and port), IPv4 and UDP checksums still valid; an unmarked connection's
// packet goes to the stack untouched.
func TestFastTrackNAT(t *testing.T) {
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("needs conntrack (conntrack-tools)")
	}
	r := newFPRig(t)
	r.in(t, func() {
		if err := r.tp.SetFastPath(false, false, true, false); err != nil {
			t.Fatal(err)
		}
	})
	src, dst, nat := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.2.2"), netip.MustParseAddr("198.18.2.1")
	entry := func(sport, natPort uint16, mark string) {
		t.Helper()
		r.in(t, func() {
			out, err := exec.Command("conntrack", "-I", "-p", "udp", "-s", src.String(), "-d", dst.String(),
				"--sport", fmt.Sprint(sport), "--dport", "9", "-r", dst.String(), "-q", nat.String(),
				"--reply-port-src", "9", "--reply-port-dst", fmt.Sprint(natPort), "-t", "60", "-u", "SEEN_REPLY,ASSURED",
				"-m", mark).CombinedOutput()
			if err != nil {
				t.Fatalf("conntrack -I: %v\n%s", err, out)
			}
		})
	}
	entry(1000, 40000, "2147483648") // FastTrackMark
	entry(1001, 40001, "1")
	in := frameTo(r.a0MAC, 0x0800, udpPkt(src, dst, 1000, 9, []byte("fasttracked")))
	ret, out := r.run(t, r.a0, in)
	if ret != xdpRedirect {
		t.Fatalf("fasttracked: verdict %d, want redirect", ret)
	}
	ip := out[14 : 14+len(in)-14]
	gotSrc, _ := netip.AddrFromSlice(ip[12:16])
	if gotSrc != nat || binary.BigEndian.Uint16(ip[20:]) != 40000 || ip[8] != 63 {
		t.Errorf("after NAT: src %s:%d ttl %d, want %s:40000 ttl 63", gotSrc, binary.BigEndian.Uint16(ip[20:]), ip[8], nat)
	}
	if ipCsum(ip[:20]) != 0 || l4Csum(nat, dst, 17, ip[20:]) != 0 {
		t.Errorf("checksums: ip %#x udp %#x (want 0 when valid)", ipCsum(ip[:20]), l4Csum(nat, dst, 17, ip[20:]))
	}
	st, _ := r.tp.FastPortStats(r.a0)
	if st.FastTrack4 != 1 {
		t.Errorf("fasttrack counter %d", st.FastTrack4)
	}
	plain := frameTo(r.a0MAC, 0x0800, udpPkt(src, dst, 1001, 9, []byte("not fasttracked")))
	if ret, out := r.run(t, r.a0, plain); ret != xdpPass || !bytes.Equal(out[:len(plain)], plain) {
		t.Errorf("unmarked connection: verdict %d (want pass, untouched)", ret)
	}
	unknown := frameTo(r.a0MAC, 0x0800, udpPkt(src, dst, 1002, 9, nil))
	if ret, _ := r.run(t, r.a0, unknown); ret != xdpPass {
		t.Errorf("no connection: verdict %d (want pass)", ret)
	}
}

// TestXDPVethPortGRO: a veth port running the port program natively gets GRO on, since
// the program takes TSO from its peer (a host behind it then sends 1.5 KB packets that
// nothing would put back together); a veth that is no port is left as it was.
func TestXDPVethPortGRO(t *testing.T) {
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("needs ethtool")
	}
	r := newFPRig(t)
	r.in(t, func() {
		for _, x := range []struct {
			n  string
			on bool
		}{{"a0", true}, {"b0", true}, {"a1", false}, {"c0", false}} {
			out, err := exec.Command("ethtool", "-k", x.n).CombinedOutput()
			if err != nil {
				t.Fatalf("ethtool -k %s: %v\n%s", x.n, err, out)
			}
			on := strings.Contains(string(out), "generic-receive-offload: on")
			if on != x.on {
				t.Errorf("%s: GRO on %v, want %v:\n%s", x.n, on, x.on, out)
			}
		}
		// The peer of a port has lost TSO to the program: what GRO makes up for.
		out, _ := exec.Command("ethtool", "-k", "a1").CombinedOutput()
		if !strings.Contains(string(out), "tcp-segmentation-offload: off") {
			t.Errorf("a1 kept TSO beside a0's XDP program: the reason for GRO is gone:\n%s", out)
		}
	})
}
