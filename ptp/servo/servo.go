package servo

import "math"

// State of the servo, named as linuxptp names them (s0, s1, s2).
type State int

// States: Unlocked collects samples for the frequency estimate, Jump has just stepped
// the clock (the next sample locks), Locked runs the PI loop. As in linuxptp, a port
// counts as synchronised (UNCALIBRATED -> SLAVE) once the servo is Locked.
const (
	Unlocked State = iota
	Jump
	Locked
)

func (s State) String() string { return [...]string{"s0", "s1", "s2"}[s] }

// Config tunes the servo.
type Config struct {
	// Interval is the sync interval in seconds (the loop gains scale with it).
	Interval float64
	// Estimate is how many samples the initial frequency estimate needs (at least 2).
	// Samples taken while the path delay is still unknown count: the estimate needs
	// only their differences.
	Estimate int
	// FirstStep: at the first lock, step when |offset| exceeds it (ns); 0 never.
	FirstStep int64
	// StepThreshold: once locked, step when |offset| exceeds it (ns); 0 never.
	StepThreshold int64
	// MaxFreq bounds the correction (ppb).
	MaxFreq float64
	// Kp and Ki are the steady loop gains at a 1 s interval; 0 takes the defaults,
	// tuned for software timestamps. Right after locking the loop starts with larger
	// gains and narrows to these (see gains).
	Kp, Ki float64
}

// Default steady gains (1 s interval): linuxptp's software-timestamp kp (0.1) with a
// larger ki than its 0.001, which linuxptp can afford because it estimates the
// frequency over 16 s before it locks (freq_est_interval = 0.016/ki); this servo locks
// on a shorter estimate and lets the start gains below take up what it missed. In the
// simulation of servo_test.go (software-timestamp noise of 0.5 and 3 us) these beat
// the earlier 0.3/0.05 on true error by 30-45 % and on measured |offset| by a few
// percent: with software timestamps the loop mostly has noise to pass on, and lower
// gains pass less of it back into the clock.
const (
	DefaultKp = 0.1
	DefaultKi = 0.005
)

// The loop starts at startKp/startKi (fast, noisy) and narrows to the steady gains over
// the first samples after lock: the residual error right after the step (the
// frequency estimate from a few noisy samples) is corrected in a few samples, and the
// noise afterwards is not amplified.
const (
	startKp = 0.7
	startKi = 0.3
)

// window is how many unlocked samples the frequency estimate keeps (the newest).
const window = 8

// Result is what one sample asks of the clock.
type Result struct {
	// Freq is the frequency correction to apply (ppb, absolute).
	Freq float64
	// Step, when Stepped, is the amount to step the clock by (ns), before Freq.
	Step    int64
	Stepped bool
	// Offset is the offset from master the sample measured (ns, local minus master);
	// HaveOffset is false while the path delay is unknown.
	Offset     int64
	HaveOffset bool
}

// DelayFunc returns the mean path delay (ns); ok is false while none has been
// measured. rate is the local clock's frequency error (ppb, positive: fast) that was
// in force while the stored delay measurements were taken, so that the delay
// mechanism can take out what it added to them (it spans local time between its
// timestamps); 0 when the servo has nothing to correct. The servo passes a non-zero
// rate once, when it first locks: the frequency changes then.
type DelayFunc func(rate float64) (delay int64, ok bool)

// PI is the controller.
type PI struct {
	cfg      Config
	kp, ki   float64 // steady gains, normalised for the interval
	drift    float64 // estimated frequency error of the local clock, ppb
	diffs    []float64
	locals   []int64
	state    State
	n        int     // samples since lock
	dev      float64 // mean |offset| while locked, for the outlier clamp
	LastFreq float64 // last correction returned, ppb
}

// New makes a servo; drift is the correction already in force on the clock (ppb), so a
// restart does not throw away what the clock had learned.
func New(cfg Config, drift float64) *PI {
	if cfg.Estimate < 2 {
		cfg.Estimate = 2
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 1
	}
	if cfg.MaxFreq == 0 {
		cfg.MaxFreq = 500000
	}
	if cfg.Kp == 0 {
		cfg.Kp = DefaultKp
	}
	if cfg.Ki == 0 {
		cfg.Ki = DefaultKi
	}
	kp, ki := norm(cfg.Kp, cfg.Ki, cfg.Interval)
	return &PI{cfg: cfg, kp: kp, ki: ki, drift: -drift, LastFreq: drift}
}

// norm scales gains given for a 1 s interval to interval i, as linuxptp's pi.c does.
func norm(kp, ki, i float64) (float64, float64) {
	return math.Min(kp*math.Pow(i, -0.3), 0.7/i), math.Min(ki*math.Pow(i, 0.4), 0.3/i)
}

// Reset returns to Unlocked, keeping the frequency estimate. The clock runs on the
// estimate alone while the next one is made, so that the two add up.
func (p *PI) Reset() {
	p.state, p.diffs, p.locals, p.n, p.dev = Unlocked, nil, nil, 0, 0
	p.LastFreq = -p.drift
}

// State is the servo's state.
func (p *PI) State() State { return p.state }

// Drift is the estimated frequency error of the local clock (ppb, positive: fast).
func (p *PI) Drift() float64 { return p.drift }

// Sample takes one Sync: diff is t2 - t1 - corrections (ns), the offset from master
// plus the path delay, and local is t2 on the local clock (ns). Until it locks the
// servo estimates the frequency from the differences of diff, which need no path
// delay; it locks once it has Config.Estimate samples and delay reports a delay: it
// then sets the frequency and, beyond FirstStep, steps the time, both at once.
func (p *PI) Sample(diff, local int64, delay DelayFunc) Result {
	if p.state == Unlocked {
		return p.estimate(diff, local, delay)
	}
	d, ok := delay(0)
	if !ok {
		// The delay mechanism restarted without a Reset: keep the frequency.
		return Result{Freq: p.LastFreq}
	}
	off := diff - d
	res := Result{Offset: off, HaveOffset: true}
	if p.state == Locked && p.cfg.StepThreshold > 0 && abs(off) > p.cfg.StepThreshold {
		p.Reset()
		p.diffs, p.locals = []float64{float64(diff)}, []int64{local}
		res.Freq = p.LastFreq
		return res
	}
	if p.state == Jump {
		p.state, p.n = Locked, 0
	}
	res.Freq = p.pi(float64(off))
	return res
}

// estimate collects unlocked samples and locks when it can.
func (p *PI) estimate(diff, local int64, delay DelayFunc) Result {
	p.diffs = append(p.diffs, float64(diff))
	p.locals = append(p.locals, local)
	if len(p.diffs) > window {
		p.diffs, p.locals = p.diffs[1:], p.locals[1:]
	}
	res := Result{Freq: p.LastFreq}
	if len(p.diffs) < p.cfg.Estimate {
		if d, ok := delay(0); ok {
			res.Offset, res.HaveOffset = diff-d, true
		}
		return res
	}
	if lres, ok := p.lock(local, delay); ok {
		lres.Offset = diff - lres.Offset
		return lres
	}
	return res
}

// LockNow locks on the samples collected so far, without a new one, when the servo is
// Unlocked, has its frequency estimate and delay reports a delay: a slave need not
// wait for the next Sync once its first delay measurement arrives. now is the local
// clock now (ns); the step, if any, is what the clock is off by now, extrapolated
// along the estimate. ok is false when the servo cannot lock yet.
func (p *PI) LockNow(now int64, delay DelayFunc) (Result, bool) {
	if p.state != Unlocked || len(p.diffs) < p.cfg.Estimate {
		return Result{}, false
	}
	last := p.diffs[len(p.diffs)-1]
	res, ok := p.lock(now, delay)
	if ok {
		res.Offset = int64(last) - res.Offset
	}
	return res, ok
}

// lock sets the frequency from the collected samples and steps to the fitted line at
// local time at. The returned Offset holds the delay (callers turn it into the
// offset of their sample).
func (p *PI) lock(at int64, delay DelayFunc) (Result, bool) {
	a, b := line(p.locals, p.diffs)
	rate := b * 1e9 // residual frequency error now, ppb
	d, ok := delay(rate)
	if !ok {
		return Result{}, false
	}
	p.drift = math.Max(-p.cfg.MaxFreq, math.Min(p.cfg.MaxFreq, p.drift+rate))
	p.LastFreq = -p.drift
	// The fitted line at the newest sample (or now): less noisy than a sample alone.
	off := int64(math.Round(a+b*float64(at-p.locals[0]))) - d
	res := Result{Freq: p.LastFreq, Offset: d, HaveOffset: true}
	p.diffs, p.locals, p.n, p.dev = nil, nil, 0, 0
	if p.cfg.FirstStep > 0 && abs(off) > p.cfg.FirstStep {
		res.Step, res.Stepped = -off, true
		p.state = Jump
		return res, true
	}
	p.state = Locked
	return res, true
}

// pi runs one step of the loop on offset off (ns) and returns the correction (ppb).
func (p *PI) pi(off float64) float64 {
	kp, ki := p.gains()
	p.n++
	// A lone sample far beyond the recent noise (a delayed software timestamp) moves
	// the clock no more than three times that noise; a real change grows the bound by
	// a fifth each sample, so the loop still follows it (and StepThreshold still sees
	// the unclamped offset).
	if p.n > clampAfter {
		if lim := 3 * math.Max(p.dev, minDev); math.Abs(off) > lim {
			off = math.Copysign(lim, off)
		}
	}
	p.dev += (math.Abs(off) - p.dev) / math.Min(float64(p.n), devSpan)
	kiTerm := ki * off
	ppb := kp*off + p.drift + kiTerm
	switch {
	case ppb > p.cfg.MaxFreq:
		ppb = p.cfg.MaxFreq
	case ppb < -p.cfg.MaxFreq:
		ppb = -p.cfg.MaxFreq
	default:
		// No integration while saturated (anti wind-up).
		p.drift += kiTerm
	}
	p.LastFreq = -ppb
	return p.LastFreq
}

// Outlier clamp: it starts once the loop has seen clampAfter samples, follows the
// mean |offset| over about devSpan samples and never bounds below 3*minDev ns.
const (
	clampAfter = 3
	devSpan    = 10
	minDev     = 250
)

// gains are the loop gains for the n-th sample after lock: from the start gains down to
// the steady ones, halving the distance every settle samples.
func (p *PI) gains() (float64, float64) {
	skp, ski := norm(startKp, startKi, p.cfg.Interval)
	w := math.Pow(0.5, float64(p.n)/settle)
	return p.kp + (skp-p.kp)*w, p.ki + (ski-p.ki)*w
}

// settle: samples over which the start gains halve their distance to the steady ones.
const settle = 8

// line is the least-squares fit y = a + b*(t - t[0]); times are taken relative to the
// first so that float64 keeps nanoseconds (an epoch time in ns does not fit its mantissa).
func line(t []int64, y []float64) (a, b float64) {
	n := float64(len(t))
	x := make([]float64, len(t))
	var mx, my float64
	for i := range t {
		x[i] = float64(t[i] - t[0])
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx != 0 {
		b = sxy / sxx
	}
	return my - b*mx, b
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
