package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

func udpCsumOK(ip []byte) bool {
	seg := ip[20:]
	ph := append(append([]byte{}, ip[12:20]...), 0, 17, byte(len(seg)>>8), byte(len(seg)))
	return ipCsum(append(ph, seg...)) == 0
}

func espPayload(spi uint32, n int) []byte {
	b := make([]byte, n)
	binary.BigEndian.PutUint32(b, spi)
	binary.BigEndian.PutUint32(b[4:], 7)
	for i := 8; i < n; i++ {
		b[i] = byte(i*7 + 3)
	}
	return b
}

// TestESPSteer runs the port program on raw ESP: an SA in esp_rx becomes UDP to the
// steering port with a valid checksum and the ESP bytes unchanged, of every length the
// checksum rounds cover; what must keep the raw socket (unknown SPI, another
// destination, the fast path off, a fragment, options, an odd length, jumbo) passes
// untouched; UDP from the wire to the port is dropped.
func TestESPSteer(t *testing.T) {
	objs := loadOrSkip(t)
	tp := &Tunnels{objs: *objs}
	const spi, port = 0xc0ffee01, 47123
	if err := tp.AddESPRx(ipA, spi); err != nil {
		t.Fatal(err)
	}
	prog := objs.XdpPort
	raw := func(ip []byte) []byte { return ether(0x0800, ip) }
	pass := func(name string, pkt []byte) {
		t.Helper()
		ret, out := runXDP(t, prog, pkt)
		if ret != xdpPass || !bytes.Equal(out[:len(pkt)], pkt) {
			t.Errorf("%s: verdict %d, changed %v, want it passed as it was", name, ret, !bytes.Equal(out[:len(pkt)], pkt))
		}
	}
	esp := raw(ipv4(50, ipB, ipA, espPayload(spi, 1400)))
	pass("no port set", esp)
	if err := tp.SetESPRx(port); err != nil {
		t.Fatal(err)
	}
	pass("fast path off", esp)
	if tp.ESPRxActive() {
		t.Error("ESPRxActive with the fast path off")
	}
	if err := tp.SetFastPath(true, false, false, false); err != nil {
		t.Fatal(err)
	}
	if !tp.ESPRxActive() {
		t.Error("not ESPRxActive with a port and the fast path on")
	}
	for _, n := range []int{8, 12, 16, 100, 508, 512, 516, 1024, 1400, 1436, 1536, 1540, 2044} {
		p := espPayload(spi, n)
		ret, out := runXDP(t, prog, raw(ipv4(50, ipB, ipA, p)))
		if ret != xdpPass {
			t.Fatalf("%d bytes: verdict %d", n, ret)
		}
		if !bytes.Equal(out[:12], esp[:12]) || binary.BigEndian.Uint16(out[12:]) != 0x0800 {
			t.Fatalf("%d bytes: Ethernet header % x", n, out[:14])
		}
		ip := out[14 : 14+20+8+n]
		if ip[9] != 17 || int(binary.BigEndian.Uint16(ip[2:])) != 28+n || ipCsum(ip[:20]) != 0 {
			t.Fatalf("%d bytes: IP header % x", n, ip[:20])
		}
		if netip.AddrFrom4([4]byte(ip[12:16])) != ipB || netip.AddrFrom4([4]byte(ip[16:20])) != ipA {
			t.Fatalf("%d bytes: addresses % x", n, ip[12:20])
		}
		if sp, dp, l := binary.BigEndian.Uint16(ip[20:]), binary.BigEndian.Uint16(ip[22:]), binary.BigEndian.Uint16(ip[24:]); sp != port || dp != port || int(l) != 8+n {
			t.Fatalf("%d bytes: UDP %d > %d len %d", n, sp, dp, l)
		}
		if !udpCsumOK(ip) || binary.BigEndian.Uint16(ip[26:]) == 0 {
			t.Fatalf("%d bytes: UDP checksum %#x wrong", n, binary.BigEndian.Uint16(ip[26:]))
		}
		if !bytes.Equal(ip[28:], p) {
			t.Fatalf("%d bytes: ESP changed", n)
		}
	}
	pass("unknown SPI", raw(ipv4(50, ipB, ipA, espPayload(spi+1, 1400))))
	pass("other destination", raw(ipv4(50, ipA, ipB, espPayload(spi, 1400))))
	pass("not 4-byte aligned", raw(ipv4(50, ipB, ipA, espPayload(spi, 1402))))
	pass("jumbo", raw(ipv4(50, ipB, ipA, espPayload(spi, 2048))))
	frag := ipv4(50, ipB, ipA, espPayload(spi, 1400))
	frag[6] = 0x20 // MF
	pass("fragment", raw(frag))
	opts := ipv4(50, ipB, ipA, espPayload(spi, 1400))
	opts = append(opts[:20], append([]byte{1, 1, 1, 0}, opts[20:]...)...)
	opts[0] = 0x46
	binary.BigEndian.PutUint16(opts[2:], uint16(len(opts)))
	pass("IP options", raw(opts))
	udp := func(dport uint16) []byte {
		u := make([]byte, 8+100)
		binary.BigEndian.PutUint16(u, port)
		binary.BigEndian.PutUint16(u[2:], dport)
		binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
		return raw(ipv4(17, ipB, ipA, u))
	}
	if ret, _ := runXDP(t, prog, udp(port)); ret != xdpDrop {
		t.Errorf("UDP from the wire to the steering port: verdict %d, want drop", ret)
	}
	pass("UDP to another port", udp(4500))
	st, err := tp.ESPRxStats()
	if err != nil {
		t.Fatal(err)
	}
	// Fallback counts frames of a steered SA only: fast path off, odd length, jumbo and
	// the fragment (with options, the SPI is not where the program looks).
	if st.Steered != 13 || st.Spoofed != 1 || st.Fallback != 4 {
		t.Errorf("stats %+v, want 13 steered, 1 spoofed, 4 fallback", st)
	}
	if err := tp.DelESPRx(ipA, spi); err != nil {
		t.Fatal(err)
	}
	pass("SA removed", esp)
	if err := tp.SetESPRx(0); err != nil {
		t.Fatal(err)
	}
	pass("UDP to the port once off", udp(port))
}
