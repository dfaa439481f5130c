package tunnel

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkControlPlane: the tunnel engine's control-plane cost for 10 and 1,000 GRE
// tunnels in one routerd: the time from one script adding them to all of them being in
// the dataplane's maps, the CPU routerd spends per 5 s resync period with nothing changed
// (measured over three periods; it includes the keepalive tick), the map writes and the
// netlink, sysctl and ethtool changes those resyncs make (none is the requirement), and
// routerd's resident memory:
//
//	go test -run XXX -bench ControlPlane -benchtime 1x ./test/tunnel
//
// The baseline, in the same run, is the kernel alone: `ip -batch` adding what routerd
// makes of N GRE tunnels, a veth pair each (this kernel has no GRE; the eBPF dataplane
// does the encapsulation), and setting both ends up, in a namespace of its own. With ROUTERD_BENCH_PROFILE=DIR
// the router writes CPU profiles DIR/gre-N.0 (start and create) and DIR/gre-N.1 (the
// resync periods), for `go tool pprof`.
func BenchmarkControlPlane(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root for namespaces")
	}
	// ROUTERD_BENCH_BEFORE=DIR (routerd and routerctl built from another commit) runs
	// each size with those binaries too, right before this tree's: before and after in
	// one run, under the same load.
	variants := []struct{ name, bin string }{{"", binDir}}
	if dir := os.Getenv("ROUTERD_BENCH_BEFORE"); dir != "" {
		variants = []struct{ name, bin string }{{"-before", dir}, {"-after", binDir}}
	}
	for _, n := range []int{10, 1000} {
		for _, v := range variants {
			b.Run(fmt.Sprintf("gre-%d%s", n, v.name), func(b *testing.B) { benchControlPlane(b, n, v.bin) })
		}
	}
}

func benchControlPlane(b *testing.B, n int, bin string) {
	for b.Loop() {
		tp := newTopo(b)
		r := tp.ra
		profile := ""
		if dir := os.Getenv("ROUTERD_BENCH_PROFILE"); dir != "" {
			profile = filepath.Join(dir, filepath.Base(b.Name()))
			r.Opts.Env = append(r.Opts.Env, "ROUTERD_CPUPROFILE="+profile)
		}
		if profile != "" || bin != binDir {
			r.stop()
			r.Bin = bin
			r.start()
		}
		base, baseCPU := ipBatchBaseline(b, n)
		// Each tunnel its own remote (plain GRE tunnels to one remote are one
		// tunnel on receive), all routed over the underlay to B.
		run(b, "ip", "-n", tp.a, "route", "add", "198.19.0.0/16", "via", tp.addrB)
		var src strings.Builder
		fmt.Fprintf(&src, ":for i from=1 to=%d do={/interface gre add name=(\"g\" . $i) remote-address=(198.19.0.0 + $i) keepalive=10s,10}\n", n)
		f, err := os.CreateTemp(b.TempDir(), "*.rsc")
		if err != nil {
			b.Fatal(err)
		}
		f.WriteString(src.String())
		f.Close()
		start := time.Now()
		cpu0 := cpuTime(b, r.Pid())
		r.must("-f", f.Name())
		script := time.Since(start)
		// Polled every 250 ms: a scrape with 1,000 tunnels costs routerd tens of
		// milliseconds, and polling faster would measure the polling.
		deadline := time.Now().Add(10 * time.Minute)
		for metric(r.scrape(), "routerd_tunnel_map_writes_total") < float64(n) {
			if time.Now().After(deadline) {
				b.Fatalf("%d tunnels not in the maps after 10 minutes", n)
			}
			time.Sleep(250 * time.Millisecond)
		}
		create := time.Since(start)
		createCPU := cpuTime(b, r.Pid()) - cpu0
		b.Logf("%d tunnels: the script ran %.1f s, all in the maps after %.1f s; routerd CPU %.1f s, ip -batch's %.2f s (wall %.1f s)",
			n, script.Seconds(), create.Seconds(), createCPU.Seconds(), baseCPU.Seconds(), base.Seconds())
		var during []string
		for eng, v := range passSeconds(r.scrape()) {
			if v >= 0.001 {
				during = append(during, fmt.Sprintf("%s %.0f ms", eng, v*1000))
			}
		}
		sort.Strings(during)
		b.Logf("%d tunnels: engine pass wall time from start to all in the maps: %s", n, strings.Join(during, ", "))
		w0 := metric(r.scrape(), "routerd_tunnel_map_writes_total")
		k0 := metric(r.scrape(), "routerd_tunnel_kernel_writes_total")
		p0 := passSeconds(r.scrape())
		if profile != "" {
			syscall.Kill(r.Pid(), syscall.SIGUSR1) // the resyncs' profile begins
		}
		c0 := cpuTime(b, r.Pid())
		t0 := time.Now()
		time.Sleep(15 * time.Second)
		cpu := cpuTime(b, r.Pid()) - c0
		if profile != "" {
			syscall.Kill(r.Pid(), syscall.SIGUSR1)
		}
		periods := time.Since(t0).Seconds() / 5
		writes := metric(r.scrape(), "routerd_tunnel_map_writes_total") - w0
		kwrites := metric(r.scrape(), "routerd_tunnel_kernel_writes_total") - k0
		var spent []string
		for eng, v := range passSeconds(r.scrape()) {
			if d := (v - p0[eng]) * 1000 / periods; d >= 1 {
				spent = append(spent, fmt.Sprintf("%s %.0f ms", eng, d))
			}
		}
		sort.Strings(spent)
		b.Logf("%d tunnels: engine pass wall time per period: %s", n, strings.Join(spent, ", "))
		rss := rssKB(b, r.Pid())
		b.ReportMetric(create.Seconds(), "create-s")
		b.ReportMetric(base.Seconds(), "ip-batch-s")
		b.ReportMetric(create.Seconds()/base.Seconds(), "create/ip-batch")
		b.ReportMetric(createCPU.Seconds(), "create-cpu-s")
		b.ReportMetric(cpu.Seconds()*1000/periods, "resync-cpu-ms/period")
		b.ReportMetric(writes, "resync-map-writes")
		b.ReportMetric(kwrites, "resync-kernel-writes")
		b.ReportMetric(float64(rss)/1024, "rss-MiB")
		if writes != 0 {
			b.Errorf("resyncs with nothing changed wrote %v tunnels to the maps", writes)
		}
		if kwrites != 0 {
			b.Errorf("resyncs with nothing changed made %v netlink, sysctl or ethtool changes", kwrites)
		}
	}
}

// ipBatchBaseline is how long the kernel alone takes to add the links of n tunnels (a
// veth pair each, as routerd makes them) and set them up: one `ip -batch` in a namespace
// of its own, every pair added first and all set up after (three times faster than
// pair by pair on this kernel, so the harder baseline), and the CPU time ip used (the
// kernel's work for its requests included).
func ipBatchBaseline(tb testing.TB, n int) (wall, cpu time.Duration) {
	tb.Helper()
	nsName := fmt.Sprintf("rdbase%d", os.Getpid())
	run(tb, "ip", "netns", "add", nsName)
	defer exec.Command("ip", "netns", "del", nsName).Run()
	var batch strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&batch, "link add g%d type veth peer name rtgre%d\n", i, i)
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&batch, "link set g%d up\nlink set rtgre%d up\n", i, i)
	}
	f := filepath.Join(tb.TempDir(), "batch")
	if err := os.WriteFile(f, []byte(batch.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("ip", "-n", nsName, "-batch", f)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ip -batch: %v\n%s", err, out)
	}
	wall = time.Since(start)
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

var metricLine = regexp.MustCompile(`(?m)^(\S+) (\S+)$`)

var passLine = regexp.MustCompile(`(?m)^routerd_engine_pass_seconds_total\{engine="([^"]+)"\} (\S+)$`)

// passSeconds reads routerd_engine_pass_seconds_total by engine.
func passSeconds(scrape string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range passLine.FindAllStringSubmatch(scrape, -1) {
		out[m[1]], _ = strconv.ParseFloat(m[2], 64)
	}
	return out
}

// metric reads an unlabelled metric from a scrape.
func metric(scrape, name string) float64 {
	for _, m := range metricLine.FindAllStringSubmatch(scrape, -1) {
		if m[1] == name {
			v, _ := strconv.ParseFloat(m[2], 64)
			return v
		}
	}
	return -1
}

// cpuTime is the user and system time a process has used (/proc/PID/stat, clock ticks
// of 10 ms).
func cpuTime(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// rssKB is a process's resident set (VmRSS) in KiB.
func rssKB(tb testing.TB, pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
