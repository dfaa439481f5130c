package servo

import "math"

// State of the servo.
type State int

// States: Unlocked collects samples for the frequency estimate, Jump asks for a step,
// Locked runs the PI loop.
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
	// Estimate is how many samples the initial frequency estimate uses (at least 2).
	Estimate int
	// FirstStep: at the first lock, step when |offset| exceeds it (ns); 0 never.
	FirstStep int64
	// StepThreshold: once locked, step when |offset| exceeds it (ns); 0 never.
	StepThreshold int64
	// MaxFreq bounds the correction (ppb).
	MaxFreq float64
}

// PI is the controller.
type PI struct {
	cfg      Config
	kp, ki   float64
	drift    float64 // estimated frequency error of the local clock, ppb
	offs     []float64
	locals   []float64
	state    State
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
	i := cfg.Interval
	// linuxptp's hardware-timestamping gains and normalisation (pi.c).
	kp := math.Min(0.7*math.Pow(i, -0.3), 0.7/i)
	ki := math.Min(0.3*math.Pow(i, 0.4), 0.3/i)
	return &PI{cfg: cfg, kp: kp, ki: ki, drift: -drift}
}

// Reset returns to Unlocked, keeping the frequency estimate.
func (p *PI) Reset() {
	p.state, p.offs, p.locals = Unlocked, nil, nil
}

// State is the servo's state.
func (p *PI) State() State { return p.state }

// Sample takes one offset (local minus master, ns) measured at local time (ns) and
// returns the frequency correction to apply (ppb) and, when step is true, the amount to
// step the clock by (ns) first.
func (p *PI) Sample(offset, local int64) (freq float64, step int64, stepped bool) {
	switch p.state {
	case Unlocked, Jump:
		p.offs = append(p.offs, float64(offset))
		p.locals = append(p.locals, float64(local))
		if len(p.offs) < p.cfg.Estimate {
			p.state = Unlocked
			p.LastFreq = -p.drift
			return p.LastFreq, 0, false
		}
		p.drift += slope(p.locals, p.offs) * 1e9
		p.drift = math.Max(-p.cfg.MaxFreq, math.Min(p.cfg.MaxFreq, p.drift))
		p.offs, p.locals = nil, nil
		p.state = Locked
		p.LastFreq = -p.drift
		if p.cfg.FirstStep > 0 && abs(offset) > p.cfg.FirstStep {
			return p.LastFreq, -offset, true
		}
		return p.LastFreq, 0, false
	}
	if p.cfg.StepThreshold > 0 && abs(offset) > p.cfg.StepThreshold {
		p.Reset()
		p.state = Jump
		p.offs = append(p.offs, float64(offset))
		p.locals = append(p.locals, float64(local))
		return p.LastFreq, 0, false
	}
	kiTerm := p.ki * float64(offset)
	ppb := p.kp*float64(offset) + p.drift + kiTerm
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
	return p.LastFreq, 0, false
}

// Drift is the estimated frequency error of the local clock (ppb, positive: fast).
func (p *PI) Drift() float64 { return p.drift }

// slope is the least-squares slope of y over x (offset change per ns of local time).
func slope(x, y []float64) float64 {
	n := float64(len(x))
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i := range x {
		sxy += (x[i] - mx) * (y[i] - my)
		sxx += (x[i] - mx) * (x[i] - mx)
	}
	if sxx == 0 {
		return 0
	}
	return sxy / sxx
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
