package engine_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// thingPath is the test engine's menu.
const thingPath = "/test/thing"

// kernel is the test engine's seam to "the system": a set of named objects that the
// test can change behind the engine's back, counting the writes the engine makes.
type kernel struct {
	mu     sync.Mutex
	objs   map[string]bool
	writes int
	refuse map[string]bool // names create refuses (the kernel says no)
}

func (k *kernel) has(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.objs[name]
}

func (k *kernel) create(name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.refuse[name] {
		return errors.New("permission denied")
	}
	k.objs[name] = true
	k.writes++
	return nil
}

func (k *kernel) remove(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.objs, name)
	k.writes++
}

func (k *kernel) list() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for n := range k.objs {
		out = append(out, n)
	}
	return out
}

// thingEngine applies /test/thing: one kernel object per enabled item. An item named
// "boom" makes its pass panic, as a bug would.
type thingEngine struct {
	k      *kernel
	resync time.Duration
	passes atomic.Int64
	gate   chan struct{} // when not nil, each pass waits for a value here
	in     chan struct{} // told when a pass starts
	h      *engine.Handle
	closed atomic.Bool
	// hold makes every pass take at least that long; passes records, per pass, when
	// it started and ended and whether a kick alone started it (engine.Kicked).
	hold time.Duration
	mu   sync.Mutex
	log  []passRecord
}

type passRecord struct {
	start, end time.Time
	kicked     bool
}

func (e *thingEngine) record() []passRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.log)
}

type greeter func() string

func (e *thingEngine) Spec() engine.Spec {
	return engine.Spec{Name: "thing", Menus: []string{thingPath}, Resync: e.resync}
}

func (e *thingEngine) Start(ctx context.Context, h *engine.Handle) error {
	e.h = h
	engine.Offer(h, greeter(func() string { return "hello" }))
	// A helper goroutine, like a listener or a subscription.
	h.Go(ctx, func(ctx context.Context) { <-ctx.Done() })
	return nil
}

func (e *thingEngine) Reconcile(ctx context.Context) error {
	if e.in != nil {
		select {
		case e.in <- struct{}{}:
		default:
		}
	}
	if e.gate != nil {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	e.passes.Add(1)
	rec := passRecord{start: time.Now(), kicked: engine.Kicked(ctx)}
	time.Sleep(e.hold)
	defer func() {
		rec.end = time.Now()
		e.mu.Lock()
		e.log = append(e.log, rec)
		e.mu.Unlock()
	}()
	items, err := e.h.Ex.Items(thingPath)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, it := range items {
		name := it.Props["name"]
		if name == "boom" {
			panic("boom item")
		}
		if it.Props["disabled"] == "yes" {
			continue
		}
		want[name] = true
		if !e.k.has(name) {
			if err := e.k.create(name); err != nil {
				e.h.Ex.State.Set(thingPath, it.ID, control.ItemState{Invalid: true, Status: "cannot create: " + err.Error()})
				e.h.Retry()
				continue
			}
		}
		e.h.Ex.State.Set(thingPath, it.ID, control.ItemState{Running: true})
	}
	for _, n := range e.k.list() {
		if !want[n] {
			e.k.remove(n)
		}
	}
	return nil
}

func (e *thingEngine) Close() error { e.closed.Store(true); return nil }

// failingEngine cannot start.
type failingEngine struct{}

func (failingEngine) Spec() engine.Spec {
	return engine.Spec{Name: "broken", Menus: []string{"/test/other"}}
}
func (failingEngine) Start(context.Context, *engine.Handle) error {
	return errors.New("no such device")
}
func (failingEngine) Reconcile(context.Context) error { panic("never called") }

// user finds the service thingEngine offers.
type user struct {
	got string
}

func (u *user) Spec() engine.Spec { return engine.Spec{Name: "user"} }
func (u *user) Start(_ context.Context, h *engine.Handle) error {
	g, ok := engine.Lookup[greeter](h)
	if !ok {
		return errors.New("no greeter")
	}
	u.got = g()
	return nil
}
func (u *user) Reconcile(context.Context) error { return nil }

func newExecutor(t *testing.T) *control.Executor {
	t.Helper()
	props := []menu.Prop{{Name: "name", Type: value.String()}, {Name: "disabled", Type: value.Bool(), Default: "no"}}
	tree := menu.NewTree(
		&menu.Menu{Path: thingPath, Kind: menu.List, Props: props, Flags: []menu.Flag{menu.FlagRunning, menu.FlagInvalid}},
		&menu.Menu{Path: "/test/other", Kind: menu.List, Props: props},
	)
	st, err := store.Open(filepath.Join(t.TempDir(), "routerd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return control.New(tree, st)
}

func run(t *testing.T, ex *control.Executor, path, cmd string, args ...string) *control.Reply {
	t.Helper()
	s := &control.Sentence{Path: path, Cmd: cmd}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		s.Args = append(s.Args, control.Arg{Name: k, Value: v})
	}
	rep, err := ex.Exec(context.Background(), &control.Session{}, s)
	if err != nil {
		t.Fatalf("%s %s %v: %v", path, cmd, args, err)
	}
	return rep
}

// row prints the item named name.
func row(t *testing.T, ex *control.Executor, path, name string) control.Row {
	t.Helper()
	for _, r := range run(t, ex, path, "print").Rows {
		if r.Props["name"] == name {
			return r
		}
	}
	t.Fatalf("%s: no item %q", path, name)
	return control.Row{}
}

// eventually waits for cond, failing after a generous bound (no fixed sleeps).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, ex *control.Executor, engines ...engine.Engine) *engine.Host {
	t.Helper()
	return startHost(t, engine.New(ex, nil), engines...)
}

// startHost registers the engines on h and starts it; every engine must start.
func startHost(t *testing.T, h *engine.Host, engines ...engine.Engine) *engine.Host {
	t.Helper()
	for _, e := range engines {
		h.Register(e)
	}
	if err := h.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h
}

func TestStartOrderServicesAndFailure(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	run(t, ex, "/test/other", "add", "name=o1")
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never}
	u := &user{}
	h := start(t, ex, failingEngine{}, th, u)
	if u.got != "hello" {
		t.Errorf("service offered at registration: got %q", u.got)
	}
	if got := row(t, ex, "/test/other", "o1").Props["status"]; got != "not applied: broken engine did not start: no such device" {
		t.Errorf("failed engine's item status %q", got)
	}
	if ex.Engine(thingPath) != "thing" {
		t.Errorf("engine of %s: %q", thingPath, ex.Engine(thingPath))
	}
	// The first pass ran at start, before Start returned.
	if th.passes.Load() != 1 {
		t.Errorf("%d passes after start, want 1", th.passes.Load())
	}
	h.Stop()
	if !th.closed.Load() {
		t.Error("engine not closed on Stop")
	}
}

// A burst of committed changes while a pass runs costs one more pass, not one each.
func TestKickCoalesces(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never,
		gate: make(chan struct{}), in: make(chan struct{}, 1)}
	go func() { th.gate <- struct{}{} }() // the first pass, at start
	h := start(t, ex, th)
	<-th.in // drain the first pass's signal
	run(t, ex, thingPath, "add", "name=a0")
	<-th.in // the pass for a0 started and waits at the gate
	for i := 1; i < 50; i++ {
		run(t, ex, thingPath, "add", "name=a"+string(rune('0'+i%10))+string(rune('a'+i/10)))
	}
	th.gate <- struct{}{} // finish the pass that saw a0
	<-th.in               // one more pass for the burst
	th.gate <- struct{}{}
	eventually(t, "third pass", func() bool { return th.passes.Load() == 3 })
	eventually(t, "50 objects", func() bool { return len(th.k.list()) == 50 })
	// Nothing else is pending: no further pass comes.
	select {
	case <-th.in:
		t.Errorf("a fourth pass started (after %d)", th.passes.Load())
	case <-time.After(50 * time.Millisecond):
	}
	h.Stop()
}

// The periodic pass puts back what was removed behind routerd's back, and writes nothing
// when nothing differs.
func TestResyncRestores(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	k := &kernel{objs: map[string]bool{}}
	run(t, ex, thingPath, "add", "name=t1")
	th := &thingEngine{k: k, resync: 10 * time.Millisecond}
	h := start(t, ex, th)
	if !k.has("t1") {
		t.Fatal("t1 not created by the first pass")
	}
	k.mu.Lock()
	w := k.writes
	k.mu.Unlock()
	p := th.passes.Load()
	eventually(t, "three resync passes", func() bool { return th.passes.Load() >= p+3 })
	k.mu.Lock()
	if k.writes != w {
		t.Errorf("resync with nothing changed wrote %d times", k.writes-w)
	}
	k.mu.Unlock()
	// Removed behind routerd's back (ip link del).
	k.mu.Lock()
	delete(k.objs, "t1")
	k.mu.Unlock()
	eventually(t, "t1 restored by resync", func() bool { return k.has("t1") })
	h.Stop()
}

// An engine without a periodic pass that the kernel refused (Retry) gets another pass
// by itself, and the item applies once the kernel accepts it: no change or kick needed.
func TestRetryWithoutResync(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	k := &kernel{objs: map[string]bool{}, refuse: map[string]bool{"r1": true}}
	run(t, ex, thingPath, "add", "name=r1")
	th := &thingEngine{k: k, resync: engine.Never}
	h := start(t, ex, th)
	if r := row(t, ex, thingPath, "r1"); !strings.Contains(r.Props["status"], "permission denied") {
		t.Fatalf("refused item: %+v", r)
	}
	k.mu.Lock()
	k.refuse = nil
	k.mu.Unlock()
	eventually(t, "r1 created by a retry pass", func() bool { return k.has("r1") })
	// Nothing is refused any more: no further pass comes.
	p := th.passes.Load()
	time.Sleep(engine.DefaultResync + time.Second)
	if n := th.passes.Load(); n != p {
		t.Errorf("%d passes after the retry succeeded", n-p)
	}
	h.Stop()
}

// A panic in a pass marks the engine's items invalid with the reason, the daemon keeps
// answering, and the next good pass clears the mark.
func TestPanicMarksItems(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never}
	h := start(t, ex, th)
	run(t, ex, thingPath, "add", "name=good")
	eventually(t, "good applied", func() bool { return th.k.has("good") })
	run(t, ex, thingPath, "add", "name=boom")
	eventually(t, "items marked invalid", func() bool {
		return strings.Contains(row(t, ex, thingPath, "good").Flags, "I")
	})
	for _, n := range []string{"good", "boom"} {
		r := row(t, ex, thingPath, n)
		if st := r.Props["status"]; st != "not applied: thing: internal error: boom item" {
			t.Errorf("%s: status %q", n, st)
		}
	}
	// The executor still answers, and the engine still follows changes.
	run(t, ex, thingPath, "remove", "numbers=boom")
	eventually(t, "mark cleared", func() bool {
		r := row(t, ex, thingPath, "good")
		return !strings.Contains(r.Flags, "I") && r.Props["status"] == ""
	})
	if f := row(t, ex, thingPath, "good").Flags; f != "R" {
		t.Errorf("flags after recovery %q, want R", f)
	}
	h.Stop()
}

// A panic in a goroutine started with Go (a packet parser) is recovered the same way:
// the items show it and the engine is kicked to start again what died.
func TestPanicInGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	run(t, ex, thingPath, "add", "name=x")
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never,
		gate: make(chan struct{}), in: make(chan struct{}, 1)}
	go func() { th.gate <- struct{}{} }()
	h := start(t, ex, th)
	<-th.in
	th.h.Go(context.Background(), func(context.Context) { panic("bad packet") })
	<-th.in // the kicked pass, held at the gate
	r := row(t, ex, thingPath, "x")
	if !strings.Contains(r.Flags, "I") || r.Props["status"] != "not applied: thing: internal error: bad packet" {
		t.Errorf("after the panic: flags %q status %q", r.Flags, r.Props["status"])
	}
	th.gate <- struct{}{}
	eventually(t, "mark cleared", func() bool { return row(t, ex, thingPath, "x").Props["status"] == "" })
	h.Stop()
}

// Stop joins the loops and the goroutines started with Go: nothing is left running.
func TestStopLeavesNoGoroutine(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	var es []engine.Engine
	for range 5 {
		es = append(es, &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: time.Millisecond})
	}
	h := engine.New(ex, nil)
	for _, e := range es {
		h.Register(e)
	}
	h.Start(context.Background())
	run(t, ex, thingPath, "add", "name=z")
	h.Stop()
}

// Passes a kick starts say so (engine.Kicked), the first and the periodic ones do not;
// a kicked pass starts no sooner after the last one than that one took, so an engine
// under a stream of kicks spends at most half its time in passes.
func TestKickedPassesPaced(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never, hold: 100 * time.Millisecond}
	h := start(t, ex, th)
	for i := range 5 {
		run(t, ex, thingPath, "add", fmt.Sprintf("name=k%d", i))
		eventually(t, "the pass of the change", func() bool { return len(th.k.list()) == i+1 })
	}
	log := th.record()
	if log[0].kicked {
		t.Error("the first pass says it was kicked")
	}
	for i := 1; i < len(log); i++ {
		if !log[i].kicked {
			t.Errorf("pass %d after a committed change does not say it was kicked", i)
		}
		took := log[i-1].end.Sub(log[i-1].start)
		if gap := log[i].start.Sub(log[i-1].end); gap < took {
			t.Errorf("pass %d started %v after the last, which took %v", i, gap, took)
		}
	}
	h.Stop()

	ex = newExecutor(t)
	th = &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: 10 * time.Millisecond}
	h = start(t, ex, th)
	eventually(t, "two periodic passes", func() bool { return th.passes.Load() >= 3 })
	for i, p := range th.record() {
		if p.kicked {
			t.Errorf("pass %d (first or periodic) says it was kicked", i)
		}
	}
	h.Stop()
}

// A goroutine that recovers its own panic (one request of a server ends, the server goes
// on) reports it with Recovered: the items show it, it is counted, the engine is kicked
// and the goroutine keeps serving.
func TestRecoveredGoesOn(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	run(t, ex, thingPath, "add", "name=x")
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never,
		gate: make(chan struct{}), in: make(chan struct{}, 1)}
	go func() { th.gate <- struct{}{} }()
	reg := prometheus.NewRegistry()
	h := engine.New(ex, reg)
	h.Register(th)
	h.Start(context.Background())
	t.Cleanup(h.Stop)
	<-th.in
	// The engine's panic series is there, at 0, before any panic (an alert's increase()
	// over a series that first appears at 1 reads 0).
	if _, ok := byEngine(t, reg, "routerd_engine_panics_total")["thing"]; !ok {
		t.Errorf("no routerd_engine_panics_total{engine=\"thing\"} before the first panic")
	}
	reqs := make(chan string)
	served := make(chan string)
	th.h.Go(context.Background(), func(ctx context.Context) {
		for req := range reqs {
			func() {
				defer func() {
					if p := recover(); p != nil {
						th.h.Recovered("request", p)
						served <- "internal error"
					}
				}()
				if req == "bad" {
					panic("bad request")
				}
				served <- "ok " + req
			}()
		}
	})
	reqs <- "bad"
	if got := <-served; got != "internal error" {
		t.Fatalf("bad request: %q", got)
	}
	<-th.in // the kicked pass, held at the gate
	r := row(t, ex, thingPath, "x")
	if !strings.Contains(r.Flags, "I") || r.Props["status"] != "not applied: thing: internal error in request: bad request" {
		t.Errorf("after the panic: flags %q status %q", r.Flags, r.Props["status"])
	}
	reqs <- "good"
	if got := <-served; got != "ok good" {
		t.Errorf("the next request: %q", got)
	}
	if n := byEngine(t, reg, "routerd_engine_panics_total"); len(n) != 1 || n["thing"] != 1 {
		t.Errorf("panics counted %v, want 1 (thing's)", n)
	}
	close(reqs)
	th.gate <- struct{}{}
	eventually(t, "mark cleared", func() bool { return row(t, ex, thingPath, "x").Props["status"] == "" })
	h.Stop()
}

// byEngine gathers the series of name in reg: the value of each (a counter's or a
// gauge's) by its label engine.
func byEngine(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			eng := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "engine" {
					eng = l.GetValue()
				}
			}
			out[eng] += m.GetCounter().GetValue() + m.GetGauge().GetValue() // the other is nil: 0
		}
	}
	return out
}

// busyEngine's Start fails with ErrStartAgain while its port is held.
type busyEngine struct {
	held   atomic.Bool
	starts atomic.Int32
	passes atomic.Int32
}

func (e *busyEngine) Spec() engine.Spec {
	return engine.Spec{Name: "busy", Menus: []string{"/test/other"}, Resync: engine.Never}
}
func (e *busyEngine) Start(context.Context, *engine.Handle) error {
	e.starts.Add(1)
	if e.held.Load() {
		return fmt.Errorf("listen udp :500: address already in use (%w)", engine.ErrStartAgain)
	}
	return nil
}
func (e *busyEngine) Reconcile(context.Context) error { e.passes.Add(1); return nil }

// TestStartAgain: an engine whose Start failed with ErrStartAgain (a port another program
// holds) is started again once it can be, its items saying why meanwhile (QA: IPsec stayed
// off until a restart when strongSwan held port 500 at boot); Stop ends the retries.
func TestStartAgain(t *testing.T) {
	defer goleak.VerifyNone(t)
	quick := func(ex *control.Executor) *engine.Host {
		h := engine.New(ex, nil)
		h.StartRetry = 20 * time.Millisecond
		return h
	}
	ex := newExecutor(t)
	run(t, ex, "/test/other", "add", "name=o1")
	b := &busyEngine{}
	b.held.Store(true)
	h := startHost(t, quick(ex), b)
	if got := row(t, ex, "/test/other", "o1").Props["status"]; !strings.Contains(got, "busy engine did not start: listen udp :500: address already in use (trying again)") {
		t.Errorf("status while the port is held: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for b.starts.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.passes.Load() != 0 {
		t.Fatal("a pass ran before Start succeeded")
	}
	b.held.Store(false)
	for b.passes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if b.passes.Load() == 0 || ex.Engine("/test/other") != "busy" {
		t.Fatalf("not started once the port was free: %d starts, %d passes", b.starts.Load(), b.passes.Load())
	}
	if got := row(t, ex, "/test/other", "o1").Props["status"]; got != "" {
		t.Errorf("status once started: %q", got)
	}
	h.Stop()
	// An engine that never starts is not retried after Stop.
	b2 := &busyEngine{}
	b2.held.Store(true)
	h2 := startHost(t, quick(newExecutor(t)), b2)
	h2.Stop()
	n := b2.starts.Load()
	time.Sleep(100 * time.Millisecond)
	if b2.starts.Load() != n {
		t.Error("Start called again after Stop")
	}
}

// misnamed is an engine whose Spec names menus the tree lacks (a declaration left out
// of control/menu's default.go, or a path misspelt).
type misnamed struct {
	menus, watch []string
	started      atomic.Bool
}

func (e *misnamed) Spec() engine.Spec {
	return engine.Spec{Name: "misnamed", Menus: e.menus, Watch: e.watch}
}
func (e *misnamed) Start(context.Context, *engine.Handle) error { e.started.Store(true); return nil }
func (e *misnamed) Reconcile(context.Context) error             { return nil }

// TestUndeclaredMenu: the host does not start an engine whose Spec names (applies or
// watches) a menu that is not declared, and Start's error names the engine and the
// menus; its declared menus print why; the other engines start.
func TestUndeclaredMenu(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	run(t, ex, "/test/other", "add", "name=o1")
	bad := &misnamed{menus: []string{"/test/other", "/test/nosuch"}, watch: []string{"/test/watched"}}
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never}
	h := engine.New(ex, nil)
	h.Register(bad)
	h.Register(th)
	err := h.Start(context.Background())
	defer h.Stop()
	if !errors.Is(err, engine.ErrUndeclaredMenu) {
		t.Fatalf("Start: %v, want ErrUndeclaredMenu", err)
	}
	want := "misnamed engine names a menu that is not declared: /test/nosuch, /test/watched"
	if err.Error() != want {
		t.Errorf("Start: %q, want %q", err, want)
	}
	if bad.started.Load() {
		t.Error("the engine naming undeclared menus was started")
	}
	if got := row(t, ex, "/test/other", "o1").Props["status"]; got != "not applied: "+want {
		t.Errorf("its declared menu's item: status %q", got)
	}
	if ex.Engine(thingPath) != "thing" {
		t.Error("the other engine did not start")
	}
	// Every declared menu is no error.
	ok := &misnamed{menus: []string{"/test/other"}, watch: []string{thingPath}}
	h2 := engine.New(newExecutor(t), nil)
	h2.Register(ok)
	if err := h2.Start(context.Background()); err != nil || !ok.started.Load() {
		t.Errorf("declared menus: Start %v, started %v", err, ok.started.Load())
	}
	h2.Stop()
}

// gauge is the value of the gauge name{engine=eng} in reg (-1: none).
func gauge(t *testing.T, reg *prometheus.Registry, name, eng string) float64 {
	t.Helper()
	if v, ok := byEngine(t, reg, name)[eng]; ok {
		return v
	}
	return -1
}

// routerd_engine_unapplied_changes counts the committed changes no pass has read: a
// change committed while a pass runs stays unapplied until the next pass, which began
// after it, has ended; then it is 0 (what tests of the routerd binary wait for before
// a peer sends what needs the configuration).
func TestUnappliedChanges(t *testing.T) {
	defer goleak.VerifyNone(t)
	ex := newExecutor(t)
	reg := prometheus.NewRegistry()
	th := &thingEngine{k: &kernel{objs: map[string]bool{}}, resync: engine.Never,
		gate: make(chan struct{}), in: make(chan struct{}, 1)}
	go func() { th.gate <- struct{}{} }() // the first pass, at start
	h := startHost(t, engine.New(ex, reg), th)
	<-th.in
	const name = "routerd_engine_unapplied_changes"
	eventually(t, "0 after the first pass", func() bool { return gauge(t, reg, name, "thing") == 0 })
	run(t, ex, thingPath, "add", "name=a")
	<-th.in // the pass for a started and waits at the gate
	if got := gauge(t, reg, name, "thing"); got != 1 {
		t.Errorf("%s = %v while the pass that reads a runs, want 1", name, got)
	}
	run(t, ex, thingPath, "add", "name=b") // committed during that pass: not read by it
	th.gate <- struct{}{}
	<-th.in // the pass for b
	if got := gauge(t, reg, name, "thing"); got != 1 {
		t.Errorf("%s = %v after the pass that began before b, want 1 (b)", name, got)
	}
	th.gate <- struct{}{}
	eventually(t, "0 after the pass that read b", func() bool { return gauge(t, reg, name, "thing") == 0 })
	if !th.k.has("a") || !th.k.has("b") {
		t.Errorf("objects %v, want a and b", th.k.list())
	}
	h.Stop()
}
