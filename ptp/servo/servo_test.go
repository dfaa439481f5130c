package servo

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/routerd/routerd/ptp/clock"
)

// TestLocks drives the servo against a simulated clock 100 ppm fast and 37 ms ahead,
// with 1 us of timestamp noise: it must step once, then hold the offset near zero.
func TestLocks(t *testing.T) {
	const interval = 0.125
	var sys int64 = 1e18
	v := clock.NewVirtualAt(func() int64 { return sys }, 37e6, 100_000)
	p := New(Config{Interval: interval, Estimate: 4, FirstStep: 20_000, StepThreshold: 1e6, MaxFreq: 1e7}, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	steps := 0
	var worst float64
	for i := range 400 {
		sys += int64(interval * 1e9)
		off := v.Now() - sys + int64(rng.NormFloat64()*1000)
		f, step, stepped := p.Sample(off, v.Now())
		if stepped {
			steps++
			v.Step(step)
		}
		v.AdjFreq(f)
		if i > 200 {
			worst = math.Max(worst, math.Abs(float64(v.Now()-sys)))
		}
	}
	if steps != 1 {
		t.Fatalf("stepped %d times, want once", steps)
	}
	if p.State() != Locked {
		t.Fatalf("state %v", p.State())
	}
	if worst > 5000 {
		t.Fatalf("worst |offset| after lock %.0f ns", worst)
	}
	if math.Abs(p.Drift()-100_000) > 500 {
		t.Fatalf("drift estimate %.0f ppb, want about 100000", p.Drift())
	}
}

func TestStepThreshold(t *testing.T) {
	p := New(Config{Interval: 1, Estimate: 2, StepThreshold: 1000}, 0)
	p.Sample(0, 0)
	p.Sample(0, 1e9)
	if p.State() != Locked {
		t.Fatal("not locked")
	}
	p.Sample(5000, 2e9)
	if p.State() == Locked {
		t.Fatal("an offset over the step threshold must unlock")
	}
}
