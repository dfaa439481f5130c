package dataplane

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// greTo is a GRE frame from ipB to local carrying a small IPv4 packet.
func greTo(local netip.Addr) []byte {
	inner := ipv4(17, netip.MustParseAddr("198.19.0.2"), netip.MustParseAddr("198.19.0.1"), make([]byte, 8))
	return ether(0x0800, ipv4(47, ipB, local, gre(0, 0x0800, nil, inner)))
}

// deliveredTo runs pkt through tun_decap and returns the destination MAC it was
// redirected with (the tunnel's visible end), or nil when it was not redirected.
func deliveredTo(t *testing.T, tp *Tunnels, pkt []byte) []byte {
	t.Helper()
	ret, out := runXDP(t, tp.objs.TunDecap, pkt)
	if ret != xdpRedirect {
		return nil
	}
	return out[:6]
}

// TestRxIndex: packets are matched through tunnel_rx_index when one tunnel has their
// hash, and through tunnel_rx when several do, with the same answers.
func TestRxIndex(t *testing.T) {
	objs := loadOrSkip(t)
	tp := &Tunnels{objs: *objs}
	ipC := netip.MustParseAddr("198.18.0.3") // a second local address
	mac := func(i byte) []byte { return []byte{2, 0, 0, 0, 2, i} }
	set := func(hidden int, local netip.Addr) {
		t.Helper()
		if err := tp.Set(Tunnel{Kind: GRE, Local: local, Remote: ipB, Hidden: hidden,
			VisibleMAC: mac(byte(hidden)), HiddenMAC: mac(0xff)}); err != nil {
			t.Fatal(err)
		}
	}
	hideRx := func() func() {
		// Take tunnel_rx away: what still matches was matched through the index.
		saved := map[tunnelTunRxKey]tunnelTunRx{}
		var (
			k tunnelTunRxKey
			v tunnelTunRx
		)
		it := tp.objs.TunnelRx.Iterate()
		for it.Next(&k, &v) {
			saved[k] = v
		}
		for k := range saved {
			if err := tp.objs.TunnelRx.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
		return func() {
			for k, v := range saved {
				if err := tp.objs.TunnelRx.Put(k, v); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	set(1, ipA)
	restore := hideRx()
	if got := deliveredTo(t, tp, greTo(ipA)); !bytes.Equal(got, mac(1)) {
		t.Fatalf("one tunnel: not matched through the index (delivered to %x)", got)
	}
	restore()

	// A second tunnel to the same remote from another local address shares the hash:
	// both are found in tunnel_rx, each packet by its destination.
	set(2, ipC)
	if got := deliveredTo(t, tp, greTo(ipA)); !bytes.Equal(got, mac(1)) {
		t.Errorf("to %v: delivered to %x, want %x", ipA, got, mac(1))
	}
	if got := deliveredTo(t, tp, greTo(ipC)); !bytes.Equal(got, mac(2)) {
		t.Errorf("to %v: delivered to %x, want %x", ipC, got, mac(2))
	}
	restore = hideRx()
	if got := deliveredTo(t, tp, greTo(ipA)); got != nil {
		t.Errorf("shared hash left in the index")
	}
	restore()

	// Removing one puts the other back into the index; a tunnel with any local
	// address matches every destination there.
	if err := tp.Delete(2); err != nil {
		t.Fatal(err)
	}
	set(1, netip.Addr{})
	restore = hideRx()
	for _, dst := range []netip.Addr{ipA, ipC} {
		if got := deliveredTo(t, tp, greTo(dst)); !bytes.Equal(got, mac(1)) {
			t.Errorf("local any, to %v: delivered to %x through the index, want %x", dst, got, mac(1))
		}
	}
	restore()
	if err := tp.Delete(1); err != nil {
		t.Fatal(err)
	}
	for i, v := range tp.index {
		if v != 0 {
			t.Errorf("index[%d] = %d after every tunnel was deleted", i, v)
		}
	}
	if ret, _ := runXDP(t, tp.objs.TunDecap, greTo(ipA)); ret != xdpPass {
		t.Errorf("deleted tunnel: verdict %d, want pass", ret)
	}
}

// TestPinnedReuse: a second OpenTunnels on the same bpffs folder (a restarted routerd)
// finds the tunnels, their counter slots and counts, and the index as they were.
func TestPinnedReuse(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("dptest%d", os.Getpid()))
	PrepareRoot(dir) // a fresh machine may have no bpffs mounted yet
	t.Cleanup(func() { os.RemoveAll(dir) })
	tn := Tunnel{Kind: GRE, Local: ipA, Remote: ipB, Hidden: 7, VisibleMAC: macA, HiddenMAC: macB}
	a, err := OpenTunnels(dir)
	if err != nil {
		t.Skipf("bpffs: %v", err)
	}
	if err := a.Set(tn); err != nil {
		t.Fatal(err)
	}
	if ret, _ := runXDP(t, a.objs.TunDecap, greTo(ipA)); ret != xdpRedirect {
		t.Fatalf("verdict %d", ret)
	}
	a.Close()

	b, err := OpenTunnels(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st, err := b.Stats(7); err != nil || st.RxPackets != 1 {
		t.Fatalf("after reopening: stats %+v, %v", st, err)
	}
	// Set again (as the engine does on start) and add another: counts stay, slots differ.
	if err := b.Set(tn); err != nil {
		t.Fatal(err)
	}
	other := tn
	other.Hidden, other.Remote = 8, netip.MustParseAddr("198.18.0.9")
	if err := b.Set(other); err != nil {
		t.Fatal(err)
	}
	if st, _ := b.Stats(7); st.RxPackets != 1 {
		t.Errorf("counts lost: %+v", st)
	}
	if st, _ := b.Stats(8); st.RxPackets != 0 {
		t.Errorf("new tunnel starts with counts: %+v", st)
	}
	if err := b.objs.TunnelRx.Delete(tn.rxKey()); err != nil {
		t.Fatal(err)
	}
	if ret, _ := runXDP(t, b.objs.TunDecap, greTo(ipA)); ret != xdpRedirect {
		t.Errorf("index entry lost across the reopen: verdict %d", ret)
	}
	if st, _ := b.Stats(7); st.RxPackets != 2 {
		t.Errorf("counted into the wrong slot: %+v", st)
	}
	for _, h := range []int{7, 8} {
		if err := b.Delete(h); err != nil {
			t.Fatal(err)
		}
	}
}
