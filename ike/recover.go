package ike

import (
	"net/netip"
	"runtime/debug"
)

// input handles one IKE message under the daemon's lock. The daemon's readers and its
// timer run for the life of the daemon (Close joins them; the IPsec engine closes the
// daemon from its Close, which the engine host calls on shutdown), so a panic in the
// handling of one message, a bug that an untrusted datagram hits, must not end them or
// the process: it is logged with its stack, counted as malformed, and the reader goes
// on with the next datagram.
func (d *Daemon) input(msg []byte, from, local netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			d.Stats.Malformed.Add(1)
			d.log.Error("ike: internal error handling a message", "from", from, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	if !d.closed {
		d.handle(msg, from, local)
	}
}

// timersSafe runs fn (one round of the SAs' timers, under the daemon's lock); a panic is
// logged and the timer goes on at its next round.
func (d *Daemon) timersSafe(fn func()) {
	defer func() {
		if p := recover(); p != nil {
			d.log.Error("ike: internal error in the SA timers", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// spawn runs fn in a goroutine Close joins. A panic in fn (a RADIUS server's answer
// being handled, a reader outside the handling of a message) is logged with its stack
// instead of ending routerd; a loop (the readers, the timer) then starts again unless
// the daemon is closing, a task (one RADIUS exchange) ends.
func (d *Daemon) spawn(what string, loop bool, fn func()) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for d.runSafe(what, fn) && loop {
			select {
			case <-d.done:
				return
			default:
			}
		}
	}()
}

// runSafe runs fn and reports whether it panicked.
func (d *Daemon) runSafe(what string, fn func()) (panicked bool) {
	defer func() {
		if p := recover(); p != nil {
			panicked = true
			d.log.Error("ike: internal error", "in", what, "panic", p, "stack", string(debug.Stack()))
		}
	}()
	fn()
	return false
}
