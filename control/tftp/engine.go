package tftp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
)

// Menu paths this engine applies.
const (
	Path         = "/ip/tftp"
	SettingsPath = "/ip/tftp/settings"
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

	mu      sync.Mutex
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
		Hit: e.hit, Metrics: NewMetrics(h.Metrics)}
	return nil
}

// Close closes the listener (the host calls it once the engine's goroutines ended).
func (e *Engine) Close() error {
	e.stop()
	return nil
}

// Reconcile compiles the rules and settings, and opens or closes the listener.
func (e *Engine) Reconcile(ctx context.Context) error {
	items, err := e.ex.Items(Path)
	if err != nil {
		return fmt.Errorf("read rules: %w", err)
	}
	cfg := &Config{MaxBlock: 4096}
	st, err := e.ex.Items(SettingsPath)
	if err != nil {
		return fmt.Errorf("read settings: %w", err)
	}
	if len(st) > 0 {
		if n, err := strconv.Atoi(st[0].Props["max-block-size"]); err == nil {
			cfg.MaxBlock = n
		}
	}
	e.mu.Lock()
	seen := map[uint64]bool{}
	for _, it := range items {
		seen[it.ID] = true
		delete(e.invalid, it.ID)
		if it.Props["disabled"] == "yes" {
			continue
		}
		r, err := CompileRule(it.ID, it.Props)
		if err != nil {
			e.invalid[it.ID] = err.Error()
			continue
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	for id := range e.hits {
		if !seen[id] {
			delete(e.hits, id)
			e.ex.State.Clear(Path, id)
		}
	}
	e.mu.Unlock()
	e.srv.SetConfig(cfg)
	var lerr error
	if len(cfg.Rules) == 0 {
		e.stop()
	} else {
		lerr = e.listen()
	}
	if lerr != nil {
		slog.Warn("tftp: not listening", "err", lerr)
	}
	// A listener that cannot open is every rule's status, not a failed pass: the rules
	// are compiled and the next pass tries again.
	for _, it := range items {
		e.publish(it.ID, lerr)
	}
	return nil
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
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", e.opts.Addr, err)
	}
	lctx, cancel := context.WithCancel(e.life)
	done := make(chan struct{})
	e.cancel, e.done, e.addr = cancel, done, conn.LocalAddr()
	e.h.Go(lctx, func(ctx context.Context) {
		defer close(done)
		if err := e.srv.Serve(ctx, conn); err != nil {
			slog.Warn("tftp: server stopped", "err", err)
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
