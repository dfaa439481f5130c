package tftp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
)

// Menu paths this engine applies.
const (
	Path         = menu.TFTPPath
	SettingsPath = menu.TFTPSettingsPath
)

// Options say where the server listens.
type Options struct {
	// DataDir holds files/, the folder served.
	DataDir string
	// Addr is the UDP address to listen on; empty means ":69" (every address).
	Addr string
	// Listen opens UDP sockets (default net.ListenUDP); tests open them inside their
	// network namespace.
	Listen func(laddr *net.UDPAddr) (*net.UDPConn, error)
}

// Engine applies /ip tftp: it listens while at least one rule is enabled.
type Engine struct {
	ex *control.Executor
	h  *engine.Handle
	// life is the engine's lifetime (Start's context): the listener runs under it, not
	// under one pass's.
	life context.Context
	opts Options
	srv  *Server

	// applies counts configurations handed to the server (a resync with nothing changed
	// hands none).
	applies atomic.Int64

	mu      sync.Mutex
	applied *desired // last configuration handed to the server
	hits    map[uint64]int64
	invalid map[uint64]string
	cancel  context.CancelFunc // stops the running listener
	done    chan struct{}
	addr    net.Addr
}

// New returns the engine of /ip tftp, for an engine host to run.
func New(opts Options) *Engine {
	if opts.Addr == "" {
		opts.Addr = ":69"
	}
	if opts.Listen == nil {
		opts.Listen = func(a *net.UDPAddr) (*net.UDPConn, error) { return net.ListenUDP("udp", a) }
	}
	return &Engine{opts: opts, hits: map[uint64]int64{}, invalid: map[uint64]string{}}
}

// Spec declares the menus the engine applies.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "tftp", Menus: []string{Path, SettingsPath}}
}

// Start registers the engine's metrics.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.ex, e.h, e.life = h.Ex, h, ctx
	e.srv = &Server{Dir: filepath.Join(e.opts.DataDir, "files"), Listen: e.opts.Listen,
		Hit: e.hit, Metrics: NewMetrics(h.Metrics), Recovered: h.Recovered}
	return nil
}

// Close closes the listener (the host calls it once the engine's goroutines ended).
func (e *Engine) Close() error {
	e.stop()
	return nil
}

// Reconcile compiles the rules and settings, and opens or closes the listener.
func (e *Engine) Reconcile(ctx context.Context) error {
	want, err := e.desired()
	if err != nil {
		return err
	}
	e.mu.Lock()
	changed := e.applied == nil || !want.equal(e.applied)
	e.mu.Unlock()
	if changed {
		e.apply(want)
	}
	var lerr error
	if len(want.rules) == 0 {
		e.stop()
	} else {
		lerr = e.listen()
	}
	if lerr != nil {
		slog.Warn("tftp: not listening", "err", lerr)
	}
	// A listener that cannot open is every rule's status, not a failed pass: the rules
	// are compiled and the next pass tries again.
	for _, id := range want.ids {
		e.publish(id, lerr)
	}
	return nil
}

// desired is the configuration decoded: every item's id in order, the enabled rules
// compiled (or why not), the settings.
type desired struct {
	ids      []uint64
	items    map[uint64]ruleItem
	rules    []*Rule
	invalid  map[uint64]string
	settings settingsItem
}

// equal compares the decoded items and settings (the compiled rules follow from them).
func (d *desired) equal(o *desired) bool {
	return slices.Equal(d.ids, o.ids) && d.settings == o.settings &&
		maps.EqualFunc(d.items, o.items, func(a, b ruleItem) bool { return reflect.DeepEqual(a, b) })
}

// desired reads and decodes the items through the menus' schemas.
func (e *Engine) desired() (*desired, error) {
	items, err := e.ex.Items(Path)
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	st, err := e.ex.Items(SettingsPath)
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	rm, _ := e.ex.Tree.Get(Path)
	sm, _ := e.ex.Tree.Get(SettingsPath)
	d := &desired{items: map[uint64]ruleItem{}, invalid: map[uint64]string{}, settings: settingsItem{MaxBlock: 4096}}
	if len(st) > 0 {
		if err := engine.Decode(sm, st[0], &d.settings); err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
	}
	for _, it := range items {
		d.ids = append(d.ids, it.ID)
		var ri ruleItem
		if err := engine.Decode(rm, it, &ri); err != nil {
			d.invalid[it.ID] = err.Error()
			continue
		}
		d.items[it.ID] = ri
		if ri.Disabled {
			continue
		}
		r, err := compileRule(it.ID, ri)
		if err != nil {
			d.invalid[it.ID] = err.Error()
			continue
		}
		d.rules = append(d.rules, r)
	}
	return d, nil
}

// apply hands the server the new rules and settings and forgets removed items.
func (e *Engine) apply(d *desired) {
	e.mu.Lock()
	e.applied = d
	e.invalid = d.invalid
	seen := map[uint64]bool{}
	for _, id := range d.ids {
		seen[id] = true
	}
	for id := range e.hits {
		if !seen[id] {
			delete(e.hits, id)
			e.ex.State.Clear(Path, id)
		}
	}
	e.mu.Unlock()
	e.srv.SetConfig(&Config{MaxBlock: d.settings.MaxBlock, Rules: d.rules})
	e.applies.Add(1)
}

// TypedItems names the struct each menu's items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{Path: ruleItem{}, SettingsPath: settingsItem{}}
}

// publish writes an item's hits and, when it cannot apply, why.
func (e *Engine) publish(id uint64, lerr error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := control.ItemState{Props: map[string]string{"hits": strconv.FormatInt(e.hits[id], 10)}}
	if why, bad := e.invalid[id]; bad {
		st.Invalid, st.Status = true, why
	} else if lerr != nil {
		st.Status = lerr.Error()
	}
	e.ex.State.Set(Path, id, st)
}

func (e *Engine) hit(id uint64) {
	e.mu.Lock()
	e.hits[id]++
	e.mu.Unlock()
	e.publish(id, nil)
}

func (e *Engine) listen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cancel != nil {
		return nil
	}
	a, err := net.ResolveUDPAddr("udp", e.opts.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", e.opts.Addr, err)
	}
	conn, err := e.opts.Listen(a)
	if errors.Is(err, syscall.EADDRINUSE) {
		// As /ip service says it; the net error repeated the address.
		return fmt.Errorf("UDP port %d is in use by another program", a.Port)
	}
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", e.opts.Addr, err)
	}
	lctx, cancel := context.WithCancel(e.life)
	done := make(chan struct{})
	e.cancel, e.done, e.addr = cancel, done, conn.LocalAddr()
	e.h.Go(lctx, func(ctx context.Context) {
		// However Serve ends (a read error, a panic the host recovers), the socket is
		// closed and the listener forgotten, so that the next pass (the host kicks one
		// after a panic) listens again.
		defer close(done)
		defer func() {
			e.mu.Lock()
			if e.done == done {
				e.cancel, e.done, e.addr = nil, nil, nil
			}
			e.mu.Unlock()
			cancel()
			conn.Close()
		}()
		if err := e.srv.Serve(ctx, conn); err != nil {
			slog.Warn("tftp: server stopped", "err", err)
			e.h.Kick()
		}
	})
	return nil
}

// stop closes the listener and waits for its transfers to end.
func (e *Engine) stop() {
	e.mu.Lock()
	cancel, done := e.cancel, e.done
	e.cancel, e.done, e.addr = nil, nil, nil
	e.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// LocalAddr is the address the server listens on, nil when it does not listen.
func (e *Engine) LocalAddr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}
