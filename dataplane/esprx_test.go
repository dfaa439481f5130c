package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"

	"github.com/cilium/ebpf"
)

func mapLen(t *testing.T, m *ebpf.Map) int {
	t.Helper()
	var k, v []byte
	n := 0
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

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
// destination, steering not allowed (a firewall rule), a fragment, options, an odd length, jumbo) passes
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
	// A port set anew forgets the SAs given before (another socket's).
	if err := tp.AddESPRx(ipB, spi+7); err != nil {
		t.Fatal(err)
	}
	if err := tp.SetESPRx(port); err != nil {
		t.Fatal(err)
	}
	if p := tp.ESPRxPort(); p != port {
		t.Errorf("ESPRxPort %d after SetESPRx(%d)", p, port)
	}
	if n := mapLen(t, tp.objs.EspRx); n != 0 {
		t.Fatalf("esp_rx holds %d SAs after SetESPRx, want none", n)
	}
	if err := tp.AddESPRx(ipA, spi); err != nil {
		t.Fatal(err)
	}
	pass("not allowed", esp)
	if tp.ESPRxActive() {
		t.Error("ESPRxActive before SetESPSteer")
	}
	if err := tp.SetESPSteer(true); err != nil {
		t.Fatal(err)
	}
	// The fast path's switch (off with IPsec policies) leaves it alone.
	if err := tp.SetFastPath(false, false, false, false); err != nil {
		t.Fatal(err)
	}
	if !tp.ESPRxActive() {
		t.Error("not ESPRxActive with a port and SetESPSteer")
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
		if ip[9] != 17 || int(binary.BigEndian.Uint16(ip[2:])) != 28+n || ipCsum(ip[:20]) != 0 ||
			binary.BigEndian.Uint32(ip[4:]) != 0x4000 { // ID 0, DF: a flow GRO merges
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
	// Fallback counts frames of a steered SA only: not allowed, odd length, jumbo and
	// the fragment (with options, the SPI is not where the program looks).
	if st.Steered != 13 || st.Spoofed != 1 || st.Fallback != 4 {
		t.Errorf("stats %+v, want 13 steered, 1 spoofed, 4 fallback", st)
	}
	if err := tp.SetESPSteer(false); err != nil {
		t.Fatal(err)
	}
	pass("no longer allowed", esp)
	st, err = tp.ESPRxStats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Fallback != 5 {
		t.Errorf("fallback %d after steering was taken back, want 5", st.Fallback)
	}
	if err := tp.SetESPSteer(true); err != nil {
		t.Fatal(err)
	}
	if err := tp.DelESPRx(ipA, spi); err != nil {
		t.Fatal(err)
	}
	pass("SA removed", esp)
	if err := tp.SetESPRx(0); err != nil {
		t.Fatal(err)
	}
	if p := tp.ESPRxPort(); p != 0 {
		t.Errorf("ESPRxPort %d after SetESPRx(0)", p)
	}
	pass("UDP to the port once off", udp(port))
	// ESPRxLinks: every port the program runs on, whatever its roles.
	for i, roles := range []uint16{FPRoleDecap, FPRoleForward} {
		if err := tp.objs.XdpPorts.Put(uint32(900+i), tunnelFpPort{Roles: roles}); err != nil {
			t.Fatal(err)
		}
	}
	if l, err := tp.ESPRxLinks(); err != nil || !slices.Equal(slices.Sorted(slices.Values(l)), []int{900, 901}) {
		t.Errorf("ESPRxLinks %v %v, want [900 901]", l, err)
	}
}

// FuzzESPSteer feeds frames to the port program with an SA to steer: whatever it is
// given, it either passes the frame as it was, drops only UDP to the steering port, or
// rewrites IPv4 ESP of the SA into UDP to the port whose checksums are right and whose
// payload is the ESP as it came.
//
//	go test -run XXX -fuzz FuzzESPSteer -fuzztime 60s ./dataplane
func FuzzESPSteer(f *testing.F) {
	objs := loadOrSkip(f)
	tp := &Tunnels{objs: *objs}
	f.Cleanup(func() { objs.Close() })
	const spi, port = 0xc0ffee01, 47123
	for _, err := range []error{tp.SetESPRx(port), tp.AddESPRx(ipA, spi), tp.SetESPSteer(true)} {
		if err != nil {
			f.Fatal(err)
		}
	}
	f.Add(ether(0x0800, ipv4(50, ipB, ipA, espPayload(spi, 100))))
	f.Add(ether(0x0800, ipv4(50, ipB, ipA, espPayload(spi, 1436))))
	f.Add(ether(0x0800, ipv4(17, ipB, ipA, []byte{0xb8, 0x13, 0xb8, 0x13, 0, 8, 0, 0})))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) < 14 || len(pkt) > 3000 {
			return
		}
		ret, out := runOut(t, objs.XdpPort, pkt)
		esp := len(pkt) >= 42 && binary.BigEndian.Uint16(pkt[12:]) == 0x0800 && pkt[14+9] == 50
		switch {
		case ret == xdpDrop:
			if len(pkt) < 34 || pkt[14+9] != 17 {
				t.Fatalf("dropped a frame that is no UDP: % x", pkt)
			}
		case ret == xdpPass && bytes.Equal(out[:len(pkt)], pkt):
		case ret == xdpPass && esp:
			n := len(pkt) - 34
			ip := out[14 : 14+20+8+n]
			if ip[9] != 17 || ipCsum(ip[:20]) != 0 || !udpCsumOK(ip) || binary.BigEndian.Uint32(ip[4:]) != 0x4000 || binary.BigEndian.Uint16(ip[22:]) != port ||
				!bytes.Equal(ip[28:], pkt[34:]) || !bytes.Equal(out[:14], pkt[:14]) || ip[8] != pkt[14+8] {
				t.Fatalf("rewrote % x\ninto % x", pkt, out[:14+28+n])
			}
		default:
			// Other frames go on to the rest of the port program (decap_slow): not
			// what this target checks, as long as the kernel took the run.
		}
	})
}
