package netlink

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRouteImport10k applies 10,000 static routes from an .rsc import through routerd
// and, in the same iteration, the same routes with `ip -batch`, each into a fresh namespace.
// A routerd figure counts until the kernel holds every route (the engine applies
// asynchronously), not only until the import returns. Reported: both times, their ratio
// (target at most 2), routerd's resident memory after the import and ip's peak.
//
//	go test -run XXX -bench RouteImport10k -benchtime 3x ./test/netlink
func BenchmarkRouteImport10k(b *testing.B) {
	need(b)
	const n = 10000
	var rsc, batch strings.Builder
	rsc.WriteString("/ip route\n")
	for i := 0; i < n; i++ {
		dst := fmt.Sprintf("198.19.%d.%d/32", i/250, i%250+1)
		fmt.Fprintf(&rsc, "add dst-address=%s gateway=198.18.0.2\n", dst)
		fmt.Fprintf(&batch, "route add %s via 198.18.0.2\n", dst)
	}
	dir := b.TempDir()
	rscFile, batchFile := filepath.Join(dir, "routes.rsc"), filepath.Join(dir, "routes.batch")
	if err := os.WriteFile(rscFile, []byte(rsc.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(batchFile, []byte(batch.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	var m importFigures
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tag := "b" + strconv.Itoa(i)
		ns := netns(b, tag+"r")
		peer := netns(b, tag+"p")
		veth(b, ns, "ether1", peer, "ether1")
		run(b, "ip", "-n", ns, "addr", "add", "198.18.0.1/24", "dev", "ether1")
		run(b, "ip", "-n", ns, "link", "set", "ether1", "up")
		r := startRouter(b, ns, b.TempDir())

		ipns := netns(b, tag+"i")
		ipeer := netns(b, tag+"q")
		veth(b, ipns, "ether1", ipeer, "ether1")
		run(b, "ip", "-n", ipns, "addr", "add", "198.18.0.1/24", "dev", "ether1")
		run(b, "ip", "-n", ipns, "link", "set", "ether1", "up")
		b.StartTimer()

		start := time.Now()
		if out, err := r.ctl("-f", rscFile); err != nil {
			b.Fatalf("import: %v %s", err, out)
		}
		m.imp += time.Since(start)
		for countRoutes(b, ns) < n {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("routes not applied: %d of %d", countRoutes(b, ns), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		m.rd += time.Since(start)
		m.ipBatch(b, ipns, batchFile)
		m.stop(b, r)
	}
	m.report(b)
}

// importFigures sums what the import benchmarks measure over b.N iterations.
type importFigures struct {
	rd, ipb, imp time.Duration // routerd until the kernel has all, ip -batch, the import command
	rss, ipRSS   float64       // routerd's resident MB after the import, ip's peak
}

// ipBatch times `ip -batch file` in ns, the kernel's own speed to compare routerd with.
func (m *importFigures) ipBatch(b *testing.B, ns, file string) {
	start := time.Now()
	cmd := exec.Command("ip", "-n", ns, "-batch", file)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("ip -batch: %v %s", err, out)
	}
	m.ipb += time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.ipRSS = float64(ru.Maxrss) / 1024
	}
}

// stop reads routerd's resident memory and stops it, off the clock.
func (m *importFigures) stop(b *testing.B, r *router) {
	b.StopTimer()
	m.rss = vmRSS(b, r.Pid())
	r.stop()
	b.StartTimer()
}

// report gives the figures per iteration and routerd's time against ip's.
func (m *importFigures) report(b *testing.B) {
	b.StopTimer()
	b.ReportMetric(float64(m.rd.Milliseconds())/float64(b.N), "routerd-ms")
	b.ReportMetric(float64(m.ipb.Milliseconds())/float64(b.N), "ip-batch-ms")
	b.ReportMetric(float64(m.imp.Milliseconds())/float64(b.N), "import-ms")
	b.ReportMetric(float64(m.rd)/float64(m.ipb), "ratio")
	b.ReportMetric(m.rss, "routerd-rss-MB")
	b.ReportMetric(m.ipRSS, "ip-maxrss-MB")
}

// countRoutes counts the routes routerd installed (protocol 0xc4) in ns.
func countRoutes(t testing.TB, ns string) int {
	out := run(t, "ip", "-n", ns, "-4", "route", "show", "proto", "196")
	return strings.Count(out, "\n")
}

// vmRSS reads a process's resident memory in MB. routerd runs under nsenter, which execs
// it, so the pid is routerd's own.
func vmRSS(t testing.TB, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkAddressImport10k imports 10,000 /ip address lines into a running routerd and,
// in the same iteration, adds the same addresses with `ip -batch`, each into a fresh
// namespace, onto 4 veth interfaces (this kernel has no dummy links). "host" adds /32s
// (QA's addr10k.rsc); "subnet" adds /30s, so the kernel also makes 10,000 connected
// routes. A routerd figure counts until the kernel holds every address. Reported: both
// times, their ratio, the import's own time, routerd's and ip's memory, and how many passes the ipcfg, queue and
// fastpath engines ran and the wall time those took (routerd_engine_passes_total,
// routerd_engine_pass_seconds_total) from the import's start until every address was in.
//
//	go test -run XXX -bench AddressImport10k -benchtime 1x ./test/netlink
func BenchmarkAddressImport10k(b *testing.B) {
	need(b)
	const n, links = 10000, 4
	for _, tc := range []struct {
		name string
		addr func(i int) string
	}{
		{"host", func(i int) string { return fmt.Sprintf("198.19.%d.%d/32", i/250, i%250+1) }},
		{"subnet", func(i int) string { return fmt.Sprintf("198.18.%d.%d/30", i/64, i%64*4+1) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var rsc, batch strings.Builder
			rsc.WriteString("/ip address\n")
			for i := 0; i < n; i++ {
				fmt.Fprintf(&rsc, "add address=%s interface=ether%d\n", tc.addr(i), i%links+1)
				fmt.Fprintf(&batch, "addr add %s dev ether%d\n", tc.addr(i), i%links+1)
			}
			dir := b.TempDir()
			rscFile, batchFile := filepath.Join(dir, "addrs.rsc"), filepath.Join(dir, "addrs.batch")
			for f, s := range map[string]string{rscFile: rsc.String(), batchFile: batch.String()} {
				if err := os.WriteFile(f, []byte(s), 0o600); err != nil {
					b.Fatal(err)
				}
			}
			ports := func(ns, peer string) {
				for l := 1; l <= links; l++ {
					e := "ether" + strconv.Itoa(l)
					veth(b, ns, e, peer, e)
					run(b, "ip", "-n", ns, "link", "set", e, "up")
				}
			}
			var m importFigures
			passes, passSecs := map[string]float64{}, map[string]float64{}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tag := "a" + tc.name[:1] + strconv.Itoa(i)
				ns := netns(b, tag+"r")
				ports(ns, netns(b, tag+"p"))
				r := startRouter(b, ns, b.TempDir())
				ipns := netns(b, tag+"i")
				ports(ipns, netns(b, tag+"q"))
				base, baseT := r.engineMetric(b, "passes_total"), r.engineMetric(b, "pass_seconds_total")
				b.StartTimer()

				start := time.Now()
				if out, err := r.ctl("-f", rscFile); err != nil {
					b.Fatalf("import: %v %s", err, out)
				}
				m.imp += time.Since(start)
				for got := countAddrs(b, ns); got < n; got = countAddrs(b, ns) {
					if time.Since(start) > 10*time.Minute {
						b.Fatalf("addresses not applied: %d of %d", got, n)
					}
					time.Sleep(50 * time.Millisecond)
				}
				m.rd += time.Since(start)
				b.StopTimer()
				for e, v := range r.engineMetric(b, "passes_total") {
					passes[e] += v - base[e]
				}
				for e, v := range r.engineMetric(b, "pass_seconds_total") {
					passSecs[e] += v - baseT[e]
				}
				b.StartTimer()

				m.ipBatch(b, ipns, batchFile)
				m.stop(b, r)
			}
			m.report(b)
			for _, e := range []string{"ipcfg", "queue", "fastpath"} {
				b.ReportMetric(passes[e]/float64(b.N), e+"-passes")
				b.ReportMetric(passSecs[e]/float64(b.N), e+"-pass-s")
			}
		})
	}
}

// countAddrs counts the IPv4 addresses in ns but the loopback's (the veths have no
// others).
func countAddrs(t testing.TB, ns string) int {
	out := run(t, "ip", "-n", ns, "-4", "-o", "addr", "show")
	return strings.Count(out, "\n") - strings.Count(out, ": lo ")
}

// engineMetric reads a routerd_engine_* counter (passes_total, pass_seconds_total) by
// engine.
func (r *router) engineMetric(t testing.TB, metric string) map[string]float64 {
	t.Helper()
	out, err := r.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]float64{}
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(l, "routerd_engine_"+metric+`{engine="`)
		if !ok {
			continue
		}
		name, val, _ := strings.Cut(rest, `"} `)
		m[name], _ = strconv.ParseFloat(val, 64)
	}
	return m
}
