package engine

import (
	"context"

	"github.com/routerd/routerd/control"
)

// Standalone returns a handle for one engine outside a host, for the unit tests of its
// plan: the test calls the engine's Start and Reconcile itself, one pass at a time, so
// the passes it checks are exactly the ones it ran. Kick only records the request
// (Kicked reads it); goroutines started with Go have their panics recovered as under a
// host, and wait returns once all of them have ended (cancel their context first).
func Standalone(ex *control.Executor, spec Spec) (h *Handle, wait func()) {
	host := New(ex, nil)
	r := &Handle{host: host, spec: spec, kick: make(chan struct{}, 1), Ex: ex}
	return r, host.wg.Wait
}

// Kicked reports, and clears, a Kick since the last call: the engine asked for another
// pass. For Standalone handles only (under a host, the loop takes the kicks).
func (r *Handle) Kicked() bool {
	select {
	case <-r.kick:
		return true
	default:
		return false
	}
}

// KickedContext is ctx as the host hands it to a pass that a kick alone started
// (Kicked reports true), for the unit tests of an engine's kicked passes.
func KickedContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, kickedKey{}, true)
}
