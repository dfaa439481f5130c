package esp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
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

// startNodePerWake is startNode with Config.TUNReadsPerWake and outInline set; its close
// ends the node (the test's cleanup closes again, which is harmless).
func startNodePerWake(t testing.TB, ns string, perWake int, inline bool) (*node, func()) {
	n := &node{}
	var err error
	inNS(t, ns, func() {
		if n.udp, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 4500}); err != nil {
			return
		}
		if n.udp6, err = net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6unspecified, Port: 4500}); err != nil {
			return
		}
		cfg := DefaultConfig()
		cfg.UDP4500, cfg.UDP4500v6 = n.udp, n.udp6
		cfg.Force = KindUserspace
		cfg.TUNReadsPerWake, cfg.outInline = perWake, inline
		n.dp, err = Open(context.Background(), cfg)
	})
	if err != nil {
		t.Fatal(err)
	}
	go ServeUDP(n.dp, n.udp, nil)
	go ServeUDP(n.dp, n.udp6, nil)
	stop := func() { n.dp.Close(); n.udp.Close(); n.udp6.Close() }
	t.Cleanup(stop)
	return n, stop
}

type iperfResult struct {
	bps         float64
	retransmits int
}

// iperfHosts runs iperf3 TCP from ns to dst (a server started in srvNS) for secs.
func iperfHosts(t testing.TB, ns, srvNS, dst string, secs int) iperfResult {
	t.Helper()
	srv := exec.Command("ip", "netns", "exec", srvNS, "iperf3", "-s", "-1", "-B", dst)
	if err := srv.Start(); err != nil {
		t.Skipf("iperf3: %v", err)
	}
	defer srv.Process.Kill()
	var out string
	var err error
	for end := time.Now().Add(15 * time.Second); ; {
		time.Sleep(300 * time.Millisecond)
		out, err = nsExec(t, ns, "iperf3", "-c", dst, "-t", fmt.Sprint(secs), "-J", "--connect-timeout", "3000")
		if err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	var res struct {
		End struct {
			SumSent struct {
				Retransmits int `json:"retransmits"`
			} `json:"sum_sent"`
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Error != "" {
		t.Fatalf("iperf3: %v %s\n%s", err, res.Error, out)
	}
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return iperfResult{res.End.SumReceived.BitsPerSecond, res.End.SumSent.Retransmits}
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
	}
	ways := []way{
		{"raw ESP, unbatched", 1, true, false},
		{"raw ESP, batched inline", 0, true, false},
		{"raw ESP, batched + send stage", 0, false, false},
		{"ESP-in-UDP, unbatched", 1, true, true},
		{"ESP-in-UDP, batched inline", 0, true, true},
		{"ESP-in-UDP, batched + send stage", 0, false, true},
	}
	type acc struct {
		mbit               []float64
		retr               int
		drops, devPkts     uint64
		cpu, gbit          float64
		wakes, reads, pkts uint64
		loads              []string
	}
	res := map[string]*acc{}
	for _, w := range ways {
		res[w.name] = &acc{}
	}
	for i := 0; i < b.N; i++ {
		for round := 0; round < rounds; round++ {
			for _, w := range ways {
				a, stopA := startNodePerWake(b, r.a, w.perWake, w.inline)
				bn, stopB := startNodePerWake(b, r.b, w.perWake, w.inline)
				install(b, a, bn, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel, udp: w.udp})
				pingOK(b, r.ha, "198.19.2.10")
				p0, d0 := devStats(b, r.a, "ipsec0")
				c0 := cpuSeconds(os.Getpid())
				ir := iperfHosts(b, r.ha, r.hb, "198.19.2.10", secs)
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
				b.Logf("%s: %.0f Mbit/s, %d retransmits, ipsec0 TX drops %d, a: %s", w.name, ir.bps/1e6, ir.retransmits, d1-d0, &u.perf)
				stopA()
				stopB()
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
		return s[len(s)/2]
	}
	var lines []string
	lines = append(lines, "| way | Mbit/s (median; runs) | retransmits | a's ipsec0 TX drops | CPU-s per Gbit (both routers) | a's packets per TUN batch |")
	for _, w := range ways {
		x := res[w.name]
		runs := make([]string, len(x.mbit))
		for i, m := range x.mbit {
			runs[i] = fmt.Sprintf("%.0f", m)
		}
		lines = append(lines, fmt.Sprintf("| %s | %.0f (%s) | %d | %d | %.2f | %.1f |", w.name, med(x.mbit), strings.Join(runs, ", "),
			x.retr, x.drops, x.cpu/max(x.gbit, 1e-9), float64(x.pkts)/max(float64(x.wakes), 1)))
		if med(x.mbit) <= 0 {
			b.Fatalf("%s carried nothing", w.name)
		}
	}
	for _, kind := range []string{"raw ESP", "ESP-in-UDP"} {
		base := med(res[kind+", unbatched"].mbit)
		inl, st := med(res[kind+", batched inline"].mbit)/base, med(res[kind+", batched + send stage"].mbit)/base
		lines = append(lines, fmt.Sprintf("%s / unbatched: batched inline %.2f, batched + send stage %.2f", kind, inl, st))
		b.ReportMetric(st, strings.ReplaceAll(kind, " ", "")+"-ratio")
	}
	lines = append(lines, "load averages: "+strings.Join(res[ways[0].name].loads, "; "))
	b.Log("\n" + strings.Join(lines, "\n"))
}
