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
