package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// loadSlowOnly loads the tunnel programs with fast_match turned off (slow_only), so
// that decap_parse decides every packet.
func loadSlowOnly(t testing.TB) *Tunnels {
	t.Helper()
	spec, err := loadTunnel()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	if err := spec.Variables["slow_only"].Set(uint32(1)); err != nil {
		t.Fatal(err)
	}
	tp := &Tunnels{}
	if err := spec.LoadAndAssign(&tp.objs, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.objs.Close() })
	return tp
}

// runOut runs p once on pkt and returns the verdict and the frame as the program left it.
func runOut(t testing.TB, p *ebpf.Program, pkt []byte) (uint32, []byte) {
	t.Helper()
	opts := &ebpf.RunOptions{Data: pkt, DataOut: make([]byte, len(pkt)+256)}
	ret, err := p.Run(opts)
	if err != nil {
		t.Fatal(err)
	}
	return ret, opts.DataOut
}

// FuzzDecapFast feeds the same frames to tun_decap as routerd loads it and to tun_decap
// with its fast path turned off: the verdicts and the frames they leave are the same.
//
//	go test -run XXX -fuzz FuzzDecapFast -fuzztime 60s ./dataplane
func FuzzDecapFast(f *testing.F) {
	objs := loadOrSkip(f)
	fast := &Tunnels{objs: *objs}
	f.Cleanup(func() { objs.Close() })
	slow := loadSlowOnly(f)
	ipC, ipD := netip.MustParseAddr("198.18.0.3"), netip.MustParseAddr("198.18.0.4")
	for i, tn := range []Tunnel{
		{Kind: GRE, Local: ipA, Remote: ipB},
		{Kind: EoIP, Local: ipA, Remote: ipB, TunnelID: 7},
		{Kind: IPIP, Local: ipA, Remote: ipB},
		{Kind: SixToFour, Local: ipA, Remote: ipB},
		{Kind: SixToFour, Local: ipA},                                                // any remote: not in the index
		{Kind: GRE, Remote: ipC},                                                     // any local
		{Kind: GRE, Local: ipA, Remote: ipD, ClampMSS: true, MSS4: 1400, MSS6: 1380}, // clamps: the general path
	} {
		tn.Hidden, tn.VisibleMAC, tn.HiddenMAC = i+1, macA, macB
		for _, tp := range []*Tunnels{fast, slow} {
			if err := tp.Set(tn); err != nil {
				f.Fatal(err)
			}
		}
	}
	inner := ipv4(17, netip.MustParseAddr("198.19.0.2"), netip.MustParseAddr("198.19.0.1"), make([]byte, 16))
	frame := ether(0x0800, inner)
	eoip := func(id uint16, payload []byte, pad int) []byte {
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h, 0x2001)
		binary.BigEndian.PutUint16(h[2:], 0x6400)
		binary.BigEndian.PutUint16(h[4:], uint16(len(payload)))
		binary.LittleEndian.PutUint16(h[6:], id)
		l3 := ipv4(47, ipB, ipA, append(h, payload...))
		return append(l3, make([]byte, pad)...)
	}
	for _, l3 := range [][]byte{
		ipv4(47, ipB, ipA, gre(0, 0x0800, nil, inner)),
		ipv4(47, ipB, ipA, gre(0, 0x86dd, nil, make([]byte, 40))),
		ipv4(47, ipB, ipA, gre(0, 0x0806, nil, make([]byte, 28))),
		ipv4(47, ipB, ipA, gre(0x8000, 0x0800, make([]byte, 4), inner)),
		ipv4(47, ipB, ipA, gre(0, 0x0800, nil, ipv4(47, ipA, ipB, gre(0, 0, nil, nil)))), // a peer's keepalive
		ipv4(47, ipB, ipA, gre(0, 0, nil, nil)),                                          // our keepalive's answer
		ipv4(47, ipC, ipB, gre(0, 0x0800, nil, inner)),
		ipv4(47, ipD, ipA, gre(0, 0x0800, nil, inner)),
		eoip(7, frame, 0),
		eoip(7, frame, 6), // Ethernet padding
		eoip(7, nil, 0),   // keepalive
		eoip(8, frame, 0),
		ipv4(4, ipB, ipA, inner),
		ipv4(4, ipB, ipA, nil),
		ipv4(4, ipB, ipA, ipv4(4, ipA, ipB, nil)),
		ipv4(41, ipB, ipA, make([]byte, 40)),
		ipv4(41, ipC, ipA, make([]byte, 40)),
		ipv4(41, ipB, ipA, ipv6Empty(sixToFour(ipA), sixToFour(ipB))),
	} {
		f.Add(l3)
	}
	f.Fuzz(func(t *testing.T, l3 []byte) {
		pkt := ether(0x0800, l3)
		if len(pkt) > 3000 {
			return
		}
		rf, of := runOut(t, fast.objs.TunDecap, pkt)
		rs, os := runOut(t, slow.objs.TunDecap, pkt)
		if rf != rs || !bytes.Equal(of, os) {
			t.Fatalf("fast path: verdict %d, %x\ngeneral path: verdict %d, %x", rf, of, rs, os)
		}
	})
}
