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
	var rd, ipb, imp time.Duration
	var rss, ipRSS float64
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
		imp += time.Since(start)
		for countRoutes(b, ns) < n {
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("routes not applied: %d of %d", countRoutes(b, ns), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		rd += time.Since(start)

		start = time.Now()
		cmd := exec.Command("ip", "-n", ipns, "-batch", batchFile)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ip -batch: %v %s", err, out)
		}
		ipb += time.Since(start)
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			ipRSS = float64(ru.Maxrss) / 1024
		}
		b.StopTimer()
		rss = vmRSS(b, r.Pid())
		r.stop()
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(rd.Milliseconds())/float64(b.N), "routerd-ms")
	b.ReportMetric(float64(ipb.Milliseconds())/float64(b.N), "ip-batch-ms")
	b.ReportMetric(float64(imp.Milliseconds())/float64(b.N), "import-ms")
	b.ReportMetric(float64(rd)/float64(ipb), "ratio")
	b.ReportMetric(rss, "routerd-rss-MB")
	b.ReportMetric(ipRSS, "ip-maxrss-MB")
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
