package esp

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

// fwdRig is newRig's two routers with a host behind each: ha (198.19.1.10) on a's LAN
// port (198.19.1.254/24), hb (198.19.2.10) on b's, both routers forwarding. The hosts send
// without TSO/GSO, so their TCP leaves as 1,500-byte frames as it would reach a router
// from a wire, and the LAN ports keep the veth default of no GRO: each packet reaches the
// ESP device as an skb of its own, as forwarded traffic does.
type fwdRig struct {
	*rig
	ha, hb string
}

func newFwdRig(t testing.TB) *fwdRig {
	r := &fwdRig{rig: newRig(t)}
	id := strings.TrimPrefix(r.a, "espa")
	r.ha, r.hb = "ebha"+id, "ebhb"+id
	for _, h := range []struct{ host, router, lan string }{{r.ha, r.a, "198.19.1"}, {r.hb, r.b, "198.19.2"}} {
		run(t, "ip", "netns", "add", h.host)
		host := h.host
		t.Cleanup(func() { exec.Command("ip", "netns", "del", host).Run() })
		run(t, "ip", "-n", h.host, "link", "set", "lo", "up")
		run(t, "ip", "link", "add", "ebl"+id, "netns", h.router, "type", "veth", "peer", "name", "ebh"+id, "netns", h.host)
		run(t, "ip", "-n", h.router, "link", "set", "ebl"+id, "name", "lan0")
		run(t, "ip", "-n", h.host, "link", "set", "ebh"+id, "name", "eth0")
		run(t, "ip", "-n", h.router, "addr", "add", h.lan+".254/24", "dev", "lan0")
		run(t, "ip", "-n", h.host, "addr", "add", h.lan+".10/24", "dev", "eth0")
		run(t, "ip", "-n", h.router, "link", "set", "lan0", "up")
		run(t, "ip", "-n", h.host, "link", "set", "eth0", "up")
		run(t, "ip", "-n", h.host, "route", "add", "default", "via", h.lan+".254")
		run(t, "ip", "netns", "exec", h.host, "ethtool", "-K", "eth0", "tso", "off", "gso", "off")
		run(t, "ip", "netns", "exec", h.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	return r
}

// devStats are a device's TX packets and drops (ip -s link).
func devStats(t testing.TB, ns, dev string) (packets, dropped uint64) {
	var links []struct {
		Stats64 struct {
			TX struct{ Packets, Dropped uint64 }
		}
	}
	if json.Unmarshal([]byte(run(t, "ip", "-n", ns, "-s", "-j", "link", "show", dev)), &links) == nil && len(links) == 1 {
		return links[0].Stats64.TX.Packets, links[0].Stats64.TX.Dropped
	}
	return 0, 0
}

// avgRTT is the average of ping -q's summary line (rtt min/avg/max/mdev), in ms; -1
// without one.
func avgRTT(out string) float64 {
	i := strings.Index(out, " = ")
	if i < 0 {
		return -1
	}
	f := strings.Split(strings.Fields(out[i+3:])[0], "/")
	if len(f) < 2 {
		return -1
	}
	var v float64
	if _, err := fmt.Sscan(f[1], &v); err != nil {
		return -1
	}
	return v
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// BenchmarkForwardedBatching: iperf3 TCP from ha to hb through a and b's userspace ESP
// (aes-128-gcm, tunnel mode), forwarded traffic of 1,500-byte packets (fwdRig), with the
// TUN read in batches (one wakeup drains the device, one send for the batch) beside the
// path before (TUNReadsPerWake 1: one read, one send), raw ESP and ESP-in-UDP, the ways
// alternated in the same run. Per way: Mbit/s (median), TCP retransmits and a's ipsec0 TX
// drops (summed), the process's CPU per Gbit, and a's packets per TUN batch.
//
//	go test -count=1 -run XXX -bench ForwardedBatching -benchtime 1x -timeout 15m -v ./ike/esp/
//
// (-v: without it the testing package cuts a benchmark's log after ten lines.)
func BenchmarkForwardedBatching(b *testing.B) {
	needRoot(b)
	for _, tool := range []string{"iperf3", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed", tool)
		}
	}
	secs, rounds := 4, 3
	r := newFwdRig(b)
	type way struct {
		name    string
		perWake int
		inline  bool
		udp     bool
		qlen    int // ipsec0's txqueuelen (0: the TUN's default, 500)
	}
	// The q2000 ways measure a longer queue at ipsec0, tried and not taken (docs/perf.md).
	ways := []way{
		{"raw ESP, unbatched", 1, true, false, 0},
		{"raw ESP, batched inline", 0, true, false, 0},
		{"raw ESP, batched + send stage", 0, false, false, 0},
		{"raw ESP, batched + send stage q2000", 0, false, false, 2000},
		{"ESP-in-UDP, unbatched", 1, true, true, 0},
		{"ESP-in-UDP, batched inline", 0, true, true, 0},
		{"ESP-in-UDP, batched + send stage", 0, false, true, 0},
		{"ESP-in-UDP, batched + send stage q2000", 0, false, true, 2000},
	}
	type acc struct {
		mbit               []float64
		retr               int
		drops, devPkts     uint64
		cpu, gbit          float64
		wakes, reads, pkts uint64
		loads              []string
		rtt                []float64
	}
	res := map[string]*acc{}
	for _, w := range ways {
		res[w.name] = &acc{}
	}
	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			for _, w := range ways {
				perWake := func(c *Config) { c.TUNReadsPerWake, c.outInline = w.perWake, w.inline }
				a, bn := startNodeWith(b, r.a, perWake), startNodeWith(b, r.b, perWake)
				install(b, a, bn, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel, udp: w.udp})
				if w.qlen > 0 {
					for _, n := range []string{r.a, r.b} {
						run(b, "ip", "-n", n, "link", "set", "ipsec0", "txqueuelen", fmt.Sprint(w.qlen))
					}
				}
				pingOK(b, r.ha, "198.19.2.10")
				p0, d0 := devStats(b, r.a, "ipsec0")
				c0 := cpuSeconds(os.Getpid())
				// Pings beside the TCP stream: the delay a full queue adds.
				ping := exec.Command("ip", "netns", "exec", r.ha, "ping", "-q", "-i", "0.05", "-w", fmt.Sprint(secs+2), "198.19.2.10")
				var pingOut strings.Builder
				ping.Stdout = &pingOut
				if err := ping.Start(); err != nil {
					b.Fatal(err)
				}
				ir := iperf(b, r.ha, r.hb, "198.19.2.10", secs)
				ping.Process.Signal(os.Interrupt)
				ping.Wait()
				x := res[w.name]
				x.cpu += cpuSeconds(os.Getpid()) - c0
				p1, d1 := devStats(b, r.a, "ipsec0")
				x.mbit = append(x.mbit, ir.bps/1e6)
				x.gbit += ir.bps * float64(secs) / 1e9
				x.retr += ir.retransmits
				x.drops += d1 - d0
				x.devPkts += p1 - p0
				u := a.dp.(*userspace)
				x.wakes += u.perf.tunWakes.Load()
				x.reads += u.perf.tunReads.Load()
				x.pkts += u.perf.tunReadPkts.Load()
				x.loads = append(x.loads, loadAvg())
				x.rtt = append(x.rtt, avgRTT(pingOut.String()))
				b.Logf("%s: %.0f Mbit/s, %d retransmits, ipsec0 TX drops %d, a: %s", w.name, ir.bps/1e6, ir.retransmits, d1-d0, &u.perf)
				a.close()
				bn.close()
				// The next way's device takes the name.
				for _, n := range []string{r.a, r.b} {
					for j := 0; j < 50 && exec.Command("ip", "-n", n, "link", "show", "ipsec0").Run() == nil; j++ {
						time.Sleep(100 * time.Millisecond)
					}
				}
			}
		}
	}
	med := func(v []float64) float64 {
		s := append([]float64(nil), v...)
		sort.Float64s(s)
		if len(s)%2 == 0 {
			return (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		return s[len(s)/2]
	}
	var lines []string
	lines = append(lines, "| way | Mbit/s (median; runs) | retransmits | a's ipsec0 TX drops (per 1,000 packets) | ping ms under load (median of the runs' averages) | CPU-s per Gbit (both routers) | a's packets per TUN batch |")
	for _, w := range ways {
		x := res[w.name]
		runs := make([]string, len(x.mbit))
		for i, m := range x.mbit {
			runs[i] = fmt.Sprintf("%.0f", m)
		}
		lines = append(lines, fmt.Sprintf("| %s | %.0f (%s) | %d | %d (%.0f) | %.1f | %.2f | %.1f |", w.name, med(x.mbit), strings.Join(runs, ", "),
			x.retr, x.drops, 1000*float64(x.drops)/max(float64(x.devPkts+x.drops), 1), med(x.rtt), x.cpu/max(x.gbit, 1e-9),
			float64(x.pkts)/max(float64(x.wakes), 1)))
		if med(x.mbit) <= 0 {
			b.Fatalf("%s carried nothing", w.name)
		}
	}
	for _, kind := range []string{"raw ESP", "ESP-in-UDP"} {
		base := med(res[kind+", unbatched"].mbit)
		inl, now := med(res[kind+", batched inline"].mbit)/base, med(res[kind+", batched + send stage"].mbit)/base
		q := med(res[kind+", batched + send stage q2000"].mbit) / base
		lines = append(lines, fmt.Sprintf("%s / unbatched: batched inline %.2f, batched + send stage %.2f, with q2000 %.2f", kind, inl, now, q))
		b.ReportMetric(now, strings.ReplaceAll(kind, " ", "")+"-ratio")
	}
	lines = append(lines, "load averages: "+strings.Join(res[ways[0].name].loads, "; "))
	b.Log("\n" + strings.Join(lines, "\n"))
}
