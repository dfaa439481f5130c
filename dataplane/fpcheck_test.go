package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Indexes of PassReasons (enum fp_pass) the checks below expect.
const (
	passLocal     = 4
	passMalformed = 10
	passMartian   = 11
	passPartial   = 12
	passRedirect  = 13
	passICMPError = 14
)

// expectPass runs pkt into a0 and wants it left to the stack untouched with reason counted.
func (r *fpRig) expectPass(t *testing.T, name string, pkt []byte, reason int) {
	t.Helper()
	before, _ := r.tp.FastPortStats(r.a0)
	ret, out := r.run(t, r.a0, pkt)
	after, err := r.tp.FastPortStats(r.a0)
	if err != nil {
		t.Fatal(err)
	}
	if ret != xdpPass || !bytes.Equal(out[:len(pkt)], pkt) {
		t.Errorf("%s: verdict %d (want pass), frame changed: %v", name, ret, !bytes.Equal(out[:len(pkt)], pkt))
	}
	if after.Pass[reason] != before.Pass[reason]+1 || after.Packets4+after.Packets6 != before.Packets4+before.Packets6 {
		t.Errorf("%s: pass counters %v -> %v, want %s counted", name, before.Pass, after.Pass, PassReasons[reason])
	}
}

// TestFastPathDropsWhatKernelDrops: packets ip_rcv_core / ip6_rcv_core or the route
// lookup would drop (bad IHL, lengths, header checksum, martian addresses; QA's
// qa-xdiff.py cases) are not forwarded but left to the stack, counted as malformed or
// martian, while a well-formed packet beside them is still forwarded.
func TestFastPathDropsWhatKernelDrops(t *testing.T) {
	r := newFPRig(t)
	src, dst := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.2.2")
	udp := func(s, d netip.Addr) []byte { return udpPkt(s, d, 1111, 3000, []byte("MARK")) }
	frame := func(ip []byte) []byte { return frameTo(r.a0MAC, 0x0800, ip) }
	mod := func(f func(ip []byte) []byte) []byte { return frame(f(udp(src, dst))) }

	if ret, _ := r.run(t, r.a0, frame(udp(src, dst))); ret != xdpRedirect {
		t.Fatalf("well-formed: verdict %d, want redirect", ret)
	}
	for _, tc := range []struct {
		name   string
		pkt    []byte
		reason int
	}{
		{"ihl 4", mod(func(ip []byte) []byte { ip[0] = 0x44; return withCsum(ip) }), passMalformed},
		{"total length 10", mod(func(ip []byte) []byte { binary.BigEndian.PutUint16(ip[2:], 10); return withCsum(ip) }), passMalformed},
		{"total length 19", mod(func(ip []byte) []byte { binary.BigEndian.PutUint16(ip[2:], 19); return withCsum(ip) }), passMalformed},
		{"total length over the frame", mod(func(ip []byte) []byte { binary.BigEndian.PutUint16(ip[2:], 1000); return withCsum(ip) }), passMalformed},
		{"bad header checksum", mod(func(ip []byte) []byte { ip[10], ip[11] = 0xde, 0xad; return ip }), passMalformed},
		{"source 127.0.0.1", frame(udp(netip.MustParseAddr("127.0.0.1"), dst)), passMartian},
		{"source 0.0.0.0", frame(udp(netip.MustParseAddr("0.0.0.0"), dst)), passMartian},
		{"source 224.0.0.5", frame(udp(netip.MustParseAddr("224.0.0.5"), dst)), passMartian},
		{"source 255.255.255.255", frame(udp(netip.MustParseAddr("255.255.255.255"), dst)), passMartian},
		{"destination 0.0.0.0", frame(udp(src, netip.MustParseAddr("0.0.0.0"))), passMartian},
		{"destination 127.0.0.2", frame(udp(src, netip.MustParseAddr("127.0.0.2"))), passMartian},
		{"destination 239.1.1.1", frame(udp(src, netip.MustParseAddr("239.1.1.1"))), passLocal},
		{"destination 255.255.255.255", frame(udp(src, netip.MustParseAddr("255.255.255.255"))), passLocal},
		{"IPv6 source ::", frameTo(r.a0MAC, 0x86dd, ipv6Pkt("::", "2001:db8:2::2", 64, make([]byte, 16))), passMartian},
		{"IPv6 source ::1", frameTo(r.a0MAC, 0x86dd, ipv6Pkt("::1", "2001:db8:2::2", 64, make([]byte, 16))), passMartian},
		{"IPv6 source ff02::1", frameTo(r.a0MAC, 0x86dd, ipv6Pkt("ff02::1", "2001:db8:2::2", 64, make([]byte, 16))), passMartian},
		{"IPv6 destination ::1", frameTo(r.a0MAC, 0x86dd, ipv6Pkt("2001:db8:1::2", "::1", 64, make([]byte, 16))), passMartian},
		{"IPv6 payload over the frame", func() []byte {
			p := ipv6Pkt("2001:db8:1::2", "2001:db8:2::2", 64, make([]byte, 16))
			binary.BigEndian.PutUint16(p[4:], 1000)
			return frameTo(r.a0MAC, 0x86dd, p)
		}(), passMalformed},
	} {
		r.expectPass(t, tc.name, tc.pkt, tc.reason)
	}
	// Ethernet padding behind a short packet is no defect.
	padded := append(frame(udp(src, dst)), make([]byte, 20)...)
	if ret, _ := r.run(t, r.a0, padded); ret != xdpRedirect {
		t.Errorf("padded frame: verdict %d, want redirect", ret)
	}
}

// partialCsum is what a sender with checksum offload leaves in the L4 checksum field
// (CHECKSUM_PARTIAL): the folded pseudo header sum, not complemented.
func partialCsum(ph []byte) uint16 { return ^ipCsum(ph) }

// tcpAck is an IPv4 TCP ACK segment with valid checksums.
func tcpAck(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	h := make([]byte, 20, 20+len(payload))
	binary.BigEndian.PutUint16(h, sport)
	binary.BigEndian.PutUint16(h[2:], dport)
	binary.BigEndian.PutUint32(h[4:], 1000)
	binary.BigEndian.PutUint32(h[8:], 2000)
	h[12], h[13] = 5<<4, 0x10
	binary.BigEndian.PutUint16(h[14:], 65535)
	h = append(h, payload...)
	binary.BigEndian.PutUint16(h[16:], l4Csum(src, dst, 6, h))
	return withCsum(ipv4(6, src, dst, h))
}

// TestFastPathPartialChecksum: a TCP or UDP packet whose checksum is still partial (a
// veth or tap sender with tx checksum offload) goes to the stack, which completes it;
// redirected from XDP it would reach the receiver with a bad checksum (QA: TCP hangs).
func TestFastPathPartialChecksum(t *testing.T) {
	r := newFPRig(t)
	src, dst := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.2.2")
	s4, d4 := src.As4(), dst.As4()
	ph4 := func(proto byte, l int) []byte {
		return append(append(append([]byte{}, s4[:]...), d4[:]...), 0, proto, byte(l>>8), byte(l))
	}

	full := tcpAck(src, dst, 40000, 8000, []byte("GET /f.bin HTTP/1.1\r\n\r\n"))
	if ret, _ := r.run(t, r.a0, frameTo(r.a0MAC, 0x0800, full)); ret != xdpRedirect {
		t.Fatalf("complete TCP checksum: verdict %d, want redirect", ret)
	}
	partial := append([]byte{}, full...)
	binary.BigEndian.PutUint16(partial[20+16:], partialCsum(ph4(6, len(full)-20)))
	r.expectPass(t, "TCP partial checksum", frameTo(r.a0MAC, 0x0800, partial), passPartial)

	u := udpPkt(src, dst, 1111, 53, []byte("query"))
	binary.BigEndian.PutUint16(u[20+6:], partialCsum(ph4(17, len(u)-20)))
	r.expectPass(t, "UDP partial checksum", frameTo(r.a0MAC, 0x0800, u), passPartial)

	// IPv6: the pseudo header of RFC 8200 8.1.
	s6, d6 := netip.MustParseAddr("2001:db8:1::2"), netip.MustParseAddr("2001:db8:2::2")
	seg := make([]byte, 20)
	h := ipv6Pkt(s6.String(), d6.String(), 64, seg)
	h[6] = 6
	a, b := s6.As16(), d6.As16()
	ph6 := append(append(append([]byte{}, a[:]...), b[:]...), 0, 0, 0, 20, 0, 0, 0, 6)
	binary.BigEndian.PutUint16(h[40+16:], partialCsum(ph6))
	r.expectPass(t, "IPv6 TCP partial checksum", frameTo(r.a0MAC, 0x86dd, h), passPartial)
	binary.BigEndian.PutUint16(h[40+16:], ipCsum(append(ph6, h[40:]...)))
	if ret, _ := r.run(t, r.a0, frameTo(r.a0MAC, 0x86dd, h)); ret != xdpRedirect {
		t.Errorf("IPv6 complete TCP checksum: verdict %d, want redirect", ret)
	}
}

// TestFastTrackTimeout: a packet of a fasttracked connection refreshes its conntrack
// entry with the timeouts control/fastpath handed over (the namespace's established TCP
// and UDP stream timeouts), not with the kernel's 5-day default.
func TestFastTrackTimeout(t *testing.T) {
	if _, err := exec.LookPath("conntrack"); err != nil {
		t.Skip("needs conntrack (conntrack-tools)")
	}
	r := newFPRig(t)
	src, dst, nat := netip.MustParseAddr("198.18.1.2"), netip.MustParseAddr("198.18.2.2"), netip.MustParseAddr("198.18.2.1")
	r.in(t, func() {
		if err := r.tp.SetFastPath(false, false, true, false); err != nil {
			t.Fatal(err)
		}
		if err := r.tp.SetFastTrackTimeouts(1000*time.Second, 77*time.Second); err != nil {
			t.Fatal(err)
		}
	})
	insert := func(args ...string) {
		t.Helper()
		r.in(t, func() {
			out, err := exec.Command("conntrack", append([]string{"-I"}, args...)...).CombinedOutput()
			if err != nil {
				t.Fatalf("conntrack -I: %v\n%s", err, out)
			}
		})
	}
	insert("-p", "tcp", "-s", src.String(), "-d", dst.String(), "--sport", "40000", "--dport", "8000",
		"-r", dst.String(), "-q", nat.String(), "--reply-port-src", "8000", "--reply-port-dst", "40000",
		"--state", "ESTABLISHED", "-t", "10", "-u", "SEEN_REPLY,ASSURED", "-m", "2147483648")
	insert("-p", "udp", "-s", src.String(), "-d", dst.String(), "--sport", "1000", "--dport", "9",
		"-r", dst.String(), "-q", nat.String(), "--reply-port-src", "9", "--reply-port-dst", "40001",
		"-t", "10", "-u", "SEEN_REPLY,ASSURED", "-m", "2147483648")
	timeout := func(proto, sport string) int {
		t.Helper()
		var out []byte
		r.in(t, func() {
			var err error
			out, err = exec.Command("conntrack", "-L", "-p", proto, "--orig-port-src", sport).CombinedOutput()
			if err != nil {
				t.Fatalf("conntrack -L: %v\n%s", err, out)
			}
		})
		m := regexp.MustCompile(proto + `\s+\d+\s+(\d+)`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no %s entry: %s", proto, out)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
	for _, tc := range []struct {
		proto, sport string
		pkt          []byte
		want         int
	}{
		{"tcp", "40000", tcpAck(src, dst, 40000, 8000, []byte("data")), 1000},
		{"udp", "1000", udpPkt(src, dst, 1000, 9, []byte("data")), 77},
	} {
		if ret, _ := r.run(t, r.a0, frameTo(r.a0MAC, 0x0800, tc.pkt)); ret != xdpRedirect {
			t.Fatalf("%s: verdict %d, want redirect (fasttracked)", tc.proto, ret)
		}
		if got := timeout(tc.proto, tc.sport); got > tc.want || got < tc.want-30 {
			t.Errorf("%s entry timeout %d s after a fast path packet, want about %d", tc.proto, got, tc.want)
		}
	}
}
