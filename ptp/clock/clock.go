package clock

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotSupported: the clock cannot be opened here (no PHC on the port).
var ErrNotSupported = errors.New("clock not supported")

// Clock is a local clock. Times are nanoseconds since the epoch on the clock's own
// timescale; frequencies are parts per billion, positive makes the clock run faster.
type Clock interface {
	Name() string
	Now() int64
	// FromSystem converts a CLOCK_REALTIME reading (a software timestamp) to this clock.
	FromSystem(ns int64) int64
	// AdjFreq sets the frequency correction (absolute, not cumulative).
	AdjFreq(ppb float64) error
	// Freq is the frequency correction in force.
	Freq() float64
	// Step moves the clock by delta nanoseconds.
	Step(delta int64) error
	// MaxFreq is the largest correction the clock accepts.
	MaxFreq() float64
}

// Virtual runs at CLOCK_REALTIME plus an offset, with its own drift (the error the
// servo must find) and the servo's correction on top.
type Virtual struct {
	mu      sync.Mutex
	baseSys int64 // CLOCK_REALTIME at the last rebase
	baseV   int64 // virtual time at the last rebase
	drift   float64
	adj     float64
	sys     func() int64
}

// NewVirtual makes a virtual clock offset from CLOCK_REALTIME by offset and running
// driftPPB fast.
func NewVirtual(offset time.Duration, driftPPB float64) *Virtual {
	v := &Virtual{sys: func() int64 { return time.Now().UnixNano() }, drift: driftPPB}
	v.baseSys = v.sys()
	v.baseV = v.baseSys + int64(offset)
	return v
}

func (v *Virtual) Name() string { return "virtual" }

func (v *Virtual) at(s int64) int64 {
	return v.baseV + int64(math.Round(float64(s-v.baseSys)*(1+(v.drift+v.adj)*1e-9)))
}

func (v *Virtual) Now() int64 { return v.FromSystem(v.sys()) }

func (v *Virtual) FromSystem(ns int64) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.at(ns)
}

func (v *Virtual) rebase() {
	s := v.sys()
	v.baseV, v.baseSys = v.at(s), s
}

func (v *Virtual) AdjFreq(ppb float64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rebase()
	v.adj = max(-v.MaxFreq(), min(v.MaxFreq(), ppb))
	return nil
}

func (v *Virtual) Freq() float64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.adj
}

func (v *Virtual) Step(delta int64) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.rebase()
	v.baseV += delta
	return nil
}

// MaxFreq allows 10 %: a virtual clock models whatever error a test injects.
func (v *Virtual) MaxFreq() float64 { return 1e8 }

// Offset is the virtual clock minus CLOCK_REALTIME now (what a test injected, after
// corrections).
func (v *Virtual) Offset() int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	s := v.sys()
	return v.at(s) - s
}

// posix is a clock reached through clock_gettime/clock_adjtime: CLOCK_REALTIME or a PHC.
type posix struct {
	name string
	id   int32
	max  float64
	f    *os.File // PHC device; nil for the system clock
}

// System is CLOCK_REALTIME. Steering it changes the machine's time: the daemon uses it
// only when asked to (--ptp-clock system, or auto without a PHC).
func System() Clock { return &posix{name: "system", id: unix.CLOCK_REALTIME, max: 500000} }

// OpenPHC opens /dev/ptpN.
func OpenPHC(index int) (Clock, error) {
	path := fmt.Sprintf("/dev/ptp%d", index)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: %w", path, ErrNotSupported)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// The dynamic clock id of a character device (FD_TO_CLOCKID in the kernel's testptp).
	id := int32((^int(f.Fd()) << 3) | 3)
	c := &posix{name: fmt.Sprintf("ptp%d", index), id: id, max: 500000, f: f}
	var tx unix.Timex
	if _, err := unix.ClockAdjtime(id, &tx); err != nil {
		f.Close()
		return nil, fmt.Errorf("clock_adjtime %s: %w", path, err)
	}
	return c, nil
}

func (c *posix) Name() string { return c.name }

func (c *posix) Now() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(c.id, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// FromSystem is the identity: software timestamps are CLOCK_REALTIME, and a PHC is only
// paired with hardware timestamps, which are already on its timescale.
func (c *posix) FromSystem(ns int64) int64 { return ns }

func (c *posix) AdjFreq(ppb float64) error {
	ppb = max(-c.max, min(c.max, ppb))
	// Timex.Freq is ppm with a 16-bit fraction: ppb * 65.536.
	tx := unix.Timex{Modes: unix.ADJ_FREQUENCY, Freq: int64(math.Round(ppb * 65.536))}
	if _, err := unix.ClockAdjtime(c.id, &tx); err != nil {
		return fmt.Errorf("clock_adjtime %s: %w", c.name, err)
	}
	return nil
}

func (c *posix) Freq() float64 {
	var tx unix.Timex
	if _, err := unix.ClockAdjtime(c.id, &tx); err != nil {
		return 0
	}
	return float64(tx.Freq) / 65.536
}

func (c *posix) Step(delta int64) error {
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO}
	sec, nsec := delta/1e9, delta%1e9
	if nsec < 0 {
		sec, nsec = sec-1, nsec+1e9
	}
	tx.Time = unix.Timeval{Sec: sec, Usec: nsec}
	if _, err := unix.ClockAdjtime(c.id, &tx); err != nil {
		return fmt.Errorf("clock step %s: %w", c.name, err)
	}
	return nil
}

func (c *posix) MaxFreq() float64 { return c.max }

// NewVirtualAt makes a virtual clock over another time source (simulations).
func NewVirtualAt(sys func() int64, offset int64, driftPPB float64) *Virtual {
	v := &Virtual{sys: sys, drift: driftPPB}
	v.baseSys = sys()
	v.baseV = v.baseSys + offset
	return v
}
