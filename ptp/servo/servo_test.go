package servo

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/routerd/routerd/ptp/clock"
)

// rig simulates a slave behind a master that serves the system clock: a virtual clock
// with a starting offset and drift, Sync messages every interval and one E2E
// Delay_Req per Sync (sent phase seconds after it), software-timestamp-like noise on
// every timestamp (Gaussian, plus rare late ones), and the node's delay filter (median
// of the last nine, corrected for the clock's rate when the servo asks).
type rig struct {
	sys      int64
	v        *clock.Virtual
	p        *PI
	rng      *rand.Rand
	interval float64
	phase    float64
	path     int64   // true one-way delay, ns
	noise    float64 // timestamp noise, ns (standard deviation)
	delays   []entry
	steps    int
	offs     []int64 // measured offset per sample (0 before the first)
	errs     []int64 // true error of the clock after each sample
	states   []State
}

type entry struct{ d, span int64 }

func newRig(offset int64, drift float64, seed uint64) *rig {
	r := &rig{sys: 1.7e18, interval: 1, phase: 0.37, path: 5000, noise: 500,
		rng: rand.New(rand.NewPCG(seed, 7))}
	r.v = clock.NewVirtualAt(func() int64 { return r.sys }, offset, drift)
	r.p = New(Config{Interval: r.interval, Estimate: 2, FirstStep: 20_000, StepThreshold: 1_000_000, MaxFreq: 1e7}, 0)
	return r
}

// jitter is one timestamp's error: Gaussian, and one in fifty late by up to 20 us.
func (r *rig) jitter() int64 {
	j := r.rng.NormFloat64() * r.noise
	if r.rng.IntN(50) == 0 {
		j += r.rng.Float64() * 20_000
	}
	return int64(j)
}

func (r *rig) delay(rate float64) (int64, bool) {
	if len(r.delays) == 0 {
		return 0, false
	}
	s := make([]int64, 0, len(r.delays))
	for i, e := range r.delays {
		if rate != 0 {
			r.delays[i] = entry{e.d - int64(rate*1e-9*float64(e.span)/2), 0}
		}
		s = append(s, r.delays[i].d)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2], true
}

// sync runs one Sync interval: the Sync and its sample, then a Delay_Req exchange.
func (r *rig) sync() {
	iv := int64(r.interval * 1e9)
	r.sys += iv
	t1 := r.sys
	t2 := r.v.FromSystem(t1 + r.path + r.jitter())
	res := r.p.Sample(t2-t1, t2, r.delay)
	if res.Stepped {
		r.steps++
		r.v.Step(res.Step)
	}
	r.v.AdjFreq(res.Freq)
	if res.HaveOffset {
		r.offs = append(r.offs, res.Offset)
	} else {
		r.offs = append(r.offs, 0)
	}
	r.errs = append(r.errs, r.v.FromSystem(r.sys)-r.sys)
	r.states = append(r.states, r.p.State())
	if res.Stepped {
		return // as the node: the Sync before the step cannot pair with a Delay_Resp after it
	}
	// Delay_Req phase seconds after the Sync.
	s3 := r.sys + int64(r.phase*float64(iv))
	t3 := r.v.FromSystem(s3)
	t4 := s3 + r.path + r.jitter()
	r.delays = append(r.delays, entry{((t2 - t1) + (t4 - t3)) / 2, t2 - t3})
	if len(r.delays) > 9 {
		r.delays = r.delays[1:]
	}
}

// run drives the rig for n Sync intervals.
func (r *rig) run(n int) {
	for range n {
		r.sync()
	}
}

// holds is the first sample (1-based) that ends three consecutive Locked samples with
// |measured offset| < 1 us (the benchmark's holding check, in samples), or -1.
func (r *rig) holds() int {
	good := 0
	for i, o := range r.offs {
		if r.states[i] == Locked && abs(o) < 1000 {
			good++
		} else {
			good = 0
		}
		if good == 3 {
			return i + 1
		}
	}
	return -1
}

func absMedian(xs []int64) int64 {
	s := make([]int64, len(xs))
	for i, x := range xs {
		s[i] = abs(x)
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// TestLocks: from 37 ms / 100 ppm and -50 ms / -80 ppm, with software-timestamp noise,
// the servo steps once (time and frequency together) on the second Sync, is Locked
// (s2) on the third, holds the benchmark's check within a bounded number of samples,
// and keeps the offset near the noise floor afterwards. Several seeds and Delay_Req
// phases (the phase sets how much the clock's drift biases the first delays).
func TestLocks(t *testing.T) {
	for _, c := range []struct {
		name   string
		offset int64
		drift  float64
	}{{"37ms+100ppm", 37e6, 100_000}, {"-50ms-80ppm", -50e6, -80_000}} {
		t.Run(c.name, func(t *testing.T) {
			for seed := range 20 {
				r := newRig(c.offset, c.drift, uint64(seed))
				r.phase = 0.05 + 0.9*float64(seed)/20
				r.run(150)
				if r.steps != 1 {
					t.Fatalf("seed %d: stepped %d times, want once", seed, r.steps)
				}
				if r.states[0] != Unlocked || r.states[1] != Jump || r.states[2] != Locked {
					t.Fatalf("seed %d: states %v, want s0 s1 s2", seed, r.states[:3])
				}
				for i, s := range r.states[2:] {
					if s != Locked {
						t.Fatalf("seed %d: sample %d lost lock (%v)", seed, i+3, s)
					}
				}
				if h := r.holds(); h < 0 || h > 25 {
					t.Fatalf("seed %d: held from sample %d, want by 25: offsets %v", seed, h, r.offs[:25])
				}
				// After settling: the measured offset near the timestamp noise (its
				// median |.| alone is about 340 ns here), the true error below it.
				if m := absMedian(r.offs[30:]); m > 600 {
					t.Errorf("seed %d: median |offset| %d ns after settling", seed, m)
				}
				if m := absMedian(r.errs[30:]); m > 400 {
					t.Errorf("seed %d: median true error %d ns after settling", seed, m)
				}
				var worst int64
				for _, e := range r.errs[30:] {
					worst = max(worst, abs(e))
				}
				if worst > 10_000 {
					t.Errorf("seed %d: worst true error %d ns after settling", seed, worst)
				}
				if math.Abs(r.p.Drift()-c.drift) > 300 {
					t.Errorf("seed %d: drift estimate %.0f ppb, want about %.0f", seed, r.p.Drift(), c.drift)
				}
			}
		})
	}
}

// TestEstimateWithoutDelay: samples before the first delay measurement count for the
// frequency estimate; the servo locks on the first sample that has a delay.
func TestEstimateWithoutDelay(t *testing.T) {
	p := New(Config{Interval: 1, Estimate: 2, FirstStep: 20_000}, 0)
	none := func(float64) (int64, bool) { return 0, false }
	var rate float64
	known := func(r float64) (int64, bool) {
		if r != 0 {
			rate = r
		}
		return 5000, true
	}
	// 100 ppm fast, 1 ms ahead, 5 us path.
	diff := func(s int64) int64 { return 1_000_000 + 5000 + s*100_000 }
	for s := range int64(3) {
		if res := p.Sample(diff(s), s*1e9, none); res.HaveOffset || res.Stepped || p.State() != Unlocked {
			t.Fatalf("sample %d without delay: %+v %v", s, res, p.State())
		}
	}
	res := p.Sample(diff(3), 3e9, known)
	if !res.Stepped || p.State() != Jump {
		t.Fatalf("no step once the delay is known: %+v %v", res, p.State())
	}
	if res.Step != -(1_000_000 + 3*100_000) {
		t.Fatalf("step %d", res.Step)
	}
	if math.Abs(rate-100_000) > 1 || math.Abs(res.Freq+100_000) > 1 {
		t.Fatalf("rate %.1f freq %.1f, want 100000 / -100000", rate, res.Freq)
	}
	if res := p.Sample(5000, 4e9, known); p.State() != Locked || !res.HaveOffset || res.Offset != 0 {
		t.Fatalf("after the step: %+v %v", res, p.State())
	}
}

// TestNoFirstStep: within FirstStep the servo sets the frequency and locks at once.
func TestNoFirstStep(t *testing.T) {
	p := New(Config{Interval: 1, Estimate: 2, FirstStep: 20_000}, 0)
	d := func(float64) (int64, bool) { return 0, true }
	p.Sample(1000, 0, d)
	if res := p.Sample(1500, 1e9, d); res.Stepped || p.State() != Locked || math.Abs(res.Freq+500) > 1e-6 {
		t.Fatalf("%+v %v", res, p.State())
	}
}

// TestLargeTimes: local times are epoch nanoseconds, beyond float64's 53-bit mantissa;
// the estimate must still resolve a few ppb.
func TestLargeTimes(t *testing.T) {
	p := New(Config{Interval: 1, Estimate: 2}, 0)
	d := func(float64) (int64, bool) { return 0, true }
	const t0 = 1_700_000_000_123_456_789
	p.Sample(0, t0, d)
	p.Sample(3, t0+1e9, d) // 3 ppb
	if math.Abs(p.Drift()-3) > 0.01 {
		t.Fatalf("drift %.3f ppb, want 3", p.Drift())
	}
}

func TestStepThreshold(t *testing.T) {
	p := New(Config{Interval: 1, Estimate: 2, StepThreshold: 1000}, 0)
	d := func(float64) (int64, bool) { return 0, true }
	p.Sample(0, 0, d)
	p.Sample(0, 1e9, d)
	if p.State() != Locked {
		t.Fatal("not locked")
	}
	p.Sample(5000, 2e9, d)
	if p.State() != Unlocked {
		t.Fatal("an offset over the step threshold must unlock")
	}
}

// TestOutlierClamp: once settled, one late timestamp moves the frequency by no more than
// the clamp allows, not by kp times the outlier.
func TestOutlierClamp(t *testing.T) {
	p := New(Config{Interval: 1, Estimate: 2}, 0)
	d := func(float64) (int64, bool) { return 0, true }
	p.Sample(0, 0, d)
	p.Sample(0, 1e9, d)
	for i := range 40 {
		p.Sample(int64(300*(1-2*(i%2))), int64(i+2)*1e9, d)
	}
	before := p.LastFreq
	res := p.Sample(50_000, 42e9, d)
	if math.Abs(res.Freq-before) > 3*minDev*2 {
		t.Fatalf("a 50 us outlier moved the frequency by %.0f ppb", res.Freq-before)
	}
}

// TestLockNow: with its frequency estimate made and the first delay just measured, the
// servo locks without waiting for another sample, stepping by the offset extrapolated
// to now along the estimate; before that it declines.
func TestLockNow(t *testing.T) {
	p := New(Config{Interval: 1, Estimate: 2, FirstStep: 20_000}, 0)
	const l0, delay = int64(1.7e18), int64(5000)
	// The local clock is 1 ms ahead and runs 100 ppm fast.
	off := func(l int64) int64 { return 1_000_000 + (l-l0)/10_000 }
	none := func(float64) (int64, bool) { return 0, false }
	known := func(float64) (int64, bool) { return delay, true }
	p.Sample(off(l0)+delay, l0, none)
	if _, ok := p.LockNow(l0+5e8, known); ok {
		t.Fatal("locked on one sample")
	}
	p.Sample(off(l0+1e9)+delay, l0+1e9, none)
	if _, ok := p.LockNow(l0+15e8, none); ok {
		t.Fatal("locked without a delay")
	}
	res, ok := p.LockNow(l0+15e8, known)
	if !ok || !res.Stepped || p.State() != Jump {
		t.Fatalf("no lock: %+v %v", res, p.State())
	}
	if want := -off(l0 + 15e8); abs(res.Step-want) > 2 {
		t.Fatalf("step %d, want %d", res.Step, want)
	}
	if math.Abs(res.Freq+100_000) > 1 || res.Offset != off(l0+1e9) {
		t.Fatalf("freq %.1f offset %d, want -100000 and the last sample's %d", res.Freq, res.Offset, off(l0+1e9))
	}
	if _, ok := p.LockNow(l0+2e9, known); ok {
		t.Fatal("locked twice")
	}
}
