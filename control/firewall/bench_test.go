package firewall

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"

	"github.com/routerd/routerd/control/system"
)

var benchFlag = flag.Bool("firewall.bench", false, "run the firewall benchmarks of docs/perf.md (root; minutes)")

var benchBlocklist = flag.Int("firewall.blocklist", 100000, "lines of TestBenchAddressListImport's big import (0: none)")

var benchRounds = flag.Int("firewall.rounds", 3, "rounds of TestBenchImport10k (each: nft -f, then the import)")

// rules10k is a 10,000-rule filter ruleset of the kind an import carries: forward rules
// with addresses, protocols and ports, accept and drop.
func rules10k(n int) []*Rule {
	var rs []*Rule
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		rs = append(rs, rule(uint64(i+1), "filter", "chain", "forward", "action", []string{"accept", "drop"}[i%2],
			"src-address", a.String()+"/24", "protocol", "tcp", "dst-port", fmt.Sprint(1000+i%5000)))
	}
	return rs
}

// nftText is the same ruleset for nft -f, with a named counter per rule as routerd has.
func nftText(n int) string {
	var b strings.Builder
	b.WriteString("table ip bench {\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "counter c%d { }\n", i+1)
	}
	b.WriteString("chain forward {\ntype filter hook forward priority 0; policy accept;\n")
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		fmt.Fprintf(&b, "ip saddr %s/24 tcp dport %d counter name c%d %s\n", a, 1000+i%5000, i+1, []string{"accept", "drop"}[i%2])
	}
	b.WriteString("}\n}\n")
	return b.String()
}

// TestBenchApply10k: applying 10,000 filter rules through routerd's compiler and one
// nftables transaction, beside nft -f of the equivalent ruleset, in the same run.
//
//	go test ./control/firewall/ -run TestBenchApply10k -firewall.bench -v
func TestBenchApply10k(t *testing.T) {
	if !*benchFlag {
		t.Skip("benchmark: run with -firewall.bench")
	}
	tp := newTopo(t)
	k := &Kernel{NetNS: int(tp.rfd.Fd())}
	const n, rounds = 10000, 5
	f := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(f, []byte(nftText(n)), 0o644); err != nil {
		t.Fatal(err)
	}
	var ours, theirs time.Duration
	for i := 0; i < rounds; i++ {
		start := time.Now()
		pl := Compile(Config{Rules: rules10k(n)})
		if len(pl.Invalid) > 0 {
			t.Fatal(pl.Invalid)
		}
		if err := k.Apply(pl, nil); err != nil {
			t.Fatal(err)
		}
		ours += time.Since(start)
		if err := k.Apply(&Plan{}, nil); err != nil { // remove, so each round starts empty
			t.Fatal(err)
		}
		start = time.Now()
		sh(t, "ip", "netns", "exec", tp.r, "nft", "-f", f)
		theirs += time.Since(start)
		sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", "bench")
	}
	t.Logf("10,000 rules: routerd compile+apply %v per apply, nft -f %v per apply, ratio %.2f",
		ours/rounds, theirs/rounds, float64(ours)/float64(theirs))
}

// throughputRig is the topology of a throughput benchmark and a kernel handle on its
// router; it skips the test unless -firewall.bench is given and iperf3 is installed.
func throughputRig(t *testing.T) (*topo, *Kernel) {
	t.Helper()
	if !*benchFlag {
		t.Skip("benchmark: run with -firewall.bench")
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("needs iperf3")
	}
	tp := newTopo(t)
	return tp, &Kernel{NetNS: int(tp.rfd.Fd())}
}

// tcpRate is the Mbit/s of a 3 s iperf3 run client -> server through the router. It
// starts a one-test server and retries the client until the server listens, rather than
// guessing how long the server takes to start.
func tcpRate(t *testing.T, tp *topo) float64 {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", tp.s, "iperf3", "-s", "-1")
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := exec.Command("ip", "netns", "exec", tp.c, "iperf3", "-c", "198.19.2.2", "-t", "3", "-f", "m").CombinedOutput()
		out = string(b)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // the server is not listening yet
	}
	m := regexp.MustCompile(`([0-9.]+) Mbits/sec\s+\S*\s*receiver`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("iperf3:\n%s", out)
	}
	var v float64
	fmt.Sscan(m[1], &v)
	return v
}

// TestBenchSetVsLinear: TCP throughput client -> server through the router while the
// forward chain checks the source against 100,000 addresses: as one address-list match
// (routerd's sets) beside 100,000 linear rules (one per address), in the same run.
//
//	go test ./control/firewall/ -run TestBenchSetVsLinear -firewall.bench -v
func TestBenchSetVsLinear(t *testing.T) {
	tp, k := throughputRig(t)
	const n = 100000
	// Every other address, so the interval set cannot merge them into a few ranges.
	addr := func(i int) netip.Addr {
		j := 2 * i
		return netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
	}
	// No rules.
	base := tcpRate(t, tp)
	t.Logf("no rules: %.0f Mbit/s", base)
	// One rule, 100,000-entry address list.
	var ents []Entry
	for i := 0; i < n; i++ {
		ents = append(ents, Entry{From: addr(i), To: addr(i)})
	}
	pl := Compile(Config{Rules: []*Rule{rule(1, "filter", "chain", "forward", "action", "drop", "src-address-list", "big")},
		Lists: map[string][]Entry{"big": ents}})
	start := time.Now()
	if err := k.Apply(pl, map[string][]Entry{"big": ents}); err != nil {
		t.Fatal(err)
	}
	applySet := time.Since(start)
	withSet := tcpRate(t, tp)
	t.Logf("address list: %.0f Mbit/s", withSet)
	if err := k.Apply(&Plan{}, nil); err != nil {
		t.Fatal(err)
	}
	// 100,000 linear rules.
	var b strings.Builder
	b.WriteString("table ip linear {\nchain forward {\ntype filter hook forward priority 0; policy accept;\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "ip saddr %s drop\n", addr(i))
	}
	b.WriteString("}\n}\n")
	f := filepath.Join(t.TempDir(), "linear.nft")
	os.WriteFile(f, []byte(b.String()), 0o644)
	start = time.Now()
	sh(t, "ip", "netns", "exec", tp.r, "nft", "-f", f)
	t.Logf("100,000 linear rules loaded in %v", time.Since(start))
	linear := tcpRate(t, tp)
	t.Logf("TCP client->server through the router, Mbit/s: no rules %.0f; 100,000-entry address list %.0f (applied in %v); 100,000 linear rules %.0f",
		base, withSet, applySet, linear)
}

// TestBenchImport10k: the whole path of a 10,000-rule `/ip firewall filter` file run by
// `/import` (the console's parser, the store's commit, the engine's pass until the
// kernel has acknowledged the transaction with every rule) beside nft -f of the
// equivalent ruleset, in the same run. Besides wall time it reports CPU time (user+sys,
// kernel work in the syscalls included): on a shared machine wall time follows the
// load, CPU time does not. After the clock stops the kernel's table is checked to hold
// the 10,000 rules. Each round runs nft -f and then the import; the last line gives the
// ratios of the means and the median of the rounds' ratios (the figures of docs/perf.md),
// and the spread of the rounds'.
//
//	go test ./control/firewall/ -run TestBenchImport10k -firewall.bench -v [-firewall.rounds 5]
func TestBenchImport10k(t *testing.T) {
	if !*benchFlag {
		t.Skip("benchmark: run with -firewall.bench")
	}
	tp := newTopo(t)
	const n = 10000
	rounds := *benchRounds
	var b strings.Builder
	b.WriteString("/ip firewall filter\n")
	for i := 0; i < n; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0})
		fmt.Fprintf(&b, "add chain=forward action=%s src-address=%s/24 protocol=tcp dst-port=%d\n", []string{"accept", "drop"}[i%2], a, 1000+i%5000)
	}
	f := filepath.Join(t.TempDir(), "rules.nft")
	if err := os.WriteFile(f, []byte(nftText(n)), 0o644); err != nil {
		t.Fatal(err)
	}
	load0 := loadAverage()
	var ours, theirs, oursCPU, theirsCPU time.Duration
	var wallRatios, cpuRatios []float64
	for round := 0; round < rounds; round++ {
		cmd := exec.Command("ip", "netns", "exec", tp.r, "nft", "-f", f)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -f: %v\n%s", err, out)
		}
		nftWall := time.Since(start)
		nftUser, nftSys := cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime()
		sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", "bench")

		dir := t.TempDir()
		r := newRigIn(t, tp, dir)
		system.Register(r.ex, r.in, dir, nil, time.Now())
		if err := os.MkdirAll(filepath.Join(dir, "files"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "files", "rules.rsc"), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		r.e.mu.Lock()
		gen0 := r.e.passGen
		r.e.mu.Unlock()
		runtime.GC()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		user0, sys0 := cpuTimes()
		start = time.Now()
		var out strings.Builder
		if err := r.in.Run(context.Background(), r.con, "/import file-name=rules.rsc", &out); err != nil {
			t.Fatal(err)
		}
		script := time.Since(start)
		applied := func() bool {
			r.e.mu.Lock()
			defer r.e.mu.Unlock()
			pl := r.e.applied[false]
			return pl != nil && len(pl.Counters) >= n
		}
		// The loop signals each pass it ends: waiting on that, not polling, keeps the
		// benchmark's own wakeups out of routerd's CPU time.
		for !applied() {
			select {
			case <-r.e.passed:
			case <-time.After(4*time.Minute - time.Since(start)):
				t.Fatal("the engine never applied the last rule")
			}
		}
		wall := time.Since(start)
		user1, sys1 := cpuTimes()
		user, sys := user1-user0, sys1-sys0
		runtime.ReadMemStats(&ms1)
		r.e.mu.Lock()
		passes := r.e.passGen - gen0
		r.e.mu.Unlock()
		if got := strings.Count(ruleset(t, tp), "counter name"); got != n {
			t.Fatalf("the kernel holds %d rules, want %d", got, n)
		}
		ours += wall
		oursCPU += user + sys
		theirs += nftWall
		theirsCPU += nftUser + nftSys
		wallRatios = append(wallRatios, float64(wall)/float64(nftWall))
		cpuRatios = append(cpuRatios, float64(user+sys)/float64(nftUser+nftSys))
		t.Logf("round %d: /import %v wall (the file itself %v, %d passes), CPU %v (user %v, sys %v, %d MB allocated, %d GCs); nft -f %v wall, CPU %v (user %v, sys %v); ratio %.2f wall, %.2f CPU",
			round, wall.Round(time.Millisecond), script.Round(time.Millisecond), passes, (user + sys).Round(time.Millisecond), user.Round(time.Millisecond), sys.Round(time.Millisecond),
			(ms1.TotalAlloc-ms0.TotalAlloc)>>20, ms1.NumGC-ms0.NumGC,
			nftWall.Round(time.Millisecond), (nftUser + nftSys).Round(time.Millisecond), nftUser.Round(time.Millisecond), nftSys.Round(time.Millisecond),
			wallRatios[round], cpuRatios[round])
		r.stop()
		sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", TableName)
	}
	wr, cr := float64(ours)/float64(theirs), float64(oursCPU)/float64(theirsCPU)
	wm, cm := median(wallRatios), median(cpuRatios)
	verdict := "met"
	if max(wr, cr, wm, cm) > 1.5 {
		verdict = "NOT met"
	}
	t.Logf("10,000-rule /ip firewall filter /import until the kernel has every rule, mean of %d: %v wall, %v CPU; nft -f: %v wall, %v CPU; "+
		"RATIO %.2f wall, %.2f CPU; MEDIAN of the rounds' ratios %.2f wall, %.2f CPU (rounds: wall %.2f-%.2f, CPU %.2f-%.2f); "+
		"target at most 1.5 (mean and median): %s; load average %s -> %s",
		rounds, (ours / time.Duration(rounds)).Round(time.Millisecond), (oursCPU / time.Duration(rounds)).Round(time.Millisecond),
		(theirs / time.Duration(rounds)).Round(time.Millisecond), (theirsCPU / time.Duration(rounds)).Round(time.Millisecond),
		wr, cr, wm, cm, slices.Min(wallRatios), slices.Max(wallRatios), slices.Min(cpuRatios), slices.Max(cpuRatios), verdict, load0, loadAverage())
}

// median is the middle of xs (the mean of the two middle ones for an even count): one
// round slowed by the machine's other load moves it less than the mean.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// loadAverage is /proc/loadavg's 1, 5 and 15 minute figures.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "?"
}

// cpuTimes is the process's user and sys time so far.
func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// blocklist is an address-list import of n entries of list, from the n-th address
// after first: every other address of 10.0.0.0/8, so the interval set cannot merge
// them into ranges. Set elements only: no packet goes to them.
func blocklist(list string, first, n int) string {
	var b strings.Builder
	b.WriteString("/ip firewall address-list\n")
	for i := first; i < first+n; i++ {
		fmt.Fprintf(&b, "add list=%s address=%s\n", list, blockAddr(i))
	}
	return b.String()
}

func blockAddr(i int) netip.Addr {
	j := 2 * i
	return netip.AddrFrom4([4]byte{10, byte(j >> 16), byte(j >> 8), byte(j)})
}

// listBench is a routerd (a rig with /import) in the bench topology and its data dir.
type listBench struct {
	*rig
	tp  *topo
	dir string
}

// newListBench starts a fresh routerd whose forward chain drops src-address-list=bl, so
// each pass sends that list's set.
func newListBench(t *testing.T, tp *topo) *listBench {
	dir := t.TempDir()
	r := newRigIn(t, tp, dir)
	system.Register(r.ex, r.in, dir, nil, time.Now())
	if err := os.MkdirAll(filepath.Join(dir, "files"), 0o700); err != nil {
		t.Fatal(err)
	}
	r.run(t, `/ip firewall filter add chain=forward src-address-list=bl action=drop`)
	return &listBench{rig: r, tp: tp, dir: dir}
}

// elements counts the elements of list's configured set in the kernel.
func (b *listBench) elements(t *testing.T, list string) int {
	k := &Kernel{NetNS: int(b.tp.rfd.Fd())}
	c, err := k.conn()
	if err != nil {
		t.Fatal(err)
	}
	els, err := c.GetSetElements(&nftables.Set{Table: table(false), Name: staticSet(list)})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range els {
		if !e.IntervalEnd {
			n++
		}
	}
	return n
}

// importFile runs `/import` of src over the console and waits until a pass that began
// after it has applied it and the kernel's set bl holds want elements: the time of the
// script alone and until applied.
func (b *listBench) importFile(t *testing.T, src string, want int) (script, wall time.Duration) {
	t.Helper()
	r := b.rig
	if err := os.WriteFile(filepath.Join(b.dir, "files", "list.rsc"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var out strings.Builder
	if err := r.in.Run(context.Background(), r.con, "/import file-name=list.rsc", &out); err != nil {
		t.Fatal(err)
	}
	script = time.Since(start)
	if strings.Contains(out.String(), "failure") {
		t.Fatalf("import: %s", out.String())
	}
	// A pass that began after the import ended has every entry.
	r.e.mu.Lock()
	gen := r.e.passGen
	r.e.mu.Unlock()
	r.e.poke()
	for {
		r.e.mu.Lock()
		done := r.e.appliedGen[false] > gen
		r.e.mu.Unlock()
		if done {
			break
		}
		select {
		case <-r.e.passed:
		case <-time.After(10*time.Minute - time.Since(start)):
			t.Fatal("the engine never applied the import")
		}
	}
	wall = time.Since(start)
	if got := b.elements(t, "bl"); got != want {
		t.Fatalf("the kernel's set holds %d entries, want %d", got, want)
	}
	return script, wall
}

// TestBenchAddressListImport: `/import` of address-list files (the console's parser,
// the duplicate check, the store's commit, the engine's passes until the kernel's set
// holds every entry), issue 15: 5,000 lines onto an empty list, 10,000 more, then 5,000
// onto the 15,000 (the per-line cost must not grow with the list), and 100,000 lines
// into a fresh routerd. Beside them, in the same run, nft -f adding the same 100,000
// elements to an interval set. A list used by a rule, so each pass sends its set.
//
//	go test ./control/firewall/ -run TestBenchAddressListImport -firewall.bench -v
func TestBenchAddressListImport(t *testing.T) {
	if !*benchFlag {
		t.Skip("benchmark: run with -firewall.bench")
	}
	tp := newTopo(t)
	load0 := loadAverage()
	perLine := func(d time.Duration, n int) string {
		return fmt.Sprintf("%v (%.2f ms/line)", d.Round(time.Millisecond), float64(d)/float64(n)/1e6)
	}

	b := newListBench(t, tp)
	s1, w1 := b.importFile(t, blocklist("bl", 0, 5000), 5000)
	s2, w2 := b.importFile(t, blocklist("bl", 5000, 10000), 15000)
	s3, w3 := b.importFile(t, blocklist("bl", 15000, 5000), 20000)
	t.Logf("5,000 lines onto an empty list: %s until applied (the file %s); 10,000 more: %s (%s); 5,000 onto 15,000: %s (%s); "+
		"per line onto 15,000 / onto none: %.2f",
		perLine(w1, 5000), perLine(s1, 5000), perLine(w2, 10000), perLine(s2, 10000), perLine(w3, 5000), perLine(s3, 5000), float64(w3)/float64(w1))
	b.stop()
	sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", TableName)

	big := *benchBlocklist
	if big == 0 {
		return
	}
	b = newListBench(t, tp)
	s4, w4 := b.importFile(t, blocklist("bl", 0, big), big)
	b.stop()
	sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", TableName)

	var nb strings.Builder
	nb.WriteString("table ip bench {\nset bl { type ipv4_addr; flags interval,timeout; }\n}\n")
	for i := 0; i < big; i += 1000 {
		nb.WriteString("add element ip bench bl {")
		for j := i; j < min(i+1000, big); j++ {
			if j > i {
				nb.WriteString(",")
			}
			nb.WriteString(blockAddr(j).String())
		}
		nb.WriteString("}\n")
	}
	f := filepath.Join(t.TempDir(), "set.nft")
	if err := os.WriteFile(f, []byte(nb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sh(t, "ip", "netns", "exec", tp.r, "nft", "-f", f)
	nftWall := time.Since(start)
	sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", "bench")
	t.Logf("%d lines into a fresh routerd: %s until applied (the file %s); nft -f of the same elements: %v; ratio %.1f",
		big, perLine(w4, big), perLine(s4, big), nftWall.Round(time.Millisecond), float64(w4)/float64(nftWall))
	t.Logf("load average %s -> %s", load0, loadAverage())
}
