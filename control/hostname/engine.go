package hostname

import (
	"context"

	"github.com/routerd/routerd/control/engine"
)

// Engine hands the daemon's Resolver to the other engines (engine.Offer): it applies no
// menu of its own; the Resolver follows /ip dns itself.
type Engine struct{ r *Resolver }

// NewEngine offers r, which cmd/routerd made (the script interpreter's :resolve uses it
// too).
func NewEngine(r *Resolver) *Engine { return &Engine{r: r} }

// Spec: no menus, no passes.
func (e *Engine) Spec() engine.Spec { return engine.Spec{Name: "hostname", Resync: engine.Never} }

// Start offers the Resolver and runs its refresh of the names in use.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	if e.r == nil {
		e.r = New(h.Ex)
	}
	engine.Offer(h, e.r)
	h.Go(ctx, e.r.Run)
	return nil
}

// Reconcile has nothing to converge.
func (e *Engine) Reconcile(context.Context) error { return nil }

// Of returns the Resolver the hostname engine offered, or, where no host offers one (a
// unit test's engine.Standalone), one of the engine's own.
func Of(h *engine.Handle) *Resolver {
	if r, ok := engine.Lookup[*Resolver](h); ok {
		return r
	}
	return New(h.Ex)
}
