package esp

import (
	"log/slog"
	"net/netip"
	"runtime/debug"

	"github.com/routerd/routerd/ratelog"
)

// The userspace path's goroutines read packets from the network (raw ESP, the TUN) for
// the life of the data path; Close joins them. A panic while handling packets, a bug
// that a packet from the network hits, must not end them or the daemon: each batch a
// loop handles (and each ESP-in-UDP datagram IKE's reader hands over) runs under
// recovered, which counts the fault in the direction's error counter (in-errors,
// out-errors: /ip ipsec statistics and the metrics), logs it with its stack (rate
// limited: a packet that triggers it can be sent by the thousand) and lets the loop go
// on with the next batch. The packets of the failed batch are lost, as they would be on
// any other error.

var faultWords = ratelog.Words{Summary: "ipsec: ESP internal errors not logged (rate limit)", More: "more-not-logged"}

// spawn runs loop in a goroutine Close joins. A panic that escapes the loop's own
// recovery (outside packet handling) starts the loop again, unless the data path is
// closing.
func (u *userspace) spawn(name string, st stat, loop func()) {
	u.wg.Add(1)
	go func() {
		defer u.wg.Done()
		for !u.runLoop(name, st, loop) {
		}
	}()
}

// runLoop runs loop once; it reports whether the loop ended (rather than panicked).
func (u *userspace) runLoop(name string, st stat, loop func()) (ended bool) {
	defer func() {
		if p := recover(); p != nil {
			u.fault(name, st, p)
			ended = u.closed.Load()
		}
	}()
	loop()
	return true
}

// recovered is deferred by the handling of a batch of packets (see above).
func (u *userspace) recovered(where string, st stat) {
	if p := recover(); p != nil {
		u.fault(where, st, p)
	}
}

// fault counts and logs a recovered panic.
func (u *userspace) fault(where string, st stat, p any) {
	u.st.inc(st)
	u.faults.report(u.cfg.Log, where, p)
}

// faults logs recovered panics, at most a line a minute per loop.
type faults struct{ rl ratelog.Log }

// report runs in the deferred call that recovered p, so the stack still shows where the
// panic happened.
func (f *faults) report(l *slog.Logger, where string, p any) {
	if l == nil {
		l = slog.Default()
	}
	f.rl.Write(l, faultWords, slog.LevelError, netip.Addr{}, where,
		"ipsec: ESP internal error handling packets", "loop", where, "panic", p, "stack", stack{})
}

// stack is the goroutine's stack, taken only when the line is written.
type stack struct{}

func (stack) LogValue() slog.Value { return slog.StringValue(string(debug.Stack())) }

// inject runs the test hook at a point of packet handling (where: "out", "in", "tun",
// "timer"); a test makes it panic to show that the loops survive.
func (u *userspace) inject(where string) {
	if f := u.hook.Load(); f != nil {
		(*f)(where)
	}
}
