package tunnel

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/dataplane"
)

// TestPktinfoIfindex: the interface index is read from IP_PKTINFO wherever it lies among
// the control messages, and nothing is read from short or inconsistent ones.
func TestPktinfoIfindex(t *testing.T) {
	pi := unix.PktInfo4(&unix.Inet4Pktinfo{Ifindex: 7})
	if got := pktinfoIfindex(pi); got != 7 {
		t.Errorf("pktinfo alone: %d", got)
	}
	other := unix.UnixRights(3) // another message first
	if got := pktinfoIfindex(append(other, pi...)); got != 7 {
		t.Errorf("pktinfo second: %d", got)
	}
	for _, b := range [][]byte{nil, pi[:8], pi[:unix.SizeofCmsghdr+2], {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if got := pktinfoIfindex(b); got != 0 {
			t.Errorf("% x: %d", b, got)
		}
	}
}

// eoipOuter is an outer IPv4 packet of an EoIP tunnel from src to dst carrying frame,
// whose EoIP length field says elen.
func eoipOuter(src, dst netip.Addr, id uint16, frame []byte, elen int) []byte {
	p := make([]byte, 28+len(frame))
	p[0], p[8], p[9] = 0x45, 64, 47
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	copy(p[12:], src.AsSlice())
	copy(p[16:], dst.AsSlice())
	binary.BigEndian.PutUint16(p[20:], 0x2001)
	binary.BigEndian.PutUint16(p[22:], 0x6400)
	binary.BigEndian.PutUint16(p[24:], uint16(elen))
	binary.LittleEndian.PutUint16(p[26:], id)
	copy(p[28:], frame)
	return p
}

// fragments cuts an IPv4 packet (20-byte header) into fragments of at most mtu bytes.
func fragments(p []byte, mtu int) [][]byte {
	var out [][]byte
	step := (mtu - 20) &^ 7
	body := p[20:]
	for off := 0; off < len(body); off += step {
		end := min(off+step, len(body))
		f := append(append([]byte{}, p[:20]...), body[off:end]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fo := uint16(off / 8)
		if end < len(body) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		binary.BigEndian.PutUint16(f[4:], 0x1234)
		out = append(out, f)
	}
	return out
}

// TestReassembledReceiver runs the receivers of reassembled packets in a namespace of
// their own against the real stack: outer EoIP packets sent in fragments to a local
// address are reassembled by the kernel, taken in batches and their frames sent out of
// the tunnel's hidden end (a veth, whose peer sees them), a burst of them all delivered;
// malformed, short and unknown ones are dropped and counted, and the receivers go on.
func TestReassembledReceiver(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace and BPF maps")
	}
	// This goroutine's thread moves to a new namespace and dies with the test.
	runtime.LockOSThread()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		t.Skip("no network namespace:", err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	netlink.LinkSetUp(lo)
	local, remote := netip.MustParseAddr("198.18.7.1"), netip.MustParseAddr("198.18.7.2")
	for _, a := range []netip.Addr{local, remote} {
		if err := netlink.AddrAdd(lo, &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(32, 32)}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "hid"}, PeerName: "vis"}); err != nil {
		t.Fatal(err)
	}
	hid, _ := netlink.LinkByName("hid")
	vis, _ := netlink.LinkByName("vis")
	netlink.LinkSetUp(hid)
	netlink.LinkSetUp(vis)

	tp := kaEnd(t, "reasm", dataplane.Tunnel{Kind: dataplane.EoIP, Local: local, Remote: remote, TunnelID: 9})
	// kaEnd's tunnel has hidden ifindex 1; this one's is the veth's.
	tn := dataplane.Tunnel{Kind: dataplane.EoIP, Local: local, Remote: remote, TunnelID: 9, Hidden: hid.Attrs().Index,
		VisibleMAC: vis.Attrs().HardwareAddr, HiddenMAC: hid.Attrs().HardwareAddr}
	if err := tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	if err := tp.Delete(1); err != nil {
		t.Fatal(err)
	}

	// What the visible end receives.
	tap, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(tap)
	if err := unix.Bind(tap, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: vis.Attrs().Index}); err != nil {
		t.Fatal(err)
	}
	unix.SetsockoptTimeval(tap, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 100000})
	unix.SetsockoptInt(tap, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) // the whole burst

	e := &Engine{dp: tp}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	if err := e.startReassembly(ctx, func(ctx context.Context, f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wg.Wait(); e.closeReassembly() }()

	out, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(out)
	send := func(p []byte) {
		t.Helper()
		to := &unix.SockaddrInet4{Addr: local.As4()}
		if err := unix.Sendto(out, p, 0, to); err != nil {
			t.Fatal(err)
		}
	}
	frame := make([]byte, 1514)
	copy(frame, []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x88, 0xb5})
	for i := 14; i < len(frame); i++ {
		frame[i] = byte(i)
	}
	id := uint16(0)
	sendFragmented := func(p []byte) {
		id++
		for _, f := range fragments(p, 1500) {
			binary.BigEndian.PutUint16(f[4:], id)
			send(f)
		}
	}
	// Frames seen at the visible end, by content.
	seen := func(want int) int {
		got := 0
		buf := make([]byte, 4096)
		deadline := time.Now().Add(5 * time.Second)
		for got < want && time.Now().Before(deadline) {
			n, _, err := unix.Recvfrom(tap, buf, 0)
			if err != nil {
				continue
			}
			if n == len(frame) && string(buf[12:n]) == string(frame[12:]) {
				got++
			}
		}
		return got
	}

	sendFragmented(eoipOuter(remote, local, 9, frame, len(frame)))
	if n := seen(1); n != 1 {
		t.Fatalf("fragmented EoIP frame: %d frames at the visible end", n)
	}
	// A burst, more than a batch.
	const burst = 3*reasmBatchSize + 5
	for range burst {
		sendFragmented(eoipOuter(remote, local, 9, frame, len(frame)))
	}
	if n := seen(burst); n != burst {
		t.Errorf("burst of %d: %d frames at the visible end", burst, n)
	}
	waitCount := func(what string, f func() uint64, want uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for f() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d, want %d", what, f(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitCount("delivered", func() uint64 { return e.reasm.get(hid.Attrs().Index).packets }, burst+1)
	if c := e.reasm.get(hid.Attrs().Index); c.bytes != uint64(burst+1)*uint64(len(frame)) {
		t.Errorf("bytes %d", c.bytes)
	}

	// Malformed: an EoIP length beyond the packet; a bare GRE header with EoIP's flags;
	// a GRE header cut short. Unknown: another tunnel-id.
	sendFragmented(eoipOuter(remote, local, 9, frame, len(frame)+100))
	send(eoipOuter(remote, local, 9, nil, 0)[:24])
	send(eoipOuter(remote, local, 9, nil, 0)[:22])
	waitCount("malformed", func() uint64 { return e.reasmDrops[reasmDropMalformed].Load() }, 3)
	sendFragmented(eoipOuter(remote, local, 10, frame, len(frame)))
	waitCount("not-tunnel", func() uint64 { return e.reasmDrops[reasmDropNotTunnel].Load() }, 1)
	// And the receiver still delivers.
	sendFragmented(eoipOuter(remote, local, 9, frame, len(frame)))
	if n := seen(1); n != 1 {
		t.Fatalf("after the bad packets: %d frames", n)
	}
	if d := e.reasmDrops[reasmDropInternal].Load() + e.reasmDrops[reasmDropSend].Load(); d != 0 {
		t.Errorf("internal or send drops: %d", d)
	}
}
