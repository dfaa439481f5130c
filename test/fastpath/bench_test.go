package fastpath

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/routerd/routerd/tools/trafficgen"
)

// inNS runs fn on a thread inside namespace ns (BPF_PROG_RUN and XDP attachment resolve
// ifindexes in the caller's namespace).
func inNS(b testing.TB, ns string, fn func()) {
	b.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		b.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromPath("/run/netns/" + ns)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		b.Fatal(err)
	}
	defer netns.Set(orig)
	fn()
}

// benchRig is the test rig with the generator on the source's eth0 and the counting sink
// on the sink's eth0.
type benchRig struct {
	*rig
	sink   *trafficgen.Sink
	srcIdx int
	mac    net.HardwareAddr // the router's ether1
}

func newBenchRig(b *testing.B) *benchRig {
	b.Helper()
	r := newRig(b)
	br := &benchRig{rig: r}
	r.active(b)
	out := run(b, "ip", "-n", r.rtr, "-o", "link", "show", "ether1")
	m := strings.Fields(out[strings.Index(out, "link/ether"):])[1]
	br.mac, _ = net.ParseMAC(m)
	inNS(b, r.snk, func() {
		ifc, err := net.InterfaceByName("eth0")
		if err != nil {
			b.Fatal(err)
		}
		// The sink drops everything, ARP included: the router keeps its address for good.
		run(b, "ip", "-n", r.rtr, "neigh", "replace", "198.18.61.2", "lladdr", ifc.HardwareAddr.String(), "dev", "ether2", "nud", "permanent")
		if br.sink, err = trafficgen.OpenSink(ifc.Index); err != nil {
			b.Fatal(err)
		}
	})
	b.Cleanup(func() { br.sink.Close() })
	inNS(b, r.src, func() {
		ifc, _ := net.InterfaceByName("eth0")
		br.srcIdx = ifc.Index
	})
	return br
}

// gen opens the generator for o (MACs filled in) in the source namespace.
func (br *benchRig) gen(b *testing.B, o trafficgen.Options) *trafficgen.Gen {
	b.Helper()
	var g *trafficgen.Gen
	inNS(b, br.src, func() {
		ifc, _ := net.InterfaceByName("eth0")
		o.SrcMAC, o.DstMAC = ifc.HardwareAddr, br.mac
		f, err := trafficgen.Build(o)
		if err != nil {
			b.Fatal(err)
		}
		if g, err = trafficgen.Open(f, o.Flows, br.srcIdx, 0); err != nil {
			b.Fatal(err)
		}
	})
	b.Cleanup(func() { g.Close() })
	return g
}

// rate sends n frames and returns the frames per second the sink received: the count
// once it stopped growing, over the time from the start to the last frame seen.
func (br *benchRig) rate(b *testing.B, g *trafficgen.Gen, n int) float64 {
	b.Helper()
	before := br.sink.Count()
	start := time.Now()
	inNS(b, br.src, func() {
		if _, err := g.Run(n); err != nil {
			b.Fatal(err)
		}
	})
	last, lastAt := br.sink.Count(), time.Now()
	for time.Since(lastAt) < 200*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
		if c := br.sink.Count(); c != last {
			last, lastAt = c, time.Now()
		}
	}
	got := last - before
	if got < uint64(n)/100 {
		b.Fatalf("the sink received %d of %d frames", got, n)
	}
	return float64(got) / lastAt.Sub(start).Seconds()
}

// compare runs the generator in alternating chunks with setA and setB applied and
// reports both rates (median of the chunks) and their ratio.
func (br *benchRig) compare(b *testing.B, g *trafficgen.Gen, nameA, nameB string, setA, setB func()) {
	const chunks = 6
	n := max(b.N/chunks, 50000)
	var ra, rb, ratios []float64
	for c := 0; c < chunks; c++ {
		setA()
		a := br.rate(b, g, n)
		setB()
		bb := br.rate(b, g, n)
		ra, rb, ratios = append(ra, a), append(rb, bb), append(ratios, a/bb)
	}
	b.ReportMetric(median(ra), nameA+"-pps")
	b.ReportMetric(median(rb), nameB+"-pps")
	b.ReportMetric(median(ratios), "x-"+nameB)
}

func median(v []float64) float64 {
	s := append([]float64{}, v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// setting applies a console command and waits until print shows want.
func (br *benchRig) setting(b *testing.B, cmd, print, prop_, want string) {
	b.Helper()
	br.must(cmd)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if prop(br.must(print), prop_) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("%s: %s did not become %s", cmd, prop_, want)
}

var (
	src4 = netip.MustParseAddr("198.18.60.2")
	dst4 = netip.MustParseAddr("198.18.61.2")
)

// BenchmarkForward: 64-byte UDP frames (16 flows) from the generator through the router
// to the sink, FastPath beside the kernel forwarding the same frames (allow-fast-path=no),
// alternating in the same run:
//
//	go test -run XXX -bench Forward -benchtime 600000x ./test/fastpath
func BenchmarkForward(b *testing.B) {
	br := newBenchRig(b)
	g := br.gen(b, trafficgen.Options{Proto: "udp", Size: 64, Flows: 16, Src: src4, Dst: dst4})
	on := func() {
		br.setting(b, "/ip settings set allow-fast-path=yes", "/ip settings print", "ipv4-fast-path-active", "yes")
	}
	off := func() {
		br.setting(b, "/ip settings set allow-fast-path=no", "/ip settings print", "ipv4-fast-path-active", "no")
	}
	br.compare(b, g, "fastpath", "kernel", on, off)
}

// BenchmarkDecapForward: UDP in GRE from the source to the router's gre1, whose inner
// destination is the sink: decapsulated and forwarded in one XDP pass
// (allow-fast-path=yes on the tunnel) beside decapsulation to the tunnel interface and
// the kernel's forwarding from there (allow-fast-path=no).
//
//	go test -run XXX -bench DecapForward -benchtime 600000x ./test/fastpath
func BenchmarkDecapForward(b *testing.B) {
	br := newBenchRig(b)
	br.must("/interface gre add name=gre1 local-address=198.18.60.1 remote-address=198.18.60.2")
	g := br.gen(b, trafficgen.Options{Proto: "gre", Size: 128, Flows: 16, Src: netip.MustParseAddr("198.18.70.2"), Dst: dst4,
		OuterSrc: src4, OuterDst: netip.MustParseAddr("198.18.60.1")})
	tunnel := func(v string) func() {
		return func() {
			br.must("/interface gre set gre1 allow-fast-path=" + v)
			time.Sleep(300 * time.Millisecond) // the tunnel engine's pass writes the map
		}
	}
	// Frames reach the sink either way: the rate decides.
	br.compare(b, g, "decap-forward", "decap-kernel", tunnel("yes"), tunnel("no"))
}

// BenchmarkRouteTable: FastPath and the kernel forwarding to a destination among N
// routes (/32 routes added with ip -batch, which routerd leaves alone), compared at each
// size in the same run as BenchmarkForward compares them:
//
//	go test -run XXX -bench RouteTable -benchtime 300000x ./test/fastpath
func BenchmarkRouteTable(b *testing.B) {
	br := newBenchRig(b)
	dst := netip.MustParseAddr("198.19.200.1")
	g := br.gen(b, trafficgen.Options{Proto: "udp", Size: 64, Flows: 16, Src: src4, Dst: dst})
	added := 0
	a := netip.MustParseAddr("198.18.64.0")
	addRoutes := func(total int) {
		f, err := os.Create(filepath.Join(br.dir, "routes"))
		if err != nil {
			b.Fatal(err)
		}
		for ; added < total; added++ {
			if a != dst {
				fmt.Fprintf(f, "route add %s/32 via 198.18.61.2\n", a)
			}
			a = a.Next()
		}
		f.Close()
		run(b, "ip", "-n", br.rtr, "-batch", filepath.Join(br.dir, "routes"))
		// routerd follows the kernel's routes: let it digest them before measuring.
		time.Sleep(2 * time.Second)
	}
	run(b, "ip", "-n", br.rtr, "route", "add", dst.String()+"/32", "via", "198.18.61.2")
	on := func() {
		br.setting(b, "/ip settings set allow-fast-path=yes", "/ip settings print", "ipv4-fast-path-active", "yes")
	}
	off := func() {
		br.setting(b, "/ip settings set allow-fast-path=no", "/ip settings print", "ipv4-fast-path-active", "no")
	}
	for _, size := range []int{1, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("routes-%d", size), func(b *testing.B) {
			addRoutes(size)
			br.compare(b, g, "fastpath", "kernel", on, off)
		})
	}
}

// BenchmarkFastTrack: 64-byte UDP frames (16 flows) through masquerade and a filter of
// 100 rules that match nothing, then fasttrack-connection and accept: FastTrack beside
// the kernel running the same nftables ruleset (allow-fast-path=no), alternating in the
// same run:
//
//	go test -run XXX -bench FastTrack -benchtime 600000x ./test/fastpath
func BenchmarkFastTrack(b *testing.B) {
	br := newBenchRig(b)
	var script strings.Builder
	script.WriteString("/ip firewall nat add chain=srcnat action=masquerade out-interface=ether2\n")
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&script, "/ip firewall filter add chain=forward action=drop src-address=198.19.%d.%d protocol=tcp\n", i/250, i%250+1)
	}
	script.WriteString("/ip firewall filter add chain=forward action=fasttrack-connection\n")
	script.WriteString("/ip firewall filter add chain=forward action=accept\n")
	f := filepath.Join(br.dir, "rules.rsc")
	if err := os.WriteFile(f, []byte(script.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	out, err := execCtl(br.rig, "-f", f)
	if err != nil {
		b.Fatalf("import: %v\n%s", err, out)
	}
	g := br.gen(b, trafficgen.Options{Proto: "udp", Size: 64, Flows: 16, Src: src4, Dst: dst4})
	on := func() {
		br.setting(b, "/ip settings set allow-fast-path=yes", "/ip settings print", "ipv4-fasttrack-active", "yes")
	}
	off := func() {
		br.setting(b, "/ip settings set allow-fast-path=no", "/ip settings print", "ipv4-fasttrack-active", "no")
	}
	br.compare(b, g, "fasttrack", "kernel-nftables", on, off)
	if n := br.counter("ipv4-fasttrack-packets"); n == 0 {
		b.Fatal("no packet was fasttracked")
	}
}

// execCtl runs routerctl against the rig's routerd with args.
func execCtl(r *rig, args ...string) (string, error) {
	return r.rd.Ctl(nil, args...)
}
