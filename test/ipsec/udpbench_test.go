package ipsec_test

import (
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// udpSecs is each iperf3 UDP run's length.
const udpSecs = 4

// BenchmarkForwardedUDPVsCharon: UDP that does not aggregate (iperf3 -u with a fixed
// datagram length: no GSO, one packet per datagram, two where the datagram exceeds the
// ESP device's MTU) forwarded hostA → hostB through the rig of
// BenchmarkForwardedESPVsCharon, at each rate of UDPBENCH_RATES (default 100M 300M
// 1000M) and each length of UDPBENCH_LENS (default 200 1400), through, in the same
// namespaces and the same run: routerd over raw ESP, routerd over ESP-in-UDP, charon
// (kernel-libipsec, ESP-in-UDP here) and, as the rig's own ceiling, plain routing with
// no IPsec. Extra routerd ways with their environment: UDPBENCH_EXTRA, "name=ENV=v ENV=v"
// separated by "|" (each runs raw ESP and ESP-in-UDP).
//
//	go test -count=1 -timeout 20m -run XXX -bench ForwardedUDPVsCharon -benchtime 1x -v ./test/ipsec
//
// Logged per run: the receiver's loss and Mbit/s, both gateways' ESP device TX drops
// (the TUN's queue of txqueuelen packets towards the userspace reader), UDP receive
// buffer errors at hostB (what its iperf3 socket dropped itself) and at the gateways
// (their ESP-in-UDP sockets), the CPU time of the two
// ESP processes in cores (CPU-s per second), the machine's load.
func BenchmarkForwardedUDPVsCharon(b *testing.B) {
	r := newFwdRig(b, "uq")
	rates := strings.Fields(envOr("UDPBENCH_RATES", "100M 300M 1000M"))
	var lens []int
	for _, l := range strings.Fields(envOr("UDPBENCH_LENS", "200 1400")) {
		n, err := strconv.Atoi(l)
		if err != nil {
			b.Fatalf("UDPBENCH_LENS: %v", err)
		}
		lens = append(lens, n)
	}
	type extra struct {
		name string
		env  []string
	}
	var extras []extra
	if e := os.Getenv("UDPBENCH_EXTRA"); e != "" {
		for _, x := range strings.Split(e, "|") {
			name, env, _ := strings.Cut(x, "=")
			extras = append(extras, extra{name, strings.Fields(env)})
		}
	}

	type result struct {
		loss, mbit, cores       float64
		drops, rcvbuf, gwRcvbuf uint64
		// per datagram sent: CPU microseconds of the ESP processes (both ends), system
		// calls and context switches at rA (encrypting) and rB (decrypting).
		usPer, sysA, sysB, swA, swB float64
	}
	results := map[string][]result{} // by "way rate len"
	measure := func(way string, pids []int) {
		b.Helper()
		for _, l := range lens {
			for _, rate := range rates {
				a0, b0 := statsOf(r.rA, "ipsec0"), statsOf(r.rB, "ipsec0")
				rb0, gw0 := udpRcvbufErrors(r.hB), udpRcvbufErrors(r.rA)+udpRcvbufErrors(r.rB)
				stop := meterProcs(pids)
				l0 := loadAvg()
				t0 := time.Now()
				res, err := iketest.IperfUDP(b, r.hB, "198.19.2.2", r.hA, "198.19.1.2", rate, l, udpSecs)
				secs := time.Since(t0).Seconds()
				cpu, sys, sw := stop()
				if err != nil || res.Sent == 0 {
					b.Fatalf("%s %s %d: iperf3: %v\n%s\n%s", way, rate, l, err, res.Output, r.diag())
				}
				a1, b1 := statsOf(r.rA, "ipsec0"), statsOf(r.rB, "ipsec0")
				x := result{loss: res.LossPercent(), mbit: float64(res.Bytes) * 8 / 1e6 / udpSecs,
					cores:  cpu / secs,
					drops:  a1.TX.Dropped - a0.TX.Dropped + b1.TX.Dropped - b0.TX.Dropped,
					rcvbuf: udpRcvbufErrors(r.hB) - rb0, gwRcvbuf: udpRcvbufErrors(r.rA) + udpRcvbufErrors(r.rB) - gw0}
				n := float64(res.Sent)
				x.usPer = cpu * 1e6 / n
				x.sysA, x.sysB, x.swA, x.swB = float64(sys[0])/n, float64(sys[1])/n, float64(sw[0])/n, float64(sw[1])/n
				k := fmt.Sprintf("%s %s %d", way, rate, l)
				results[k] = append(results[k], x)
				b.Logf("%s %-44s %5s %4d B: loss %5.1f%% (%d of %d), received %6.1f Mbit/s, ipsec0 TX drops %d (rA+rB), UDP rcvbuf errors hostB %d gateways %d, ESP processes %.2f cores, %.1f CPU-us a datagram, syscalls a datagram %.2f rA %.2f rB, context switches %.2f rA %.2f rB, load %.1f -> %.1f",
					time.Now().UTC().Format("15:04:05"), way, rate, l, x.loss, res.Lost, res.Sent, x.mbit, x.drops, x.rcvbuf, x.gwRcvbuf, x.cores, x.usPer, x.sysA, x.sysB, x.swA, x.swB, l0, loadAvg())
			}
		}
	}

	const (
		raw   = "routerd raw ESP"
		udp   = "routerd ESP-in-UDP"
		ch    = "charon kernel-libipsec (ESP-in-UDP)"
		plain = "plain routing, no IPsec"
	)
	ways := []string{raw, udp}
	for i := 0; i < b.N; i++ {
		if i > 0 {
			r.startRouterd(nil)
		}
		r.usePeer("raw")
		measure(raw, []int{r.dA.Pid(), r.dB.Pid()})
		r.usePeer("natt")
		measure(udp, []int{r.dA.Pid(), r.dB.Pid()})
		for _, e := range extras {
			r.stopRouterd()
			r.startRouterd(e.env)
			r.usePeer("raw")
			measure(raw+", "+e.name, []int{r.dA.Pid(), r.dB.Pid()})
			r.usePeer("natt")
			measure(udp+", "+e.name, []int{r.dA.Pid(), r.dB.Pid()})
			if i == 0 {
				ways = append(ways, raw+", "+e.name, udp+", "+e.name)
			}
		}
		r.stopRouterd()
		cA, cB := r.startCharon()
		measure(ch, []int{cA.Pid(), cB.Pid()})
		r.stopCharon(cA, cB)
		// The rig without IPsec: what hostA, the veths and hostB's iperf3 carry.
		iketest.Sh(b, "ip", "-n", r.rA, "route", "replace", "198.19.2.0/24", "via", "198.18.70.2")
		iketest.Sh(b, "ip", "-n", r.rB, "route", "replace", "198.19.1.0/24", "via", "198.18.70.1")
		measure(plain, nil)
		iketest.Sh(b, "ip", "-n", r.rA, "route", "del", "198.19.2.0/24")
		iketest.Sh(b, "ip", "-n", r.rB, "route", "del", "198.19.1.0/24")
	}
	// Per rate and length: loss and delivered Mbit/s of each way (medians over rounds),
	// as ratios to charon's.
	for _, l := range lens {
		for _, rate := range rates {
			get := func(way string) result {
				rs := results[fmt.Sprintf("%s %s %d", way, rate, l)]
				var loss, mbit []float64
				for _, x := range rs {
					loss, mbit = append(loss, x.loss), append(mbit, x.mbit)
				}
				return result{loss: median(loss), mbit: median(mbit)}
			}
			c := get(ch)
			for _, w := range ways {
				x := get(w)
				b.Logf("summary %5s %4d B: %-44s loss %5.1f%% (charon %5.1f%%), %6.1f Mbit/s (%.2fx charon's %.1f)",
					rate, l, w, x.loss, c.loss, x.mbit, x.mbit/max(c.mbit, 0.001), c.mbit)
			}
		}
	}
}

// udpRcvbufErrors is ns's UDP receive buffer errors (datagrams a full socket dropped).
func udpRcvbufErrors(ns string) uint64 {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseUint(f[i], 10, 64)
				return v
			}
		}
	}
	return 0
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
