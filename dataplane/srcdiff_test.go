package dataplane

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// kernelPath sends frames into the rig as a1 (the peer of a0) and watches which of b1
// and c1 a frame leaves the router by: the kernel's own forwarding, to compare the fast
// path with. The fast path is off while it runs (the port program passes everything).
type kernelPath struct {
	r      *fpRig
	a1     int
	tx     int            // AF_PACKET socket on a1
	rx     map[string]int // AF_PACKET sockets on b1, c1
	srcMAC net.HardwareAddr
}

func newKernelPath(t *testing.T, r *fpRig) *kernelPath {
	t.Helper()
	k := &kernelPath{r: r, rx: map[string]int{}}
	r.in(t, func() {
		open := func(name string) (int, int) {
			ifc, err := net.InterfaceByName(name)
			if err != nil {
				t.Fatal(err)
			}
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Close(fd) })
			if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
				t.Fatal(err)
			}
			if name == "a1" {
				k.srcMAC = ifc.HardwareAddr
			}
			return fd, ifc.Index
		}
		k.tx, k.a1 = open("a1")
		for _, n := range []string{"b1", "c1"} {
			k.rx[n], _ = open(n)
			unix.SetsockoptTimeval(k.rx[n], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50000})
		}
	})
	return k
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// forwardedBy sends frame (whose payload ends with mark) from a1 and returns the port
// ("b1", "c1") it came out of, or "" when it did not within wait.
func (k *kernelPath) forwardedBy(t *testing.T, frame, mark []byte, wait time.Duration) string {
	t.Helper()
	f := append([]byte{}, frame...)
	copy(f[6:12], k.srcMAC)
	if err := unix.Sendto(k.tx, f, 0, &unix.SockaddrLinklayer{Ifindex: k.a1}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for deadline := time.Now().Add(wait); time.Now().Before(deadline); {
		for name, fd := range k.rx {
			n, _, err := unix.Recvfrom(fd, buf, unix.MSG_DONTWAIT)
			if err != nil || n <= 0 {
				continue
			}
			if bytes.HasSuffix(buf[:n], mark) {
				return name
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return ""
}

// TestFastPathSourceAsKernel compares the fast path with the kernel's forwarding, both in
// the same namespace, for packets whose source the kernel may refuse
// (fib_validate_source): one of the router's own addresses, with and without
// accept_local; rp_filter strict and loose on the input port. Where the kernel drops a
// packet, the fast path must not forward it (it leaves it to the stack, counted as
// martian); where the kernel forwards it, the fast path forwards it too. The interfaces'
// checks reach the program as routerd's engine hands them over (SourceChecks,
// LocalAddrs, read from the namespace's sysctls and addresses).
func TestFastPathSourceAsKernel(t *testing.T) {
	r := newFPRig(t)
	k := newKernelPath(t, r)
	dst := netip.MustParseAddr("198.18.2.2")
	sysctl := func(kv map[string]string) {
		r.in(t, func() {
			for f, v := range kv {
				if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+f, []byte(v), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			addrs, err := LocalAddrs()
			if err != nil {
				t.Fatal(err)
			}
			modes, err := SourceChecks(nil)
			if err == nil {
				err = r.tp.SetLocalAddrs(addrs)
			}
			if err == nil {
				err = r.tp.SetSourceChecks(modes)
			}
			if err != nil {
				t.Fatal(err)
			}
		})
	}
	fast := func(on bool) {
		r.in(t, func() {
			if err := r.tp.SetFastPath(on, on, false, false); err != nil {
				t.Fatal(err)
			}
		})
	}
	seq := 0
	for _, tc := range []struct {
		name string
		conf map[string]string
		src  string
	}{
		{"plain source", nil, "198.18.1.2"},
		{"own address of another port", nil, "198.18.2.1"},
		{"own address of a port that is no fast path port", nil, "198.18.4.1"},
		{"own address of the input port", nil, "198.18.1.1"},
		{"source behind another port, rp_filter off", nil, "198.18.4.7"},
		{"own address, accept_local", map[string]string{"a0/accept_local": "1"}, "198.18.2.1"},
		{"strict rp_filter, source behind another port", map[string]string{"a0/accept_local": "0", "a0/rp_filter": "1"}, "198.18.4.7"},
		{"strict rp_filter, source behind the input port", nil, "198.18.1.2"},
		{"strict rp_filter (all), source behind another port", map[string]string{"a0/rp_filter": "0", "all/rp_filter": "1"}, "198.18.4.7"},
		{"loose rp_filter, source behind another port", map[string]string{"all/rp_filter": "0", "a0/rp_filter": "2"}, "198.18.4.7"},
		{"loose rp_filter, unreachable source", nil, "198.19.9.9"},
		{"loose rp_filter, source without a route", nil, "198.19.77.7"},
		{"loose rp_filter, own address", nil, "198.18.2.1"},
	} {
		sysctl(tc.conf)
		seq++
		mark := []byte(fmt.Sprintf("srcdiff-%d-%d", os.Getpid(), seq))
		frame := frameTo(r.a0MAC, 0x0800, udpPkt(netip.MustParseAddr(tc.src), dst, 5000+uint16(seq), 9, mark))

		fast(false)
		kern := k.forwardedBy(t, frame, mark, 2*time.Second) != ""
		fast(true)
		before, _ := r.tp.FastPortStats(r.a0)
		ret, _ := r.run(t, r.a0, frame)
		after, _ := r.tp.FastPortStats(r.a0)
		fwd := ret == xdpRedirect
		if kern != fwd {
			t.Errorf("%s (source %s): kernel forwards %v, fast path forwards %v (pass %v -> %v)", tc.name, tc.src, kern, fwd, before.Pass, after.Pass)
		}
		if !fwd && after.Pass[passMartian] != before.Pass[passMartian]+1 {
			t.Errorf("%s: not counted as martian: %v -> %v", tc.name, before.Pass, after.Pass)
		}
		t.Logf("%s: source %s: kernel forwards %v, fast path %v", tc.name, tc.src, kern, fwd)
	}

	// IPv6 knows no source validation: a source of ours is forwarded by both.
	seq++
	mark := []byte(fmt.Sprintf("srcdiff-%d-%d", os.Getpid(), seq))
	udp := make([]byte, 8, 8+len(mark))
	binary.BigEndian.PutUint16(udp, 5000)
	binary.BigEndian.PutUint16(udp[2:], 9)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(mark)))
	udp = append(udp, mark...)
	frame := frameTo(r.a0MAC, 0x86dd, ipv6Pkt("2001:db8:2::1", "2001:db8:2::2", 64, udp))
	fast(false)
	kern := k.forwardedBy(t, frame, mark, 2*time.Second) != ""
	fast(true)
	ret, _ := r.run(t, r.a0, frame)
	if kern != (ret == xdpRedirect) {
		t.Errorf("IPv6 own source: kernel forwards %v, fast path verdict %d", kern, ret)
	}
	t.Logf("IPv6 own source: kernel forwards %v, fast path verdict %d", kern, ret)
}

// TestFastPathMultipathAsKernel: with fib_multipath_hash_policy 1 (layer 4), each flow
// of a route with two next hops leaves by the port the kernel's forwarding picks for
// it: the fast path gives the lookup the flow's ports, as the kernel's flow dissector
// finds them.
func TestFastPathMultipathAsKernel(t *testing.T) {
	r := newFPRig(t)
	k := newKernelPath(t, r)
	r.in(t, func() {
		for _, c := range [][]string{
			{"sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1"},
			{"ethtool", "-K", "c1", "gro", "on"},
			{"ip", "route", "add", "198.18.20.0/24", "nexthop", "via", "198.18.2.2", "dev", "b0", "nexthop", "via", "198.18.4.2", "dev", "c0"},
		} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", c, err, out)
			}
		}
		if _, _, err := r.tp.AddFastPort(r.c0, "c0", ""); err != nil {
			t.Fatal(err)
		}
	})
	src, dst := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.20.5")
	c0MAC := func() net.HardwareAddr {
		var m net.HardwareAddr
		r.in(t, func() {
			ifc, err := net.InterfaceByIndex(r.c0)
			if err != nil {
				t.Fatal(err)
			}
			m = ifc.HardwareAddr
		})
		return m
	}()
	by := map[string]int{}
	for i := 0; i < 16; i++ {
		mark := []byte(fmt.Sprintf("mpath-%d-%d", os.Getpid(), i))
		frame := frameTo(r.a0MAC, 0x0800, udpPkt(src, dst, 20000+uint16(i)*7, 443, mark))
		r.in(t, func() { r.tp.SetFastPath(false, false, false, false) })
		kern := k.forwardedBy(t, frame, mark, 3*time.Second)
		r.in(t, func() { r.tp.SetFastPath(true, true, false, false) })
		ret, out := r.run(t, r.a0, frame)
		fp := ""
		switch {
		case ret != xdpRedirect:
		case bytes.Equal(out[6:12], r.b0MAC):
			fp = "b1"
		case bytes.Equal(out[6:12], c0MAC):
			fp = "c1"
		}
		if kern != fp {
			t.Errorf("flow %d: the kernel sends it to %q, the fast path to %q (verdict %d)", i, kern, fp, ret)
		}
		by[kern]++
	}
	if by["b1"] == 0 || by["c1"] == 0 {
		t.Errorf("flows by port %v: want both next hops used", by)
	}
}

// TestFastPathRedirectAndICMPErrors: a packet that would leave by the port it came in on
// goes to the stack, which forwards it and tells the sender of the better next hop (ICMP
// redirect); transit ICMP errors go to the stack, whose multipath hash reads the packet
// they quote; an echo request is forwarded.
func TestFastPathRedirectAndICMPErrors(t *testing.T) {
	r := newFPRig(t)
	r.in(t, func() {
		if out, err := exec.Command("ip", "neigh", "add", "198.18.1.3", "lladdr", neighMAC.String(), "dev", "a0", "nud", "permanent").CombinedOutput(); err != nil {
			t.Fatalf("ip neigh: %v\n%s", err, out)
		}
	})
	src, dst := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.2.2")
	r.expectPass(t, "hairpin", frameTo(r.a0MAC, 0x0800, udpPkt(src, netip.MustParseAddr("198.18.1.3"), 1, 2, []byte("x"))), passRedirect)
	icmp := func(typ byte) []byte {
		m := make([]byte, 8+28)
		m[0] = typ
		binary.BigEndian.PutUint16(m[2:], ipCsum(m))
		return frameTo(r.a0MAC, 0x0800, withCsum(ipv4(1, src, dst, m)))
	}
	for _, typ := range []byte{3, 11, 12} {
		r.expectPass(t, fmt.Sprintf("ICMP type %d", typ), icmp(typ), passICMPError)
	}
	if ret, _ := r.run(t, r.a0, icmp(8)); ret != xdpRedirect {
		t.Errorf("ICMP echo request: verdict %d, want redirect", ret)
	}
	e6 := ipv6Pkt("2001:db8:1::2", "2001:db8:2::2", 64, make([]byte, 48))
	e6[6] = 58
	e6[40] = 1 // destination unreachable
	r.expectPass(t, "ICMPv6 destination unreachable", frameTo(r.a0MAC, 0x86dd, e6), passICMPError)
}

// TestDecapAndForwardEoIP: a routed EoIP tunnel's IP packet (its inner frame addressed
// to the tunnel interface) whose destination leaves by another fast path port is
// decapsulated and forwarded in one pass; a frame for another MAC (a bridged tunnel's
// traffic) and any frame of a tunnel without the fast path are delivered to the tunnel
// interface as before.
func TestDecapAndForwardEoIP(t *testing.T) {
	r := newFPRig(t)
	local, remote := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")
	r.in(t, func() {
		if err := exec.Command("sysctl", "-qw", "net.ipv4.conf.v0.forwarding=1").Run(); err != nil {
			t.Fatal(err)
		}
	})
	tn := Tunnel{Kind: EoIP, Local: local, Remote: remote, TunnelID: 7, TTL: 64, Hidden: r.h0, Visible: r.v0,
		VisibleMAC: r.vMAC, HiddenMAC: r.hMAC, FastPath: true}
	if err := r.tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	inner := udpPkt(netip.MustParseAddr("198.18.5.2"), netip.MustParseAddr("198.18.2.2"), 7, 9, make([]byte, 40))
	eoipPkt := func(dstMAC net.HardwareAddr) []byte {
		frame := frameTo(dstMAC, 0x0800, inner)
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h, 0x2001)
		binary.BigEndian.PutUint16(h[2:], 0x6400)
		binary.BigEndian.PutUint16(h[4:], uint16(len(frame)))
		binary.LittleEndian.PutUint16(h[6:], 7)
		return frameTo(r.a0MAC, 0x0800, withCsum(ipv4(47, remote, local, append(h, frame...))))
	}
	ret, out := r.run(t, r.a0, eoipPkt(r.vMAC))
	if ret != xdpRedirect || !bytes.Equal(out[:6], neighMAC) || !bytes.Equal(out[6:12], r.b0MAC) ||
		out[14+8] != 63 || ipCsum(out[14:34]) != 0 || !bytes.Equal(out[34:14+len(inner)], inner[20:]) {
		t.Errorf("routed EoIP: verdict %d frame %x (want forwarded out of b0, TTL 63)", ret, out[:34])
	}
	st, _ := r.tp.FastPortStats(r.a0)
	ts, _ := r.tp.Stats(r.h0)
	if st.Packets4 != 1 || ts.RxPackets != 1 {
		t.Errorf("fast path %+v, tunnel rx %d", st, ts.RxPackets)
	}
	other := net.HardwareAddr{2, 0, 0, 0, 0x33, 0x33}
	ret, out = r.run(t, r.a0, eoipPkt(other))
	if ret != xdpRedirect || !bytes.Equal(out[:6], other) || out[14+8] != 64 {
		t.Errorf("frame for another MAC: verdict %d frame %x (want the inner frame unchanged to the tunnel)", ret, out[:34])
	}
	tn.FastPath = false
	if err := r.tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	ret, out = r.run(t, r.a0, eoipPkt(r.vMAC))
	if ret != xdpRedirect || !bytes.Equal(out[:6], r.vMAC) || out[14+8] != 64 {
		t.Errorf("allow-fast-path=no: verdict %d frame %x (want the inner frame unchanged to the tunnel)", ret, out[:34])
	}
}

// l4Csum6 is the UDP/TCP checksum of seg over IPv6 (RFC 8200 8.1); a valid segment sums
// to 0.
func l4Csum6(src, dst netip.Addr, proto byte, seg []byte) uint16 {
	s, d := src.As16(), dst.As16()
	ph := append(append(append([]byte{}, s[:]...), d[:]...), 0, 0, byte(len(seg)>>8), byte(len(seg)), 0, 0, 0, proto)
	return ipCsum(append(ph, seg...))
}

// TestFastTrackNAT6: IPv6 FastTrack. With the firewall in the way (FastPath off for IPv6),
// a UDP packet of a fasttracked connection (the entry made with conntrack -I, with source
// NAT to the router's address) is forwarded with the NAT applied and a valid UDP
// checksum, counted as IPv6 FastTrack; an unmarked connection's packet and one of no
// connection go to the stack.
func TestFastTrackNAT6(t *testing.T) {
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("needs conntrack (conntrack-tools)")
	}
	r := newFPRig(t)
	r.in(t, func() {
		if err := r.tp.SetFastPath(false, false, false, true); err != nil {
			t.Fatal(err)
		}
	})
	src, dst, nat := netip.MustParseAddr("2001:db8:1::2"), netip.MustParseAddr("2001:db8:2::2"), netip.MustParseAddr("2001:db8:2::1")
	for _, e := range []struct {
		sport, natPort uint16
		mark           string
	}{{1000, 40000, "2147483648"}, {1001, 40001, "1"}} {
		r.in(t, func() {
			out, err := exec.Command("conntrack", "-I", "-p", "udp", "-s", src.String(), "-d", dst.String(),
				"--sport", fmt.Sprint(e.sport), "--dport", "9", "-r", dst.String(), "-q", nat.String(),
				"--reply-port-src", "9", "--reply-port-dst", fmt.Sprint(e.natPort), "-t", "60", "-u", "SEEN_REPLY,ASSURED",
				"-m", e.mark).CombinedOutput()
			if err != nil {
				t.Fatalf("conntrack -I: %v\n%s", err, out)
			}
		})
	}
	udp6 := func(sport uint16, payload string) []byte {
		u := make([]byte, 8, 8+len(payload))
		binary.BigEndian.PutUint16(u, sport)
		binary.BigEndian.PutUint16(u[2:], 9)
		binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
		u = append(u, payload...)
		binary.BigEndian.PutUint16(u[6:], l4Csum6(src, dst, 17, u))
		return frameTo(r.a0MAC, 0x86dd, ipv6Pkt(src.String(), dst.String(), 64, u))
	}
	ret, out := r.run(t, r.a0, udp6(1000, "fasttracked"))
	if ret != xdpRedirect {
		t.Fatalf("fasttracked: verdict %d, want redirect", ret)
	}
	ip := out[14 : 14+40+8+len("fasttracked")]
	gotSrc, _ := netip.AddrFromSlice(ip[8:24])
	if gotSrc != nat || binary.BigEndian.Uint16(ip[40:]) != 40000 || ip[7] != 63 || !bytes.Equal(out[:6], neighMAC) {
		t.Errorf("after NAT: src [%s]:%d hop limit %d, want [%s]:40000, 63", gotSrc, binary.BigEndian.Uint16(ip[40:]), ip[7], nat)
	}
	if c := l4Csum6(nat, dst, 17, ip[40:]); c != 0 {
		t.Errorf("UDP checksum after NAT: %#x (want 0 when valid)", c)
	}
	st, _ := r.tp.FastPortStats(r.a0)
	if st.FastTrack6 != 1 || st.Packets6 != 1 || st.FastTrack4 != 0 {
		t.Errorf("counters %+v, want one IPv6 FastTrack packet", st)
	}
	for _, sport := range []uint16{1001, 1002} {
		in := udp6(sport, "to the stack")
		if ret, out := r.run(t, r.a0, in); ret != xdpPass || !bytes.Equal(out[:len(in)], in) {
			t.Errorf("port %d (unmarked or no connection): verdict %d (want pass, untouched)", sport, ret)
		}
	}
}

// TestDecapAndForwardIPIP6to4: IPIP and 6to4 tunnels' payloads whose destination leaves
// by another fast path port are decapsulated and forwarded in one pass, as GRE's.
func TestDecapAndForwardIPIP6to4(t *testing.T) {
	r := newFPRig(t)
	local, remote := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")
	r.in(t, func() {
		for _, k := range []string{"net.ipv4.conf.v0.forwarding=1", "net.ipv6.conf.v0.forwarding=1"} {
			if err := exec.Command("sysctl", "-qw", k).Run(); err != nil {
				t.Fatal(err)
			}
		}
	})
	for _, tc := range []struct {
		kind  Kind
		proto byte
		inner []byte
		hop   int // offset of the TTL / hop limit in the forwarded frame
	}{
		{IPIP, 4, udpPkt(netip.MustParseAddr("198.18.5.2"), netip.MustParseAddr("198.18.2.2"), 7, 9, make([]byte, 40)), 14 + 8},
		{SixToFour, 41, ipv6Pkt("2002:c612:102::2", "2001:db8:2::2", 64, make([]byte, 40)), 14 + 7},
	} {
		tn := Tunnel{Kind: tc.kind, Local: local, Remote: remote, TTL: 64, Hidden: r.h0, Visible: r.v0,
			VisibleMAC: r.vMAC, HiddenMAC: r.hMAC, FastPath: true}
		if err := r.tp.Set(tn); err != nil {
			t.Fatal(err)
		}
		before, _ := r.tp.FastPortStats(r.a0)
		pkt := frameTo(r.a0MAC, 0x0800, withCsum(ipv4(tc.proto, remote, local, tc.inner)))
		ret, out := r.run(t, r.a0, pkt)
		if ret != xdpRedirect || !bytes.Equal(out[:6], neighMAC) || !bytes.Equal(out[6:12], r.b0MAC) || out[tc.hop] != 63 {
			t.Errorf("kind %d: verdict %d frame %x (want forwarded out of b0, TTL/hop limit 63)", tc.kind, ret, out[:40])
		}
		after, _ := r.tp.FastPortStats(r.a0)
		if after.Packets4+after.Packets6 != before.Packets4+before.Packets6+1 {
			t.Errorf("kind %d: fast path counters %+v -> %+v", tc.kind, before, after)
		}
		if err := r.tp.Delete(r.h0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFastPathIPsecPolicyRoute: routerd's userspace ESP steers what IPsec policies cover
// with a routing rule ("not fwmark bypass: lookup the policy table") to its TUN device.
// The fast path's lookup follows the rule as the kernel's forwarding does: a destination
// the policy table sends to a device that is no fast path port (c0 here, as the ESP TUN)
// goes to the stack, and traffic beside it is still forwarded by the fast path, which
// now checks the route back to every source (custom rules: fib_validate_source's full
// check) as the kernel does.
func TestFastPathIPsecPolicyRoute(t *testing.T) {
	r := newFPRig(t)
	k := newKernelPath(t, r)
	r.in(t, func() {
		for _, c := range [][]string{
			{"ip", "rule", "add", "not", "fwmark", "0x10000/0x10000", "table", "220", "prio", "100"},
			{"ip", "route", "add", "198.18.2.128/25", "dev", "c0", "table", "220"},
			{"ip", "route", "add", "198.18.30.0/24", "via", "198.18.2.2", "dev", "b0"},
			{"ip", "neigh", "replace", "198.18.2.130", "lladdr", neighMAC.String(), "dev", "c0", "nud", "permanent"},
		} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", c, err, out)
			}
		}
		modes, err := SourceChecks(nil)
		if err != nil {
			t.Fatal(err)
		}
		if modes[r.a0]&SrcvFull == 0 {
			t.Errorf("custom rule not seen: a0's source check %#x", modes[r.a0])
		}
		if err := r.tp.SetSourceChecks(modes); err != nil {
			t.Fatal(err)
		}
	})
	src := netip.MustParseAddr("198.18.1.2")
	for i, tc := range []struct {
		dst    string
		kernel string // the port the kernel sends it out of
		fast   bool
		reason int
	}{
		{"198.18.2.130", "c1", false, 8}, // the policy table: the stack (egress)
		{"198.18.30.5", "b1", true, 0},   // main table via b0: the fast path
		{"198.18.2.2", "b1", true, 0},    // outside the policy's /25: main table
	} {
		mark := []byte(fmt.Sprintf("policy-%d-%d", os.Getpid(), i))
		frame := frameTo(r.a0MAC, 0x0800, udpPkt(src, netip.MustParseAddr(tc.dst), 7000, 9, mark))
		r.in(t, func() { r.tp.SetFastPath(false, false, false, false) })
		if got := k.forwardedBy(t, frame, mark, 3*time.Second); got != tc.kernel {
			t.Errorf("%s: the kernel sends it to %q, want %q", tc.dst, got, tc.kernel)
		}
		r.in(t, func() { r.tp.SetFastPath(true, true, false, false) })
		if tc.fast {
			if ret, _ := r.run(t, r.a0, frame); ret != xdpRedirect {
				t.Errorf("%s: verdict %d, want forwarded by the fast path", tc.dst, ret)
			}
		} else {
			r.expectPass(t, tc.dst, frame, tc.reason)
		}
	}
}

// TestFastPathMultipathAsKernel6 is TestFastPathMultipathAsKernel for IPv6
// (net.ipv6.fib_multipath_hash_policy 1).
func TestFastPathMultipathAsKernel6(t *testing.T) {
	r := newFPRig(t)
	k := newKernelPath(t, r)
	r.in(t, func() {
		for _, c := range [][]string{
			{"sysctl", "-qw", "net.ipv6.fib_multipath_hash_policy=1"},
			{"ethtool", "-K", "c1", "gro", "on"},
			{"ip", "addr", "add", "2001:db8:4::1/64", "dev", "c0", "nodad"},
			{"ip", "neigh", "add", "2001:db8:4::2", "lladdr", neighMAC.String(), "dev", "c0", "nud", "permanent"},
			{"ip", "-6", "route", "add", "2001:db8:20::/64", "nexthop", "via", "2001:db8:2::2", "dev", "b0", "nexthop", "via", "2001:db8:4::2", "dev", "c0"},
		} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", c, err, out)
			}
		}
		if _, _, err := r.tp.AddFastPort(r.c0, "c0", ""); err != nil {
			t.Fatal(err)
		}
	})
	var c0MAC net.HardwareAddr
	r.in(t, func() {
		ifc, err := net.InterfaceByIndex(r.c0)
		if err != nil {
			t.Fatal(err)
		}
		c0MAC = ifc.HardwareAddr
	})
	by := map[string]int{}
	for i := 0; i < 16; i++ {
		mark := []byte(fmt.Sprintf("mpath6-%d-%d", os.Getpid(), i))
		udp := make([]byte, 8, 8+len(mark))
		binary.BigEndian.PutUint16(udp, 20000+uint16(i)*7)
		binary.BigEndian.PutUint16(udp[2:], 443)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(mark)))
		udp = append(udp, mark...)
		src, dst := netip.MustParseAddr("2001:db8:1::2"), netip.MustParseAddr("2001:db8:20::5")
		binary.BigEndian.PutUint16(udp[6:], l4Csum6(src, dst, 17, udp))
		frame := frameTo(r.a0MAC, 0x86dd, ipv6Pkt(src.String(), dst.String(), 64, udp))
		r.in(t, func() { r.tp.SetFastPath(false, false, false, false) })
		kern := k.forwardedBy(t, frame, mark, 3*time.Second)
		r.in(t, func() { r.tp.SetFastPath(true, true, false, false) })
		ret, out := r.run(t, r.a0, frame)
		fp := ""
		switch {
		case ret != xdpRedirect:
		case bytes.Equal(out[6:12], r.b0MAC):
			fp = "b1"
		case bytes.Equal(out[6:12], c0MAC):
			fp = "c1"
		}
		if kern != fp {
			t.Errorf("flow %d: the kernel sends it to %q, the fast path to %q (verdict %d)", i, kern, fp, ret)
		}
		by[kern]++
	}
	if by["b1"] == 0 || by["c1"] == 0 {
		t.Errorf("flows by port %v: want both next hops used", by)
	}
}
