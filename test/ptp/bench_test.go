package ptp

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var benchLogs = flag.String("ptp.bench-logs", "", "folder to write both slaves' output to")

var (
	benchOffset = flag.Duration("ptp.bench-offset", 37*time.Millisecond, "starting error of both slaves' virtual clocks in BenchmarkSideBySide")
	benchDrift  = flag.Int("ptp.bench-drift", 100_000, "frequency error of both slaves' virtual clocks in ppb")
)

var benchFor = flag.Duration("ptp.bench-duration", 30*time.Second, "how long BenchmarkSideBySide samples after each slave's lock (the issue's figure: 2m)")

// BenchmarkSideBySide: one rig, one grandmaster, two slaves started at the same instant.
// A ptp4l grandmaster (default intervals: Announce and Sync every second; -S -4 -E) with
// one port to each of two slave namespaces: routerd on its virtual clock and ptp4l
// (-S -4 -E -s) on the shim's virtual clock (testdata/vclock.c), both started 37 ms
// off and 100 ppm fast. The slaves start once the grandmaster is master.
//
// Reported for each: the time from start to its servo's lock (first s2 sample) and to
// a stricter lock common to both (the first of three consecutive samples with |offset|
// < 1 us); then, over -ptp.bench-duration from its s2 lock, the median and 99th
// percentile of |offset| (the offset each measures: ptp4l's "master offset") and of the
// true error (its virtual clock minus the real clock the grandmaster serves).
func BenchmarkSideBySide(b *testing.B) {
	need(b)
	so := vclockSO(b)
	for b.Loop() {
		// One grandmaster clock with a port (veth pair) to each slave: the two paths are
		// alike. (Behind one bridge, the slave the bridge floods to second receives each
		// Sync microseconds later than the other, which biases its delay and offset.)
		tp := newTopo(b, "g", "r", "p")
		tp.link("g", "gr0", "r", "eth0")
		tp.link("g", "gp0", "p", "eth0")
		gm := tp.ptp4lShim(so, "g", 0, 0, "-i", "gr0", "-i", "gp0", "-4", "-E", "--priority1", "100")
		rlog := &lineLog{}
		r := tp.routerdWith("r", *benchOffset, *benchDrift, rlog, "--log-level", "debug")
		r.run("/system ptp add name=ptp1")
		waitLine(b, gm.lines, "assuming the grand master role", 30*time.Second)

		start := time.Now()
		done := make(chan struct{})
		go func() { r.run("/system ptp port add interface=eth0 ptp=ptp1"); close(done) }()
		p4 := tp.ptp4lShim(so, "p", *benchOffset, *benchDrift, "-i", "eth0", "-4", "-E", "-s")
		<-done

		var rs, ps []servoSample
		var rLock, pLock time.Time
		for deadline := time.Now().Add(*benchFor + 3*time.Minute); ; time.Sleep(time.Second) {
			rs, ps = routerdSamples(rlog), p4.samples()
			rLock, pLock = firstS2(rs), firstS2(ps)
			if !rLock.IsZero() && !pLock.IsZero() && time.Since(rLock) > *benchFor && time.Since(pLock) > *benchFor {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("not both locked and sampled: routerd lock %v (%d samples), ptp4l lock %v (%d samples)", rLock, len(rs), pLock, len(ps))
			}
		}
		rStrict, pStrict := strictLock(rs), strictLock(ps)
		rOff, rTrue := window(rs, rLock, *benchFor), routerdTrue(rlog, rLock, *benchFor)
		pOff := window(ps, pLock, *benchFor)
		pTrue := absAll(p4.trueErrors(b, pLock, pLock.Add(*benchFor)))
		secs := func(t time.Time) float64 {
			if t.IsZero() {
				return -1
			}
			return t.Sub(start).Seconds()
		}
		if *benchLogs != "" {
			os.WriteFile(filepath.Join(*benchLogs, "ptp4l.log"), []byte(p4.output()), 0o644)
			os.WriteFile(filepath.Join(*benchLogs, "routerd.log"), []byte(r.output()), 0o644)
			os.WriteFile(filepath.Join(*benchLogs, "start"), []byte(start.Format(time.RFC3339Nano)+"\n"), 0o644)
		}
		b.ReportMetric(secs(rLock), "routerd-s-to-s2")
		b.ReportMetric(secs(pLock), "ptp4l-s-to-s2")
		b.ReportMetric(secs(rStrict), "routerd-s-to-1us")
		b.ReportMetric(secs(pStrict), "ptp4l-s-to-1us")
		b.ReportMetric(float64(pct(rOff, 0.5)), "routerd-ns-median-|offset|")
		b.ReportMetric(float64(pct(pOff, 0.5)), "ptp4l-ns-median-|offset|")
		b.ReportMetric(float64(pct(rOff, 0.99)), "routerd-ns-p99-|offset|")
		b.ReportMetric(float64(pct(pOff, 0.99)), "ptp4l-ns-p99-|offset|")
		b.ReportMetric(float64(pct(rTrue, 0.5)), "routerd-ns-median-|true|")
		b.ReportMetric(float64(pct(pTrue, 0.5)), "ptp4l-ns-median-|true|")
		b.ReportMetric(float64(pct(rTrue, 0.99)), "routerd-ns-p99-|true|")
		b.ReportMetric(float64(pct(pTrue, 0.99)), "ptp4l-ns-p99-|true|")
		b.Logf("\n%-28s %12s %12s %8s\n%s%s%s%s%s%s%s%s(samples: routerd %d, ptp4l %d; true-error samples %d, %d)",
			"figure", "routerd", "ptp4l", "ratio",
			row("start to s2 lock (s)", secs(rLock), secs(pLock)),
			row("start to 3x |offset|<1us (s)", secs(rStrict), secs(pStrict)),
			row("median |offset| (ns)", float64(pct(rOff, 0.5)), float64(pct(pOff, 0.5))),
			row("p99 |offset| (ns)", float64(pct(rOff, 0.99)), float64(pct(pOff, 0.99))),
			row("median |true error| (ns)", float64(pct(rTrue, 0.5)), float64(pct(pTrue, 0.5))),
			row("p99 |true error| (ns)", float64(pct(rTrue, 0.99)), float64(pct(pTrue, 0.99))),
			row("mean |offset| (ns)", mean(rOff), mean(pOff)),
			row("mean |true error| (ns)", mean(rTrue), mean(pTrue)),
			len(rOff), len(pOff), len(rTrue), len(pTrue))
	}
}

func row(name string, a, b float64) string {
	ratio := "-"
	if b > 0 && a >= 0 {
		ratio = fmt.Sprintf("%.2f", a/b)
	}
	return fmt.Sprintf("%-28s %12.1f %12.1f %8s\n", name, a, b, ratio)
}

func waitLine(t testing.TB, l *lineLog, sub string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, sub, func() (bool, string) {
		for _, s := range l.snapshot() {
			if strings.Contains(s.text, sub) {
				return true, ""
			}
		}
		return false, ""
	})
}

var (
	routerdSample = regexp.MustCompile(`msg="ptp sample".* offset=(-?\d+) servo=(s\d)`)
	routerdHW     = regexp.MustCompile(`msg="ptp sample".* hw-offset=(-?\d+)`)
)

// routerdSamples reads routerd's debug "ptp sample" lines.
func routerdSamples(l *lineLog) []servoSample {
	var out []servoSample
	for _, s := range l.snapshot() {
		if m := routerdSample.FindStringSubmatch(s.text); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			out = append(out, servoSample{s.at, v, m[2]})
		}
	}
	return out
}

// routerdTrue reads |hw-offset| (virtual clock minus real clock) of routerd's samples
// in [from, from+d].
func routerdTrue(l *lineLog, from time.Time, d time.Duration) []int64 {
	var out []int64
	for _, s := range l.snapshot() {
		if m := routerdHW.FindStringSubmatch(s.text); m != nil && !s.at.Before(from) && !s.at.After(from.Add(d)) {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			out = append(out, abs(v))
		}
	}
	return out
}

func firstS2(ss []servoSample) time.Time {
	for _, s := range ss {
		if s.state == "s2" {
			return s.at
		}
	}
	return time.Time{}
}

// strictLock is the first of three consecutive s2 samples with |offset| < 1 us.
func strictLock(ss []servoSample) time.Time {
	for i := 0; i+2 < len(ss); i++ {
		ok := true
		for _, s := range ss[i : i+3] {
			ok = ok && s.state == "s2" && abs(s.offset) < 1000
		}
		if ok {
			return ss[i].at
		}
	}
	return time.Time{}
}

// window is |offset| of the samples in [from, from+d].
func window(ss []servoSample, from time.Time, d time.Duration) []int64 {
	var out []int64
	for _, s := range ss {
		if !s.at.Before(from) && !s.at.After(from.Add(d)) {
			out = append(out, abs(s.offset))
		}
	}
	return out
}

func absAll(xs []int64) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = abs(x)
	}
	return out
}

func mean(xs []int64) float64 {
	if len(xs) == 0 {
		return -1
	}
	var s float64
	for _, x := range xs {
		s += float64(x)
	}
	return s / float64(len(xs))
}

func pct(xs []int64, p float64) int64 {
	if len(xs) == 0 {
		return -1
	}
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}
