// Package engine is the contract between routerd and its engines, and the host that runs
// them. An engine is the part of routerd that applies some menus to the system (links,
// addresses, tunnels, a TFTP server): it reads the committed configuration and converges
// the kernel, the dataplane or its own sockets to it.
//
// # Writing an engine
//
// One package per engine, naming its menu paths by the constants of control/menu/paths.go
// (the one place a path is written; cmd/routerd TestMenuPathsSpelledOnce), and a type
// implementing Engine:
//
//	const Path = menu.TFTPPath
//
//	func New(opts Options) *Engine { ... }          // no I/O: the registration list calls it
//
//	func (e *Engine) Spec() engine.Spec {
//		return engine.Spec{Name: "tftp", Menus: []string{Path}}
//	}
//
//	// Start registers commands, sources, metrics and offered services; starts helpers.
//	func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
//		e.ex = h.Ex
//		h.Ex.Provide(StatusPath, e.rows)
//		h.Go(ctx, e.watchKernel)                  // joined on shutdown, panics recovered
//		return nil
//	}
//
//	// Reconcile reads the items, decodes them into typed structs, diffs against what was
//	// applied last and changes only that; per-item problems go to h.Ex.State.
//	func (e *Engine) Reconcile(ctx context.Context) error { ... }
//
// and register it with one line in cmd/routerd/engines.go (the order there is the start
// order). control/tftp and control/scheduler are small complete examples; the host's
// tests (host_test.go) show the guarantees with a test engine and a fake kernel.
//
// # What the host guarantees
//
//   - Start runs once, in registration order; then one Reconcile before the next engine
//     starts (links exist before the addresses on them).
//   - Reconcile runs after every committed change at or below Spec.Menus and Spec.Watch
//     (changes during a pass coalesce into one more pass), every Spec.Resync (default
//     DefaultResync: what was changed behind routerd's back is put back, what failed is
//     retried), and after Handle.Kick. Never two passes of one engine at once.
//   - A pass that a kick alone started (a committed change, an event, Handle.Kick)
//     begins no sooner after the last pass ended than that pass took (unless
//     Spec.Unpaced): under a stream of kicks (link events while a thousand tunnels are
//     made) an engine spends at most half its time in passes, and the kicks of the wait
//     coalesce into one pass. Kicked(ctx) tells such a pass from the first and the
//     periodic ones, so an engine may apply only what changed in it and leave the
//     comparison with the kernel to the periodic pass (control/tunnel does).
//   - A panic in Reconcile or in a goroutine started with Handle.Go is recovered and
//     logged with its stack; every item of the engine's menus then prints invalid with
//     "not applied: NAME: internal error: ..." until a pass succeeds. A returned error
//     does the same with its text. The daemon keeps answering either way.
//   - An engine whose Start fails stays out; its menus keep their configuration and print
//     "not applied: NAME engine did not start: ...". The others start regardless.
//   - Host.Stop cancels every engine's context, waits for every loop and every Handle.Go
//     goroutine, then calls Close on engines that implement Closer, last started first.
//
// # What an engine owes
//
//   - Reconcile is idempotent and cheap when nothing changed: a resync with nothing to
//     do writes nothing to the kernel or the dataplane.
//   - Every kernel or dataplane error either marks the item invalid with the reason
//     (h.Ex.State.Set with Invalid and Status) or is returned; none is dropped.
//   - No blocking in Watch callbacks or sources beyond a bounded kernel read; no engine
//     work inside a store transaction (a command's check reads a snapshot the engine
//     publishes, it does not dump netlink).
//   - Goroutines start with Handle.Go, never bare go statements, so shutdown can join
//     them and a panic in them cannot take the daemon down.
//
// # Services between engines
//
// What one engine offers another (the /ip service manager, the login checker, address
// pools, the tunnels' overlays of /interface print) is a typed value handed over through
// the host, never a package variable: the offering engine calls Offer(h, v) in its Start;
// a later engine finds it with Lookup[T](h) in its Start, an earlier one with All[T](h)
// when it needs it (at print time). Use a named type per service (type Overlay func...)
// so the type says what it is.
//
// Engines still running their own loop can be registered through Func while they move to
// Reconcile; they get the ordering, the failure marking and the services, not the loop.
package engine
