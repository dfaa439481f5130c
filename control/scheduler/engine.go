package scheduler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/store"
)

// Path is the menu this engine applies.
const Path = menu.SchedulerPath

// scriptPath is where on-event looks for a script of that name.
const scriptPath = script.ScriptPath

// maxWait bounds a wait on the clock, so that a step of the wall clock delays a run by
// at most this much.
const maxWait = time.Minute

// Engine runs the items of /system scheduler.
type Engine struct {
	ex    *control.Executor
	h     *engine.Handle
	in    *script.Interp
	clock Clock
	// started is when routerd started, the base of start-time=startup.
	started time.Time
	wake    chan struct{}
	// defaultPolicy is what an item runs with when its policy was never set (the store
	// keeps only what was given).
	defaultPolicy string

	mu sync.Mutex
	// booted is set by the first reload: the items it finds were there at the start.
	booted bool
	dirty  int // changes not yet reread
	tasks  map[uint64]*task
	order  []uint64 // configuration order: simultaneous runs start in it

	runs *prometheus.CounterVec
}

// item is a scheduler item, decoded through the menu's schema (engine.Decode).
type item struct {
	Name      string        `prop:"name"`
	StartDate string        `prop:"start-date"`
	StartTime string        `prop:"start-time"` // hh:mm:ss or startup
	Interval  time.Duration `prop:"interval"`
	OnEvent   string        `prop:"on-event"`
	Owner     string        `prop:"owner"`
	// RightsFrom: who named an owner that is no user here (control.OwnerPolicies).
	RightsFrom string `prop:"rights-from"`
	Policy     string `prop:"policy"`
	Disabled   bool   `prop:"disabled"`
}

// TypedItems names the struct the menu's items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any { return map[string]any{Path: item{}} }

// decode reads one stored item through the schema.
func (e *Engine) decode(si store.Item) (item, error) {
	var it item
	m, ok := e.ex.Tree.Get(Path)
	if !ok {
		return it, fmt.Errorf("no menu %s", Path)
	}
	err := engine.Decode(m, si, &it)
	return it, err
}

// task is the runtime side of one item.
type task struct {
	item    item // as configured, to notice changes
	decoded bool // item holds a decoded configuration (else bad says why not)
	plan    plan
	next    time.Time // zero: no run ahead
	count   uint64    // run-count
	last    time.Time // start of the last run
	running bool      // a run is in progress; an occurrence that finds it so is skipped
	bad     string    // why the item cannot be scheduled
}

// New returns the engine of /system scheduler, for an engine host to run. Scripts run
// in in; started is the start of routerd (startup items run 3 s after it).
func New(in *script.Interp, clock Clock, started time.Time) *Engine {
	return &Engine{in: in, clock: clock, started: started,
		wake: make(chan struct{}, 1), tasks: map[uint64]*task{},
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_scheduler_runs_total",
			Help: "Scheduled runs of /system scheduler items by result: ok, error (logged), skipped (the previous run of the item was still going).",
		}, []string{"result"})}
}

// Spec declares the menu the engine applies. The scheduler keeps time in its own loop,
// so it has no periodic pass: a pass only tells the loop to reread the items.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "scheduler", Menus: []string{Path}, Resync: engine.Never}
}

// Reconcile has the loop reread the items (an unchanged item keeps its plan).
func (e *Engine) Reconcile(context.Context) error {
	e.poke()
	return nil
}

// Start registers the engine's metrics and its add and set, and starts its loop. Scripts
// are looked up by name when an item runs; a rename there changes nothing here, so only
// the scheduler's own items are watched.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex, e.h = h.Ex, h
	if h.Metrics != nil {
		if err := h.Metrics.Register(e.runs); err != nil {
			return fmt.Errorf("scheduler metrics: %w", err)
		}
	}
	ex := e.ex
	if m, ok := ex.Tree.Get(Path); ok {
		if p, ok := m.Prop("policy"); ok {
			e.defaultPolicy = p.Default
		}
	}
	if gen, spec, ok := ex.Generic(Path, "add"); ok {
		ex.Handle(Path, "add", spec, e.add(gen))
	}
	for _, cmd := range []string{"set", "unset"} {
		if gen, spec, ok := ex.Generic(Path, cmd); ok {
			ex.Handle(Path, cmd, spec, e.set(gen))
		}
	}
	// Counted at commit, not when the host's pass gets round to it: a change is pending
	// from the moment it is acknowledged, which is what idle() answers.
	ex.Watch(Path, func(control.Change) { e.poke() })
	h.Go(ctx, e.loop)
	return nil
}

// poke asks the loop to reread the configuration; it never blocks (Watch callbacks run
// on the committing goroutine).
func (e *Engine) poke() {
	e.mu.Lock()
	e.dirty++
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// add is the generic add with start-date and start-time defaulting to the moment of the
// add, as RouterOS fills them in (the manual's examples print the add's date and time),
// and with the policy checked against the adding session.
func (e *Engine) add(gen control.Handler) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		s := *c.S
		s.Args = append([]control.Arg(nil), c.S.Args...)
		from, copied := s.Get("copy-from")
		if !copied {
			now := e.clock.Now()
			st, hasTime := s.Get("start-time")
			if !hasTime {
				s.Args = append(s.Args, control.Arg{Name: "start-time", Value: now.Format("15:04:05")})
			}
			if _, ok := s.Get("start-date"); !ok && st != "startup" {
				s.Args = append(s.Args, control.Arg{Name: "start-date", Value: now.Format("2006-01-02")})
			}
		}
		if c.Sess.Policies != nil {
			policy, given := s.Get("policy")
			switch {
			case given:
			case copied:
				var err error
				if policy, err = e.policyOf(ctx, c.Sess, from); err != nil {
					return nil, err
				}
			default:
				// A restricted user's items run with that user's policies unless they
				// ask for fewer.
				policy = e.sessionPolicy(c.Sess)
				s.Args = append(s.Args, control.Arg{Name: "policy", Value: policy})
			}
			if err := e.within(c.Sess, policy); err != nil {
				return nil, err
			}
		}
		cc := *c
		cc.S = &s
		return gen(ctx, &cc)
	}
}

// set is the generic set (or unset), refused to a session that would leave an item running with
// policies it lacks itself: else a user could have the scheduler run its code with
// rights it does not have (changing on-event of an item an administrator added).
func (e *Engine) set(gen control.Handler) control.Handler {
	return func(ctx context.Context, c *control.Call) (*control.Reply, error) {
		if c.Sess.Policies != nil {
			policy, given := c.S.Get("policy")
			for _, a := range c.S.Args {
				if a.Name == "policy" && a.Unset {
					policy, given = e.defaultPolicy, true
				}
			}
			// unset numbers value-name=policy also returns it to the default.
			if c.S.Cmd == "unset" {
				if v, _ := c.S.Get("value-name"); v == "policy" {
					policy, given = e.defaultPolicy, true
				}
			}
			refs, _ := c.S.Get("numbers")
			for _, ref := range strings.Split(refs, ",") {
				p := policy
				if !given {
					var err error
					if p, err = e.policyOf(ctx, c.Sess, ref); err != nil {
						return nil, err
					}
				}
				if err := e.within(c.Sess, p); err != nil {
					return nil, err
				}
			}
		}
		return gen(ctx, c)
	}
}

// policyOf reads the policy of the item ref names, in the session (its print numbers,
// its right to read).
func (e *Engine) policyOf(ctx context.Context, sess *control.Session, ref string) (string, error) {
	rep, err := e.ex.Exec(ctx, sess, &control.Sentence{Path: Path, Cmd: "get",
		Args: []control.Arg{{Name: "number", Value: ref}, {Name: "value-name", Value: "policy"}}})
	if err != nil {
		return "", err
	}
	return rep.Ret, nil
}

// sessionPolicy is the session's policies among those an item can have, in the order
// the menu lists them.
func (e *Engine) sessionPolicy(sess *control.Session) string {
	var out []string
	for _, p := range strings.Split(e.defaultPolicy, ",") {
		if sess.Can(p) {
			out = append(out, p)
		}
	}
	return strings.Join(out, ",")
}

// within refuses a policy list that holds a policy the session lacks.
func (e *Engine) within(sess *control.Session, policy string) error {
	for _, p := range strings.Split(policy, ",") {
		if p != "" && !sess.Can(p) {
			return &control.Error{Msg: "not enough permissions (9)", Category: control.CatFailure}
		}
	}
	return nil
}

func (e *Engine) loop(ctx context.Context) {
	var prev time.Time
	woke := false
	for {
		if !woke {
			select {
			case <-e.wake:
				woke = true
			default:
			}
		}
		handled := 0
		if woke {
			handled = e.reload()
			woke = false
		}
		now := e.clock.Now()
		if !prev.IsZero() && now.Before(prev.Add(-time.Second)) {
			// The wall clock was set back: runs planned from the later time would wait
			// for it to come round again.
			e.rescheduleAll(now)
		}
		prev = now
		e.runDue(ctx, now)
		e.handled(handled)
		until := now.Add(maxWait)
		if n, ok := e.earliest(); ok && n.Before(until) {
			until = n
		}
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
			woke = true
		case <-e.clock.At(until):
		}
	}
}

// handled counts n changes as dealt with: read, and what they made due started.
func (e *Engine) handled(n int) {
	e.mu.Lock()
	e.dirty -= n
	e.mu.Unlock()
}

// reload rereads the items: a new, changed or re-enabled item is scheduled afresh from
// now; an unchanged one keeps its next run and run-count; a removed one is forgotten.
// It returns how many changes it has read.
func (e *Engine) reload() int {
	e.mu.Lock()
	seen := e.dirty
	e.mu.Unlock()
	items, err := e.ex.Items(Path)
	if err != nil {
		slog.Error("scheduler: reading items", "err", err)
		return seen
	}
	now := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	// The items of the configuration at the start are planned from the start, not from
	// this first read: a start-time=startup item runs once per start even when the
	// engines took longer than its 3 s to come up (two loaded cores), where it found its
	// moment past and never ran.
	from := now
	if !e.booted {
		from, e.booted = e.started, true
	}
	present := make(map[uint64]bool, len(items))
	e.order = e.order[:0]
	for _, si := range items {
		present[si.ID] = true
		e.order = append(e.order, si.ID)
		it, derr := e.decode(si)
		t := e.tasks[si.ID]
		if t != nil && derr == nil && t.decoded && t.item == it {
			continue
		}
		if t == nil {
			t = &task{}
			e.tasks[si.ID] = t
		}
		if derr != nil {
			// The schema validated these; an item that still does not decode came from
			// an older store, and says so rather than never running silently.
			t.item, t.decoded, t.next, t.bad = item{}, false, time.Time{}, derr.Error()
		} else if it.StartTime == "startup" && from.Before(now) {
			e.schedule(t, it, from)
		} else {
			e.schedule(t, it, now)
		}
		e.publish(si.ID, t)
	}
	for id := range e.tasks {
		if !present[id] {
			delete(e.tasks, id)
			e.ex.State.Clear(Path, id)
		}
	}
	return seen
}

// rescheduleAll plans every item afresh from now, forgetting when they last ran.
func (e *Engine) rescheduleAll(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for id, t := range e.tasks {
		if !t.decoded {
			continue
		}
		t.last = time.Time{}
		e.schedule(t, t.item, now)
		e.publish(id, t)
	}
}

// schedule sets t's plan and first run from the item's properties.
func (e *Engine) schedule(t *task, it item, now time.Time) {
	t.item, t.decoded = it, true
	t.next, t.bad = time.Time{}, ""
	p, err := parsePlan(it, now, e.started)
	if err != nil {
		t.bad = err.Error()
		return
	}
	t.plan = p
	if it.Disabled {
		return
	}
	n, ok := p.first(now)
	if ok && !t.last.IsZero() && !n.After(t.last) {
		// Rescheduled (set, enable) within the second of a run: that occurrence was
		// had already.
		n, ok = p.after(t.last)
	}
	if ok {
		t.next = n
	}
}

// publish writes run-count and next-run to the executor's state; e.mu is held.
func (e *Engine) publish(id uint64, t *task) {
	props := map[string]string{"run-count": strconv.FormatUint(t.count, 10)}
	if !t.next.IsZero() {
		props["next-run"] = t.next.Format(runTimeFormat)
	}
	st := control.ItemState{Props: props}
	if t.bad != "" {
		st.Status = "not applied: " + t.bad
	}
	e.ex.State.Set(Path, id, st)
}

func (e *Engine) earliest() (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var min time.Time
	for _, t := range e.tasks {
		if !t.next.IsZero() && (min.IsZero() || t.next.Before(min)) {
			min = t.next
		}
	}
	return min, !min.IsZero()
}

// runDue starts the items due at now, in configuration order, one after another in a
// goroutine of their own so that a long script (:delay) does not hold up the clock.
func (e *Engine) runDue(ctx context.Context, now time.Time) {
	var batch []uint64
	e.mu.Lock()
	for _, id := range e.order {
		t := e.tasks[id]
		if t == nil || t.next.IsZero() || t.next.After(now) {
			continue
		}
		t.next, _ = t.plan.after(now)
		if t.running {
			slog.Warn("scheduler: previous run still in progress, skipped", "name", t.item.Name)
			e.runs.WithLabelValues("skipped").Inc()
		} else {
			t.running = true
			batch = append(batch, id)
		}
		e.publish(id, t)
	}
	e.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	e.h.Go(ctx, func(ctx context.Context) {
		for _, id := range batch {
			e.start(ctx, id, now)
			e.mu.Lock()
			if t := e.tasks[id]; t != nil {
				t.running = false
			}
			e.mu.Unlock()
		}
	})
}

// start runs one item of a batch unless an earlier one of the same moment disabled or
// removed it: the manual has scheduled scripts turn each other on and off.
func (e *Engine) start(ctx context.Context, id uint64, now time.Time) {
	var si store.Item
	err := e.ex.View(nil, func(tx *store.Tx) error {
		var err error
		si, err = tx.Get(Path, id)
		return err
	})
	if err != nil {
		return
	}
	it, err := e.decode(si)
	if err != nil || it.Disabled {
		return
	}
	e.mu.Lock()
	t := e.tasks[id]
	if t == nil {
		e.mu.Unlock()
		return
	}
	t.count++
	t.last = now
	e.publish(id, t)
	e.mu.Unlock()
	e.run(ctx, it)
}

// idle reports whether the engine has nothing left to do at the clock's present: no
// change unread, no run going, nothing due. Tests advance their clock only when idle.
func (e *Engine) idle() bool {
	now := e.clock.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.dirty > 0 {
		return false
	}
	for _, t := range e.tasks {
		if t.running || (!t.next.IsZero() && !t.next.After(now)) {
			return false
		}
	}
	return true
}

// run executes one item's on-event. A named script starts through /system script run,
// so its own run-count, nesting bound and policy check apply; anything else runs as
// source. Either way the session is the item's owner with the item's policies, and a
// failure is logged, never returned: nobody waits for a scheduled run.
func (e *Engine) run(ctx context.Context, it item) {
	name := it.Name
	defer func() {
		if r := recover(); r != nil {
			e.logFailure(name, fmt.Errorf("internal error: %v", r))
		}
	}()
	policy := it.Policy // the menu's default when never set
	// The item runs with its policies cut down to what its owner (who wrote it last)
	// holds; a script it starts by name is cut down further to its own owner's.
	var owner map[string]bool
	_ = e.ex.Store.View(func(tx *store.Tx) error {
		owner = e.ex.OwnerPolicies(tx, it.Owner, it.RightsFrom)
		return nil
	})
	sess := &control.Session{User: it.Owner, KeepsGlobals: true,
		Policies: control.Intersect(control.Policies(policy), owner)}
	if sess.Policies == nil {
		sess.Policies = map[string]bool{}
	}
	sess.ShowSensitive = sess.Policies["sensitive"]
	src := it.OnEvent
	var err error
	if id, ok := e.scriptID(src); ok {
		_, err = e.ex.Exec(ctx, sess, &control.Sentence{Path: scriptPath, Cmd: "run",
			Args: []control.Arg{{Name: "number", Value: control.FormatID(id)}}})
	} else {
		err = e.in.Run(ctx, &script.Console{Sess: sess}, src, io.Discard)
	}
	if err != nil {
		e.logFailure(name, err)
		return
	}
	e.runs.WithLabelValues("ok").Inc()
}

// scriptID finds the /system script whose name is the whole of on-event.
func (e *Engine) scriptID(name string) (uint64, bool) {
	if name == "" {
		return 0, false
	}
	items, err := e.ex.Items(scriptPath)
	if err != nil {
		return 0, false
	}
	for _, it := range items {
		if it.Props["name"] == name {
			return it.ID, true
		}
	}
	return 0, false
}

// logFailure reports a failed run in /log as RouterOS words it, with the reason.
func (e *Engine) logFailure(name string, err error) {
	e.runs.WithLabelValues("error").Inc()
	msg := fmt.Sprintf("executing script %s from scheduler failed, please check it manually: %v", name, err)
	if e.in != nil && e.in.Log != nil {
		e.in.Log("script,error", msg)
		return
	}
	slog.Error(msg)
}
