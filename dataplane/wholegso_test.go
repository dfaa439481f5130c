package dataplane

import (
	"bytes"
	"encoding/binary"
	"os/exec"
	"testing"
)

// TestEncapWholeGSO: an IPsec-protected tunnel's GSO packets reach the userspace ESP
// path's TUN whole (issue 12 performance; whole_gso in bpf/tunnel.c). BPF_PROG_RUN
// cannot make a TCP GSO packet (no GSO type), so it shows the two ends of the way: a
// GSO packet of a type the TUN could not take whole is not sent that way (adjust_room
// refuses a GSO packet that is not TCP or UDP, so it is dropped as adjust, where the
// whole path would have redirected it to the hidden end), and the outer packet coming
// back on the hidden end (all-zero MACs) goes to the protected tunnel's table's L3
// egress, not encapsulated once more; on a tunnel without IPsec, or with another
// protocol, it is not taken for one. The whole path itself runs in test/ipsec
// (TestGREIPsecWholeGSO).
func TestEncapWholeGSO(t *testing.T) {
	r, tp := encapRig(t)
	const tcActShot = 2
	r.in(t, func() {
		for _, args := range [][]string{
			{"tuntap", "add", "mode", "tun", "dev", "esp0"},
			{"link", "set", "esp0", "up"},
			{"route", "add", "198.18.0.2/32", "dev", "esp0", "table", "252"},
		} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				t.Fatalf("ip %v: %v %s", args, err, out)
			}
		}
	})
	tn := Tunnel{Kind: GRE, Local: ipA, Remote: ipB, DSCP: DSCPInherit, TTL: 64, IPsecTable: 252,
		Hidden: r.hidden, VisibleMAC: r.visibleMAC, HiddenMAC: r.ownMAC}
	if err := tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	inner := tcpSYN(0, true, 1400)

	before, _ := tp.Stats(r.hidden)
	if ret, out := runEncapGSO(t, r, tp.objs.TunEncap, ether(0x0800, inner), 1400); ret != tcActShot {
		t.Errorf("GSO packet of no TCP type: verdict %d (Ethernet % x), want shot by adjust_room", ret, out[:14])
	}
	if st, _ := tp.Stats(r.hidden); st.Drops[4] != before.Drops[4]+1 {
		t.Errorf("adjust drops %d, want %d", st.Drops[4], before.Drops[4]+1)
	}
	// Not GSO: encapsulated as ever, to the ESP device (zero MACs from the lookup).
	if ret, out := runEncap(t, r, tp.objs.TunEncap, ether(0x0800, inner)); ret != tcActRedirect || out[14+9] != 47 ||
		!bytes.Equal(out[34:38], []byte{0, 0, 8, 0}) || !bytes.Equal(out[38:38+len(inner)], inner) {
		t.Errorf("plain packet: verdict %d, % x", ret, out[:38])
	}

	// The outer packet back on the hidden end.
	outer := ipv4(47, ipA, ipB, gre(0, 0x0800, nil, inner))
	binary.BigEndian.PutUint16(outer[10:], ipCsum(outer[:20]))
	back := append(make([]byte, 12), append([]byte{8, 0}, outer...)...)
	before, _ = tp.Stats(r.hidden)
	ret, out := runEncap(t, r, tp.objs.TunEncap, back)
	if ret != tcActRedirect || !bytes.Equal(out[14:14+len(outer)], outer) {
		t.Errorf("outer packet back: verdict %d, % x: want redirected as it is", ret, out[:14+24])
	}
	if st, _ := tp.Stats(r.hidden); st.TxPackets != before.TxPackets || st.Drops != before.Drops {
		t.Errorf("outer packet back counted again: %+v, before %+v", st, before)
	}
	// Without the ESP path's table the same frame is no packet of this program's: GRE
	// in GRE, to the underlay, not a resend.
	plain := tn
	plain.IPsecTable = 0
	if err := tp.Set(plain); err != nil {
		t.Fatal(err)
	}
	if ret, out := runEncap(t, r, tp.objs.TunEncap, back); ret != tcActRedirect || out[14+9] != 47 ||
		!bytes.Equal(out[38:38+len(outer)], outer) || !bytes.Equal(out[6:12], r.underlayMAC) {
		t.Errorf("unprotected tunnel: verdict %d, % x: want encapsulated", ret, out[:38])
	}
	// Protected, but the protocol is not the tunnel's (IPIP in an all-zero frame).
	if err := tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	ipip := ipv4(4, ipA, ipB, inner)
	binary.BigEndian.PutUint16(ipip[10:], ipCsum(ipip[:20]))
	wrong := append(make([]byte, 12), append([]byte{8, 0}, ipip...)...)
	if ret, out := runEncap(t, r, tp.objs.TunEncap, wrong); ret != tcActRedirect || out[14+9] != 47 ||
		!bytes.Equal(out[38:38+len(ipip)], ipip) {
		t.Errorf("IPIP frame on a GRE tunnel: verdict %d, % x: want encapsulated in GRE", ret, out[:38])
	}
	// The protected table leading to a link-layer egress: the outer packet is dropped,
	// never sent there as a GSO packet without encapsulation.
	r.in(t, func() {
		if out, err := exec.Command("ip", "route", "replace", "198.18.0.2/32", "dev", "u0", "table", "252").CombinedOutput(); err != nil {
			t.Fatalf("ip route: %v %s", err, out)
		}
	})
	before, _ = tp.Stats(r.hidden)
	if ret, _ := runEncap(t, r, tp.objs.TunEncap, back); ret != tcActShot {
		t.Errorf("outer packet back, table via Ethernet: verdict %d, want shot", ret)
	}
	if st, _ := tp.Stats(r.hidden); st.Drops[1] != before.Drops[1]+1 {
		t.Errorf("no-route drops %d, want %d", st.Drops[1], before.Drops[1]+1)
	}
}
