package dataplane

import (
	"encoding/binary"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkEncapVsOld compares tun_encap with the tun_encap of another build of
// bpf/tunnel.c (ROUTERD_OLD_TUNNEL_OBJ: a tunnel_bpfel.o, such as the one main had before
// a change) on small frames, the common path: a 64-byte IPv4 packet into GRE and an ARP
// frame into EoIP, each redirected to the underlay. The two run in alternating chunks
// (BPF_PROG_RUN, one frame per call, as tun_encap changes the frame it is given); x-old
// is the median of the per-chunk ratios of their kernel-measured run times.
//
//	git show main:dataplane/tunnel_bpfel.o > /tmp/old.o
//	ROUTERD_OLD_TUNNEL_OBJ=/tmp/old.o go test ./dataplane -run '^$' -bench EncapVsOld
func BenchmarkEncapVsOld(b *testing.B) {
	path := os.Getenv("ROUTERD_OLD_TUNNEL_OBJ")
	if path == "" {
		b.Skip("ROUTERD_OLD_TUNNEL_OBJ names the tunnel_bpfel.o to compare with")
	}
	objs := loadOrSkip(b)
	r := newRig(b, openBench(b, 0, nil))
	r.in(b, func() {
		for _, c := range [][]string{{"sysctl", "-qw", "net.ipv4.conf.h0.forwarding=1"},
			{"ip", "neigh", "add", "198.18.0.2", "lladdr", "02:00:00:00:00:0b", "dev", "u0", "nud", "permanent"}} {
			if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				b.Fatalf("%v: %v %s", c, err, out)
			}
		}
	})
	spec, err := ebpf.LoadCollectionSpec(path)
	if err != nil {
		b.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	var old struct {
		TunEncap  *ebpf.Program `ebpf:"tun_encap"`
		TunnelCfg *ebpf.Map     `ebpf:"tunnel_cfg"`
	}
	if err := spec.LoadAndAssign(&old, nil); err != nil {
		b.Fatal(err)
	}
	defer old.TunEncap.Close()
	defer old.TunnelCfg.Close()
	tp := &Tunnels{objs: *objs}
	for _, tc := range []struct {
		name  string
		tn    Tunnel
		frame []byte
	}{
		{"gre-ipv4-64", Tunnel{Kind: GRE}, ether(0x0800, tcpSYN(0, true, 1400)[:40])},
		{"eoip-arp", Tunnel{Kind: EoIP, TunnelID: 3}, ether(0x0806, make([]byte, 28))},
	} {
		tn := tc.tn
		tn.Local, tn.Remote, tn.DSCP, tn.TTL = ipA, ipB, DSCPInherit, 64
		tn.Hidden, tn.VisibleMAC, tn.HiddenMAC = r.hidden, r.visibleMAC, r.ownMAC
		if err := tp.Set(tn); err != nil {
			b.Fatal(err)
		}
		// The old object's maps hold the same configuration (tun_cfg's layout did not
		// change; the counters' array is its own).
		var cfg tunnelTunCfg
		if err := tp.objs.TunnelCfg.Lookup(uint32(r.hidden), &cfg); err != nil {
			b.Fatal(err)
		}
		if err := old.TunnelCfg.Put(uint32(r.hidden), &cfg); err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			var ratios []float64
			var total float64
			n := max(b.N/benchChunks, 1)
			for c := 0; c < benchChunks; c++ {
				o := encapNs(b, r, old.TunEncap, tc.frame, n)
				nw := encapNs(b, r, tp.objs.TunEncap, tc.frame, n)
				total += nw * float64(n)
				ratios = append(ratios, nw/o)
			}
			b.ReportMetric(total/float64(n*benchChunks), "ns/op")
			b.ReportMetric(median(ratios), "x-old")
		})
	}
}

// encapNs runs tun_encap n times, one frame per BPF_PROG_RUN as if arriving at the hidden
// end, and returns the mean of the kernel's run times; every run must redirect.
func encapNs(tb testing.TB, r *rig, p *ebpf.Program, frame []byte, n int) float64 {
	tb.Helper()
	var sum float64
	r.in(tb, func() {
		ctx := make([]byte, 44) // struct __sk_buff up to ifindex (offset 40)
		binary.LittleEndian.PutUint32(ctx[40:], uint32(r.hidden))
		out := make([]byte, len(frame)+256)
		attr := &progRunAttr{ProgFd: uint32(p.FD()), DataSizeIn: uint32(len(frame)),
			DataIn: uint64(uintptr(unsafe.Pointer(&frame[0]))), DataOut: uint64(uintptr(unsafe.Pointer(&out[0]))),
			Repeat: 1, CtxSizeIn: uint32(len(ctx)), CtxIn: uint64(uintptr(unsafe.Pointer(&ctx[0])))}
		for i := 0; i < n; i++ {
			attr.DataSizeOut = uint32(len(out))
			_, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_TEST_RUN, uintptr(unsafe.Pointer(attr)), unsafe.Sizeof(*attr))
			if errno != 0 {
				tb.Fatalf("BPF_PROG_TEST_RUN: %v", errno)
			}
			if attr.Retval != tcActRedirect {
				tb.Fatalf("verdict %d, want redirect", attr.Retval)
			}
			sum += float64(attr.Duration)
		}
		runtime.KeepAlive(frame)
		runtime.KeepAlive(ctx)
		runtime.KeepAlive(out)
	})
	return sum / float64(n)
}
