package scheduler

import "time"

// Clock is the time source of the engine; tests drive a manual one instead of sleeping.
type Clock interface {
	Now() time.Time
	// At returns a channel that receives once the clock reaches t (at once when it has).
	At(t time.Time) <-chan time.Time
}

// SystemClock is the process's wall clock in the local time zone.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// At waits on a timer; the engine bounds how far ahead it asks (maxWait), so a step of
// the wall clock (NTP, /system clock set) is noticed within that bound even though
// timers run on the monotonic clock.
func (SystemClock) At(t time.Time) <-chan time.Time {
	// An abandoned timer is collected without Stop (Go 1.23 timers).
	return time.NewTimer(time.Until(t)).C
}
