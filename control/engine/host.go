package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
)

// DefaultResync is how often an engine reconciles with nothing changed in its menus: the
// pass that puts back what was changed behind routerd's back (a link deleted with ip
// link, a route flushed) and retries what failed (an interface that appeared since).
const DefaultResync = 5 * time.Second

// Never, as Spec.Resync, turns the periodic pass off: the engine reconciles only on
// changes and kicks (its own loop keeps time, like the scheduler's).
const Never time.Duration = -1

// Engine is one subsystem that applies menus to the system. The host calls Start once,
// then Reconcile: once right after Start, after every committed change to the menus of
// its Spec (changes arriving during a pass coalesce into one more pass), every
// Spec.Resync, and when the engine kicks itself. Reconcile never runs concurrently with
// itself.
type Engine interface {
	// Spec says what the engine serves; the host reads it once, at Start.
	Spec() Spec
	// Start registers the engine's commands (h.Ex.Handle), sources (h.Ex.Provide),
	// metrics (h.Metrics) and the services it offers other engines (Offer), and starts
	// what runs beside Reconcile (listeners, subscriptions) with h.Go. It must not
	// block. An error leaves the engine out: its menus keep their configuration and
	// print says why it is not applied.
	Start(ctx context.Context, h *Handle) error
	// Reconcile reads the committed configuration and converges the system to it,
	// changing only what differs. Per-item problems go to the items' state
	// (h.Ex.State); an error or a panic means the pass failed as a whole, and every
	// item of the engine's menus shows the reason until a pass succeeds.
	Reconcile(ctx context.Context) error
}

// Closer is implemented by engines that hold something to release (a netlink handle)
// once all their goroutines have ended.
type Closer interface {
	Close() error
}

// Spec declares an engine to the host.
type Spec struct {
	// Name appears in logs and in "not applied" reasons ("tftp").
	Name string
	// Menus are the menus the engine applies: the host records the engine for each
	// (print stops saying "no engine for this menu yet"), kicks the engine on committed
	// changes at or below them, and marks their items when the engine fails. Engines
	// declare them as constants of their package and list them here, once.
	Menus []string
	// Watch are further menus whose changes kick the engine without it applying them
	// (addresses follow /interface).
	Watch []string
	// Resync is the period of the pass with nothing changed: 0 means DefaultResync,
	// Never means none.
	Resync time.Duration
	// Unpaced turns off the spacing of kicked passes (see Handle.loop): for an engine
	// whose kicked passes apply only what changed (Kicked), so they cost what the
	// change costs and a burst is worked off at once.
	Unpaced bool
}

type kickedKey struct{}

// Kicked reports whether the host started this pass for a kick alone (a committed
// change, an event, Handle.Kick): not the first pass and not a periodic one. An engine
// may then apply only the items that changed since it last applied them and leave the
// comparison with the kernel to the periodic pass; outside a host (unit tests) it is
// false, so every pass there is a full one.
func Kicked(ctx context.Context) bool {
	v, _ := ctx.Value(kickedKey{}).(bool)
	return v
}

// Host runs every engine of the daemon.
type Host struct {
	// Ex is the executor the engines apply and serve.
	Ex *control.Executor
	// Metrics is where engines register their collectors (nil: nowhere).
	Metrics prometheus.Registerer
	// StartRetry is how often the host calls an engine's Start again after an
	// ErrStartAgain; 0 is DefaultStartRetry. Set it before Start.
	StartRetry time.Duration

	mu       sync.Mutex
	engines  []*Handle
	services map[reflect.Type][]any
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	started  bool

	// passes and passTime count each engine's passes and the wall time they took, so
	// that the cost of a resync can be told apart by engine; panics counts the panics
	// recovered in an engine's passes and goroutines.
	passes, passTime, panics *prometheus.CounterVec
}

// New returns a host over ex; reg receives the engines' metrics (nil: none).
func New(ex *control.Executor, reg prometheus.Registerer) *Host {
	h := &Host{Ex: ex, Metrics: reg, services: map[reflect.Type][]any{},
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_engine_passes_total",
			Help: "Reconcile passes by engine.",
		}, []string{"engine"}),
		passTime: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_engine_pass_seconds_total",
			Help: "Wall time spent in reconcile passes, by engine.",
		}, []string{"engine"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_engine_panics_total",
			Help: "Panics recovered in an engine's passes and goroutines, by engine.",
		}, []string{"engine"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{h.passes, h.passTime, h.panics} {
			if err := reg.Register(c); err != nil {
				slog.Warn("engine host metrics not registered", "err", err)
			}
		}
	}
	return h
}

// Register adds an engine; engines start in the order they are registered (links before
// the addresses and tunnels that use them). Register before Start.
func (h *Host) Register(e Engine) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started {
		panic("engine: Register after Start")
	}
	h.engines = append(h.engines, &Handle{host: h, eng: e, kick: make(chan struct{}, 1)})
}

// Start starts the registered engines in order: each one's Start, its first Reconcile,
// then its loop. An engine that fails to start is logged and its menus say why; the
// others start regardless, so one subsystem cannot take the router down. The engines
// run until ctx ends or Stop is called. The error names the engines the host refused
// to start because their Spec names an undeclared menu (ErrUndeclaredMenu), a mistake
// of the build that tests must see; the others run.
func (h *Host) Start(ctx context.Context) error {
	h.mu.Lock()
	if h.started {
		h.mu.Unlock()
		panic("engine: Start twice")
	}
	h.started = true
	ctx, h.cancel = context.WithCancel(ctx)
	engines := slices.Clone(h.engines)
	h.mu.Unlock()
	var errs []error
	for _, r := range engines {
		errs = append(errs, r.start(ctx))
	}
	return errors.Join(errs...)
}

// Stop ends every engine and waits for all their goroutines (loops and those started
// with Handle.Go), then closes the engines that are Closers, last started first.
func (h *Host) Stop() {
	h.mu.Lock()
	cancel := h.cancel
	engines := slices.Clone(h.engines)
	h.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	h.wg.Wait()
	for i := len(engines) - 1; i >= 0; i-- {
		r := engines[i]
		r.mu.Lock()
		running := r.running
		r.mu.Unlock()
		if c, ok := r.eng.(Closer); ok && running {
			if err := c.Close(); err != nil {
				slog.Warn("engine close", "engine", r.spec.Name, "err", err)
			}
		}
	}
}

// Handle is one engine's view of the host, given to its Start.
type Handle struct {
	// Ex is the executor: configuration, item state, commands and sources.
	Ex *control.Executor
	// Metrics is where the engine registers its collectors; nil means nowhere.
	Metrics prometheus.Registerer

	host    *Host
	eng     Engine
	spec    Spec
	kick    chan struct{}
	mu      sync.Mutex
	running bool   // Start succeeded
	lastErr string // reason of the last failed pass, "" after a good one
	// lastPass is how long Start's first pass took (the loop's pacing starts from it).
	lastPass time.Duration
	// changes counts the committed changes to the engine's menus; applied is what
	// changes was when the last finished pass began, so changes-applied is how many no
	// pass has read yet (routerd_engine_unapplied_changes: a test waits for 0 before it
	// sends what needs the configuration, instead of racing the pass).
	changes, applied atomic.Uint64
	// retry asks the loop for another pass DefaultResync after this one (Retry).
	retry atomic.Bool
}

// Name is the engine's name.
func (r *Handle) Name() string { return r.spec.Name }

// Kick asks for a Reconcile soon; it never blocks, and kicks during a pass coalesce into
// one more pass.
func (r *Handle) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Retry asks, from a pass, for another pass DefaultResync after it ends, for an engine
// without a periodic pass (Spec.Resync Never) that follows the kernel's events: the
// kernel refused something an item asked for and no event may come when it would
// accept it (a link's IPv6 turned back on). A pass that fails is retried the same way.
// Engines with a periodic pass need not call it.
func (r *Handle) Retry() { r.retry.Store(true) }

// Go runs fn in a goroutine the host joins on Stop; fn must return once ctx ends. A
// panic in fn (a parser of untrusted packets) is recovered: it is logged with its
// stack, the engine's items show it, and the engine is kicked so its Reconcile can
// start again what died.
func (r *Handle) Go(ctx context.Context, fn func(ctx context.Context)) {
	r.host.wg.Add(1)
	go func() {
		defer r.host.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				r.panicked(fmt.Sprintf("internal error: %v", p))
			}
		}()
		fn(ctx)
	}()
}

// Recovered records a panic that one of the engine's goroutines recovered itself:
// where the goroutine must go on, or only its own piece of work must end (one request
// of a server the engine runs, a connection), so that Go's ending of the whole
// goroutine is too much. Call it from the deferred function that recovered p (the
// stack logged is then the panic's): it is logged with its stack and counted, every
// item of the engine's menus shows it until a pass succeeds, and the engine is kicked.
func (r *Handle) Recovered(what string, p any) {
	r.panicked(fmt.Sprintf("internal error in %s: %v", what, p))
}

// panicked is Go's and Recovered's common end, run while the panic is being recovered.
func (r *Handle) panicked(reason string) {
	r.host.panics.WithLabelValues(r.spec.Name).Inc()
	r.failed(reason, debug.Stack())
	r.Kick()
}

// ErrStartAgain marks a Start error that can go away by itself, such as a port another
// program holds: the host calls Start again every Host.StartRetry until it succeeds or
// the host stops, and the engine's menus say why meanwhile.
var ErrStartAgain = errors.New("trying again")

// DefaultStartRetry is how often the host calls Start again after an ErrStartAgain.
const DefaultStartRetry = 5 * time.Second

// ErrUndeclaredMenu: an engine's Spec names a menu the executor's tree does not have (a
// path misspelt, or a declaration function of control/menu left out of its
// declarations in default.go). The host does not start such an engine.
var ErrUndeclaredMenu = errors.New("names a menu that is not declared")

// Undeclared returns an ErrUndeclaredMenu naming the menus of the spec (applied or
// watched) that tree lacks, or nil. The host checks it before Start; cmd/routerd's
// tests check every registered engine against the daemon's tree.
func (s Spec) Undeclared(tree *menu.Tree) error {
	var missing []string
	for _, p := range append(slices.Clone(s.Menus), s.Watch...) {
		if _, ok := tree.Get(p); !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s engine %w: %s", s.Name, ErrUndeclaredMenu, strings.Join(missing, ", "))
}

// start starts the engine, or returns why it refused to (ErrUndeclaredMenu); a Start
// that fails is the engine's, logged and shown on its menus, not an error here.
func (r *Handle) start(ctx context.Context) error {
	r.spec = r.eng.Spec()
	r.Ex, r.Metrics = r.host.Ex, r.host.Metrics
	// Every engine's series exists from the start at 0: a rate or increase over a
	// series that first appears at 1 reads 0, and an alert would miss the first panic.
	r.host.passes.WithLabelValues(r.spec.Name)
	r.host.passTime.WithLabelValues(r.spec.Name)
	r.host.panics.WithLabelValues(r.spec.Name)
	if r.spec.Resync == 0 {
		r.spec.Resync = DefaultResync
	}
	if err := r.spec.Undeclared(r.Ex.Tree); err != nil {
		slog.Error("engine not started", "engine", r.spec.Name, "err", err)
		for _, m := range r.spec.Menus {
			r.Ex.EngineFailed(m, err.Error())
		}
		return err
	}
	err := r.tryStart(ctx, true)
	if err == nil {
		r.run(ctx)
		return nil
	}
	if !errors.Is(err, ErrStartAgain) {
		return nil
	}
	retry := r.host.StartRetry
	if retry <= 0 {
		retry = DefaultStartRetry
	}
	r.host.wg.Add(1)
	go func() {
		defer r.host.wg.Done()
		t := time.NewTicker(retry)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if r.tryStart(ctx, false) == nil {
				slog.Info("engine started", "engine", r.spec.Name)
				r.run(ctx)
				return
			}
		}
	}()
	return nil
}

// tryStart runs the engine's Start; a failure is logged (once, when retried) and the
// engine's menus say why.
func (r *Handle) tryStart(ctx context.Context, first bool) error {
	err := r.protect(func() error { return r.eng.Start(ctx, r) })
	if err == nil {
		return nil
	}
	if first {
		slog.Error("engine did not start", "engine", r.spec.Name, "err", err)
	}
	for _, m := range r.spec.Menus {
		r.Ex.EngineFailed(m, fmt.Sprintf("%s engine did not start: %v", r.spec.Name, err))
	}
	return err
}

// run makes a started engine the owner of its menus and runs its first pass and loop.
func (r *Handle) run(ctx context.Context) {
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
	for _, m := range r.spec.Menus {
		r.Ex.SetEngine(m, r.spec.Name)
	}
	for _, m := range append(slices.Clone(r.spec.Menus), r.spec.Watch...) {
		r.Ex.Watch(m, func(control.Change) { r.changes.Add(1); r.Kick() })
	}
	r.host.unapplied(r)
	r.lastPass = r.reconcile(ctx)
	r.host.wg.Add(1)
	go func() {
		defer r.host.wg.Done()
		r.loop(ctx)
	}()
}

// loop runs the engine's passes after Start's first one. A pass a kick starts waits,
// after the last pass, as long as that pass took (unless Spec.Unpaced): an engine whose
// pass reads every link, with a stream of link events (a thousand tunnels being made),
// then spends at most half its time in passes instead of all of it, and the kicks of
// the wait coalesce into the one pass. A router with few links waits microseconds.
func (r *Handle) loop(ctx context.Context) {
	var tick <-chan time.Time
	if r.spec.Resync > 0 {
		t := time.NewTicker(r.spec.Resync)
		defer t.Stop()
		tick = t.C
	}
	kicked := context.WithValue(ctx, kickedKey{}, true)
	last, ended := r.lastPass, time.Now()
	for {
		// The last pass asked for a retry, or failed: without a periodic pass nothing
		// else would run one.
		var retry *time.Timer
		var retryC <-chan time.Time
		if r.spec.Resync <= 0 && (r.retry.Swap(false) || r.failing()) {
			retry = time.NewTimer(DefaultResync)
			retryC = retry.C
		}
		pctx := ctx
		select {
		case <-retryC:
		case <-ctx.Done():
			return
		case <-r.kick:
			pctx = kicked
			if wait := last - time.Since(ended); wait > 0 && !r.spec.Unpaced {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		case <-tick:
		}
		if retry != nil {
			retry.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		// A kick arriving in the wait is this pass's.
		select {
		case <-r.kick:
		default:
		}
		last = r.reconcile(pctx)
		ended = time.Now()
	}
}

// errPanic wraps a recovered panic so the host can tell it from a returned error.
type errPanic struct {
	v     any
	stack []byte
}

func (p *errPanic) Error() string { return fmt.Sprintf("internal error: %v", p.v) }

// protect runs fn, turning a panic into an error.
func (r *Handle) protect(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &errPanic{v: p, stack: debug.Stack()}
		}
	}()
	return fn()
}

// reconcile runs one pass, records how it went on the engine's menus and returns how
// long it took.
func (r *Handle) reconcile(ctx context.Context) time.Duration {
	start := time.Now()
	// Watch counts a change after its commit, so a pass that begins after the count
	// reads it.
	seen := r.changes.Load()
	err := r.protect(func() error { return r.eng.Reconcile(ctx) })
	r.applied.Store(seen)
	took := time.Since(start)
	r.host.passes.WithLabelValues(r.spec.Name).Inc()
	r.host.passTime.WithLabelValues(r.spec.Name).Add(took.Seconds())
	if err == nil {
		r.succeeded()
		return took
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return took // shutting down
	}
	var stack []byte
	if p, ok := err.(*errPanic); ok {
		stack = p.stack
		r.host.panics.WithLabelValues(r.spec.Name).Inc()
	}
	r.failed(err.Error(), stack)
	return took
}

// unapplied exports how many committed changes to r's menus no pass of r has read yet
// (0: what was committed is applied, or failed with the reason on the items). Engines
// made with Func apply in loops of their own and are left out: 0 would say nothing.
func (h *Host) unapplied(r *Handle) {
	if _, ok := r.eng.(funcEngine); ok || h.Metrics == nil {
		return
	}
	g := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "routerd_engine_unapplied_changes",
		Help:        "Committed changes to an engine's menus that no reconcile pass has read yet.",
		ConstLabels: prometheus.Labels{"engine": r.spec.Name},
	}, func() float64 { return float64(r.changes.Load() - r.applied.Load()) })
	if err := h.Metrics.Register(g); err != nil {
		slog.Warn("engine host metrics not registered", "engine", r.spec.Name, "err", err)
	}
}

// failed marks the engine's items with why its pass failed; it logs a reason once, not
// every resync.
func (r *Handle) failed(reason string, stack []byte) {
	r.mu.Lock()
	same := r.lastErr == reason
	r.lastErr = reason
	r.mu.Unlock()
	if !same {
		if stack != nil {
			slog.Error("engine pass failed", "engine", r.spec.Name, "err", reason, "stack", string(stack))
		} else {
			slog.Warn("engine pass failed", "engine", r.spec.Name, "err", reason)
		}
	}
	for _, m := range r.spec.Menus {
		r.Ex.Fault(m, r.spec.Name+": "+reason)
	}
}

// failing reports whether the last pass failed.
func (r *Handle) failing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr != ""
}

func (r *Handle) succeeded() {
	r.mu.Lock()
	was := r.lastErr
	r.lastErr = ""
	r.mu.Unlock()
	if was == "" {
		return
	}
	slog.Info("engine recovered", "engine", r.spec.Name)
	for _, m := range r.spec.Menus {
		r.Ex.Fault(m, "")
	}
}

// Offer makes v available to the other engines as a T (a link.Overlay, an
// *ipcfg.Pools, a *user.Auth): engines hand services to each other through the host
// they share, typed, instead of through package variables. Offer from Start; engines
// started later find it at their Start, earlier ones when they look it up afterwards
// (at print time, in a pass).
func Offer[T any](h *Handle, v T) {
	t := reflect.TypeFor[T]()
	h.host.mu.Lock()
	defer h.host.mu.Unlock()
	h.host.services[t] = append(h.host.services[t], v)
}

// Lookup returns the T an engine offered (the last one when several did).
func Lookup[T any](h *Handle) (T, bool) {
	all := All[T](h)
	if len(all) == 0 {
		var zero T
		return zero, false
	}
	return all[len(all)-1], true
}

// All returns every T offered so far, in the order they were offered.
func All[T any](h *Handle) []T {
	if h == nil || h.host == nil {
		return nil // a Handle a unit test made without a host: nothing offered
	}
	t := reflect.TypeFor[T]()
	h.host.mu.Lock()
	defer h.host.mu.Unlock()
	out := make([]T, 0, len(h.host.services[t]))
	for _, v := range h.host.services[t] {
		out = append(out, v.(T))
	}
	return out
}

// Func adapts an engine that still runs its own loop from a start function (one not
// yet moved to Reconcile): it gets the host's ordering, start-failure marking and
// services; its Reconcile does nothing and it has no periodic pass.
func Func(spec Spec, start func(ctx context.Context, h *Handle) error) Engine {
	spec.Resync = Never
	return funcEngine{spec, start}
}

type funcEngine struct {
	spec  Spec
	start func(ctx context.Context, h *Handle) error
}

func (f funcEngine) Spec() Spec                                 { return f.spec }
func (f funcEngine) Start(ctx context.Context, h *Handle) error { return f.start(ctx, h) }
func (f funcEngine) Reconcile(context.Context) error            { return nil }

// Typed is implemented by engines that decode their items with Decode: for each menu it
// applies, a value of the struct the menu's items decode into. The registration list's
// test lists the properties those structs leave unhandled (Unhandled) against a golden
// file, so a property declared but not applied shows in review.
type Typed interface {
	TypedItems() map[string]any
}
