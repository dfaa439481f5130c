package dataplane

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// bpfFTestXDPLiveFrames is BPF_F_TEST_XDP_LIVE_FRAMES: every repetition gets a fresh
// copy of the frame and its verdict is carried out, as xdp-trafficgen does.
const bpfFTestXDPLiveFrames = 2

// xdpMd is struct xdp_md, the context given to a live-frames run.
type xdpMd struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// rig is the benchmark's own network namespace: an underlay veth (u0, 198.18.0.1/24,
// peer u1) the frames "arrive" on, and a tunnel veth pair whose hidden end (h0) is the
// redirect target and whose visible end (v0) runs count_drop in native XDP, so that
// every redirect succeeds (MACHINE-NOTES: XDP_REDIRECT into a veth needs XDP on the
// peer) and the frame is freed on the other side, as a delivered one would be.
type rig struct {
	ns                 netns.NsHandle
	underlay, hidden   int
	visibleMAC, ownMAC net.HardwareAddr
	underlayMAC        net.HardwareAddr
	visibleLink        link.Link
}

var rigSeq atomic.Int32

func newRig(tb testing.TB, bench *benchObjects) *rig {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: network namespace and XDP")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("needs ip (iproute2)")
	}
	name := fmt.Sprintf("dprig%d-%d", os.Getpid(), rigSeq.Add(1))
	sh := func(args ...string) {
		tb.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	sh("netns", "add", name)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	sh("-n", name, "link", "set", "lo", "up")
	sh("-n", name, "link", "add", "u0", "type", "veth", "peer", "name", "u1")
	sh("-n", name, "link", "add", "h0", "type", "veth", "peer", "name", "v0")
	sh("-n", name, "addr", "add", "198.18.0.1/24", "dev", "u0")
	for _, l := range []string{"u0", "u1", "h0", "v0"} {
		sh("-n", name, "link", "set", l, "up")
	}
	h, err := netns.GetFromName(name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close() })
	r := &rig{ns: h}
	r.in(tb, func() {
		for _, x := range []struct {
			n   string
			idx *int
			mac *net.HardwareAddr
		}{{"u0", &r.underlay, &r.underlayMAC}, {"h0", &r.hidden, &r.ownMAC}, {"v0", nil, &r.visibleMAC}} {
			ifc, err := net.InterfaceByName(x.n)
			if err != nil {
				tb.Fatal(err)
			}
			if x.idx != nil {
				*x.idx = ifc.Index
			}
			*x.mac = ifc.HardwareAddr
		}
		v0, _ := net.InterfaceByName("v0")
		l, err := link.AttachXDP(link.XDPOptions{Program: bench.CountDrop, Interface: v0.Index, Flags: link.XDPDriverMode})
		if err != nil {
			tb.Fatalf("XDP on the visible end: %v", err)
		}
		r.visibleLink = l
		tb.Cleanup(func() { l.Close() })
	})
	return r
}

// in runs fn on a thread inside the rig's namespace: BPF_PROG_RUN resolves ifindexes
// (ingress, redirect targets, the stack it passes frames to) in the caller's namespace.
func (r *rig) in(tb testing.TB, fn func()) {
	tb.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		tb.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(r.ns); err != nil {
		tb.Fatal(err)
	}
	defer netns.Set(orig)
	fn()
}

// live runs prog n times on fresh copies of pkt arriving on the underlay, carrying out
// each verdict.
func (r *rig) live(tb testing.TB, prog *ebpf.Program, pkt []byte, n int) {
	tb.Helper()
	r.in(tb, func() {
		_, err := prog.Run(&ebpf.RunOptions{Data: pkt, Repeat: uint32(n), Flags: bpfFTestXDPLiveFrames,
			Context: xdpMd{DataEnd: uint32(len(pkt)), IngressIfindex: uint32(r.underlay)}})
		if err != nil {
			tb.Fatal(err)
		}
	})
}

func openBench(tb testing.TB, redirectTo int, head []byte) *benchObjects {
	tb.Helper()
	spec, err := loadBench()
	if err != nil {
		tb.Fatal(err)
	}
	if err := spec.Variables["redirect_ifindex"].Set(uint32(redirectTo)); err != nil {
		tb.Fatal(err)
	}
	var words [6]uint64
	if len(head) >= 48 {
		for i := range words {
			words[i] = binary.LittleEndian.Uint64(head[8*i:])
		}
	}
	if err := spec.Variables["bench_head"].Set(words); err != nil {
		tb.Fatal(err)
	}
	var bench benchObjects
	if err := spec.LoadAndAssign(&bench, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bench.Close() })
	return &bench
}

// benchFrames are the frames of each tunnel kind as they arrive on the underlay (outer
// addresses ipB → ipA), with the tunnel that matches them.
func benchFrames(dstMAC net.HardwareAddr) []struct {
	name string
	tn   Tunnel
	pkt  []byte
} {
	inner := ipv4(17, netip.MustParseAddr("198.19.0.2"), netip.MustParseAddr("198.19.0.1"), make([]byte, 64))
	eoip := make([]byte, 8)
	binary.BigEndian.PutUint16(eoip, 0x2001)
	binary.BigEndian.PutUint16(eoip[2:], 0x6400)
	frame := ether(0x0800, inner)
	binary.BigEndian.PutUint16(eoip[4:], uint16(len(frame)))
	binary.LittleEndian.PutUint16(eoip[6:], 7)
	ip6 := make([]byte, 40+64)
	ip6[0], ip6[6], ip6[7] = 0x60, 17, 64
	binary.BigEndian.PutUint16(ip6[4:], 64)
	withDst := func(b []byte) []byte { copy(b, dstMAC); return b }
	return []struct {
		name string
		tn   Tunnel
		pkt  []byte
	}{
		{"gre", Tunnel{Kind: GRE, Local: ipA, Remote: ipB}, withDst(ether(0x0800, ipv4(47, ipB, ipA, gre(0, 0x0800, nil, inner))))},
		{"eoip", Tunnel{Kind: EoIP, Local: ipA, Remote: ipB, TunnelID: 7}, withDst(ether(0x0800, ipv4(47, ipB, ipA, append(eoip, frame...))))},
		{"ipip", Tunnel{Kind: IPIP, Local: ipA, Remote: ipB}, withDst(ether(0x0800, ipv4(4, ipB, ipA, inner)))},
		{"6to4", Tunnel{Kind: SixToFour, Local: ipA, Remote: ipB}, withDst(ether(0x0800, ipv4(41, ipB, ipA, ip6)))},
	}
}

// BenchmarkDecap measures tun_decap per tunnel type with live frames arriving on a veth
// and redirected into a tunnel veth whose peer runs XDP, beside count-and-drop and a bare
// redirect into the same veth, all in the same run and all behind the same restore_then
// prologue (bpf/bench.c says why):
//
//	go test -run XXX -bench Decap -benchtime 2000000x ./dataplane
//
// ns/op is ns/packet; x-count-drop is the ratio to count-drop of the same run. stack-*
// hand the frames to the kernel stack instead (XDP_PASS): the GRE frame as is (no GRE
// handler here: parsed and dropped by the IP layer) and its inner UDP packet.
func BenchmarkDecap(b *testing.B) {
	objs := loadOrSkip(b)
	tp := &Tunnels{objs: *objs}
	probe := openBench(b, 0, nil) // count_drop on the visible end counts what arrives
	r := newRig(b, probe)
	frames := benchFrames(r.underlayMAC)
	if os.Getenv("ROUTERD_BENCH_PROGSTATS") != "" {
		// Per-program run time (prog-ns/op). Off by default: the two clock reads per
		// run it adds would weigh on every figure.
		if st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME)); err == nil {
			defer st.Close()
		}
	}
	var base float64
	delivered := func() uint64 {
		var (
			k   uint32
			per []uint64
			n   uint64
		)
		if err := probe.BenchCount.Lookup(&k, &per); err != nil {
			b.Fatal(err)
		}
		for _, v := range per {
			n += v
		}
		return n
	}
	type pick func(*benchObjects) *ebpf.Program
	run := func(name string, target pick, pkt []byte, redirects bool, setup func()) {
		b.Run(name, func(b *testing.B) {
			if setup != nil {
				setup()
			}
			bo := openBench(b, r.hidden, pkt)
			prog := bo.RestoreThen
			if target == nil {
				prog = bo.CountDrop // without the prologue
			} else if err := bo.BenchProgs.Put(uint32(0), target(bo)); err != nil {
				b.Fatal(err)
			}
			before := delivered()
			b.ResetTimer()
			r.live(b, prog, pkt, b.N)
			b.StopTimer()
			// A redirect that failed would make the figure meaningless: the visible
			// end's XDP must have seen every frame.
			if got := delivered() - before; redirects && got < uint64(b.N) {
				b.Fatalf("%d of %d frames reached the visible end", got, b.N)
			}
			if st, err := prog.Stats(); err == nil && st.RunCount > 0 {
				// Time inside the program (entry and tail call) per run, from
				// kernel.bpf_stats_enabled: the rest of ns/op is the kernel's
				// frame handling and the redirect.
				b.ReportMetric(float64(st.Runtime.Nanoseconds())/float64(st.RunCount), "prog-ns/op")
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if name == "count-drop" {
				base = ns
			} else if base > 0 {
				b.ReportMetric(ns/base, "x-count-drop")
			}
		})
	}
	decap := func(*benchObjects) *ebpf.Program { return objs.TunDecap }
	run("count-drop", func(bo *benchObjects) *ebpf.Program { return bo.CountDrop }, frames[0].pkt, false, nil)
	run("count-drop-bare", nil, frames[0].pkt, false, nil)
	run("redirect-only", func(bo *benchObjects) *ebpf.Program { return bo.RedirectOnly }, frames[0].pkt, true, nil)
	for _, f := range frames {
		f := f
		run(f.name, decap, f.pkt, true, func() {
			tn := f.tn
			tn.Hidden, tn.VisibleMAC, tn.HiddenMAC = r.hidden, r.visibleMAC, r.ownMAC
			if err := tp.Set(tn); err != nil {
				b.Fatal(err)
			}
		})
	}
	inner := append([]byte{}, frames[0].pkt[:14]...)
	inner = append(inner, frames[0].pkt[14+24:]...)
	copy(inner[14+16:], netip.MustParseAddr("198.18.0.1").AsSlice())
	binary.BigEndian.PutUint16(inner[14+10:], 0)
	binary.BigEndian.PutUint16(inner[14+10:], ipCsum(inner[14:34]))
	pass := func(bo *benchObjects) *ebpf.Program { return bo.CountPass }
	run("stack-gre", pass, frames[0].pkt, false, nil)
	run("stack-inner-udp", pass, inner, false, nil)
}
