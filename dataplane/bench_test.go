package dataplane

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"unsafe"

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
// each verdict, and returns the kernel's ns per frame: the time inside its run loop,
// without the setup and teardown of the call (a page pool and its memory model, which
// take tens of milliseconds here and would weigh on every figure as a per-call constant).
func (r *rig) live(tb testing.TB, prog *ebpf.Program, pkt []byte, n int) float64 {
	tb.Helper()
	var ns float64
	r.in(tb, func() {
		// Heap objects (the Go heap does not move them) kept alive across the call.
		ctx := &xdpMd{DataEnd: uint32(len(pkt)), IngressIfindex: uint32(r.underlay)}
		attr := &progRunAttr{ProgFd: uint32(prog.FD()), DataSizeIn: uint32(len(pkt)),
			DataIn: uint64(uintptr(unsafe.Pointer(&pkt[0]))), Repeat: uint32(n),
			CtxSizeIn: uint32(unsafe.Sizeof(*ctx)), CtxIn: uint64(uintptr(unsafe.Pointer(ctx))),
			Flags: bpfFTestXDPLiveFrames}
		for {
			_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
			runtime.KeepAlive(pkt)
			runtime.KeepAlive(ctx)
			if errno == unix.EINTR {
				continue // a signal (Go's preemption) ended the run: run it again
			}
			if errno != 0 {
				tb.Fatalf("BPF_PROG_TEST_RUN: %v", errno)
			}
			break
		}
		ns = float64(attr.Duration)
	})
	return ns
}

// progRunAttr is the BPF_PROG_TEST_RUN part of union bpf_attr. cilium/ebpf's Run does
// not return the kernel's duration for live-frames runs.
type progRunAttr struct {
	ProgFd, Retval, DataSizeIn, DataSizeOut uint32
	DataIn, DataOut                         uint64
	Repeat, Duration, CtxSizeIn, CtxSizeOut uint32
	CtxIn, CtxOut                           uint64
	Flags, CPU, BatchSize                   uint32
	_                                       uint32
}

// headBytes is the first 48 bytes of a frame as the programs' bench_head.
func headBytes(head []byte) [48]byte {
	var b [48]byte
	copy(b[:], head)
	return b
}

// openBench loads the baselines; with head, each first restores it (bpf/bench.c).
func openBench(tb testing.TB, redirectTo int, head []byte) *benchObjects {
	tb.Helper()
	spec, err := loadBench()
	if err != nil {
		tb.Fatal(err)
	}
	if err := spec.Variables["redirect_ifindex"].Set(uint32(redirectTo)); err != nil {
		tb.Fatal(err)
	}
	if head != nil {
		if err := spec.Variables["restore"].Set(uint32(1)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := spec.Variables["bench_head"].Set(headBytes(head)); err != nil {
		tb.Fatal(err)
	}
	var bench benchObjects
	if err := spec.LoadAndAssign(&bench, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { bench.Close() })
	return &bench
}

// Benchmark modes of tun_decap (bench_mode in bpf/tunnel.c).
const (
	benchRestore = 1 // restore the frame's head, then work as in routerd
	benchDrop    = 2 // restore, decapsulate, and drop instead of redirecting
	benchMatch   = 3 // restore, parse and match, drop
)

// openDecapBench loads the tunnel programs (unpinned) in a benchmark mode for frames
// starting with head.
func openDecapBench(tb testing.TB, mode uint32, head []byte) *Tunnels {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to load BPF programs")
	}
	spec, err := loadTunnel()
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	if err := spec.Variables["bench_mode"].Set(mode); err != nil {
		tb.Fatal(err)
	}
	if err := spec.Variables["bench_head"].Set(headBytes(head)); err != nil {
		tb.Fatal(err)
	}
	t := &Tunnels{}
	if err := spec.LoadAndAssign(&t.objs, nil); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { t.objs.Close() })
	return t
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

// BenchmarkDecap measures tun_decap per tunnel type with live frames (the in-kernel
// generator of BPF_PROG_RUN) arriving on a veth, beside baselines in the same run:
//
//	go test -run XXX -bench Decap -benchtime 2000000x ./dataplane
//
// ns/op is ns/packet as the kernel times its run loop (rig.live). Every program measured first writes the frame's original head
// back (bpf/lib/bench.h says why; count-drop-bare shows what those stores cost).
//
//   - count-drop: count in a per-CPU array and drop, the baseline of x-count-drop;
//   - strip-only: count, strip 24 bytes (bpf_xdp_adjust_head) and drop: what any
//     decapsulation pays at least here;
//   - match-gre: tun_decap stopping after parse and match (bench_mode BENCH_MATCH);
//   - decap-TYPE: tun_decap as routerd loads it, but dropping where it would redirect
//     (bench_mode BENCH_DROP): parse, match, strip, rewrite, count. Target 1.3x;
//   - redirect-only: count and redirect into a tunnel veth whose peer runs XDP (so the
//     redirect succeeds; MACHINE-NOTES), the baseline of x-redirect-only;
//   - deliver-TYPE: tun_decap redirecting into that veth, as routerd runs it;
//   - stack-*: count and XDP_PASS to the kernel stack: the GRE frame as is (no GRE handler
//     here: parsed and dropped by the IP layer) and its inner UDP packet.
//
// Other work on a 2-core machine moves single figures by 10-30 %, so each ratio comes
// from the program and its baseline run in alternating chunks (benchChunks of them),
// the median of the per-chunk ratios.
func BenchmarkDecap(b *testing.B) {
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
	gre := frames[0].pkt
	countDrop := openBench(b, 0, gre).CountDrop
	redirectOnly := openBench(b, r.hidden, gre).RedirectOnly
	// chunk runs p on n frames and returns ns/frame; redirects says its frames must
	// reach the visible end.
	chunk := func(b *testing.B, p *ebpf.Program, pkt []byte, n int, redirects bool) float64 {
		before := delivered()
		ns := r.live(b, p, pkt, n)
		// A failing redirect (err -95: nothing on the peer) would make the figure
		// meaningless. The veth ring (256 frames) may overflow now and then when the
		// peer's NAPI runs late, which is part of the cost, not a failure.
		if got := delivered() - before; redirects && got < uint64(n)*99/100 {
			b.Fatalf("%d of %d frames reached the visible end", got, n)
		}
		return ns
	}
	type baseline struct {
		name      string
		p         *ebpf.Program
		redirects bool
	}
	run := func(name string, prog func(b *testing.B) *ebpf.Program, pkt []byte, redirects bool, bases ...baseline) {
		b.Run(name, func(b *testing.B) {
			p := prog(b)
			ratios := make([][]float64, len(bases))
			var total float64
			b.ResetTimer()
			for c := 0; c < benchChunks; c++ {
				n := b.N / benchChunks
				if c == 0 {
					n += b.N % benchChunks
				}
				if n == 0 {
					continue
				}
				b.StopTimer()
				base := make([]float64, len(bases))
				for i, bl := range bases {
					base[i] = chunk(b, bl.p, gre, n, bl.redirects)
				}
				b.StartTimer()
				ns := chunk(b, p, pkt, n, redirects)
				total += ns * float64(n)
				for i := range bases {
					ratios[i] = append(ratios[i], ns/base[i])
				}
			}
			b.StopTimer()
			b.ReportMetric(total/float64(b.N), "ns/op")
			if st, err := p.Stats(); err == nil && st.RunCount > 0 {
				b.ReportMetric(float64(st.Runtime.Nanoseconds())/float64(st.RunCount), "prog-ns/op")
			}
			for i, bl := range bases {
				if len(ratios[i]) > 0 {
					b.ReportMetric(median(ratios[i]), "x-"+bl.name)
				}
			}
		})
	}
	cd := baseline{"count-drop", countDrop, false}
	ro := baseline{"redirect-only", redirectOnly, true}
	run("count-drop", func(*testing.B) *ebpf.Program { return countDrop }, gre, false)
	run("count-drop-bare", func(b *testing.B) *ebpf.Program { return openBench(b, 0, nil).CountDrop }, gre, false, cd)
	decap := func(mode uint32, f int) func(b *testing.B) *ebpf.Program {
		return func(b *testing.B) *ebpf.Program {
			tp := openDecapBench(b, mode, frames[f].pkt)
			tn := frames[f].tn
			tn.Hidden, tn.VisibleMAC, tn.HiddenMAC = r.hidden, r.visibleMAC, r.ownMAC
			if err := tp.Set(tn); err != nil {
				b.Fatal(err)
			}
			return tp.objs.TunDecap
		}
	}
	run("strip-only", func(b *testing.B) *ebpf.Program { return openBench(b, 0, gre).CountStrip }, gre, false, cd)
	run("match-gre", decap(benchMatch, 0), gre, false, cd)
	for i, f := range frames {
		run("decap-"+f.name, decap(benchDrop, i), f.pkt, false, cd)
	}
	run("redirect-only", func(*testing.B) *ebpf.Program { return redirectOnly }, gre, true, cd)
	for i, f := range frames {
		run("deliver-"+f.name, decap(benchRestore, i), f.pkt, true, ro, cd)
	}
	inner := append([]byte{}, gre[:14]...)
	inner = append(inner, gre[14+24:]...)
	copy(inner[14+16:], netip.MustParseAddr("198.18.0.1").AsSlice())
	binary.BigEndian.PutUint16(inner[14+10:], 0)
	binary.BigEndian.PutUint16(inner[14+10:], ipCsum(inner[14:34]))
	run("stack-gre", func(b *testing.B) *ebpf.Program { return openBench(b, 0, gre).CountPass }, gre, false, cd)
	run("stack-inner-udp", func(b *testing.B) *ebpf.Program { return openBench(b, 0, inner).CountPass }, inner, false, cd)
}

// benchChunks is how many alternating chunks BenchmarkDecap splits a run into.
const benchChunks = 10

func median(v []float64) float64 {
	s := append([]float64{}, v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
