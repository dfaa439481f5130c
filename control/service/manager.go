package service

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// Protocol serves a service on ln until ln is closed (Accept fails) or ctx ends. The
// listener only returns connections that passed the service's address list and
// max-sessions, already wrapped in TLS for api-ssl and www-ssl; closing a connection
// frees its session slot.
type Protocol func(ctx context.Context, ln net.Listener) error

// Path is the menu the manager applies.
const Path = menu.ServicePath

// ErrNoProtocol marks a service no protocol is registered for.
var ErrNoProtocol = errors.New("protocol not available")

// Manager runs the listeners of /ip service.
type Manager struct {
	ex      *control.Executor
	dataDir string
	bind    string
	log     *slog.Logger

	mu      sync.Mutex
	protos  map[string]Protocol
	running map[string]*running
	ctx     context.Context
	wake    chan struct{}

	// Certs finds a certificate of /certificate by name, with its private key and the
	// chain to send (nil: only the files NAME.crt and NAME.key are looked at). Set
	// before Prepare.
	Certs func(name string) (tls.Certificate, bool)

	sessions *prometheus.GaugeVec
	accepted *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// running is one service's open listener.
type running struct {
	key    string // what needs a restart when it changes
	ln     *guarded
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a manager for ex's /ip service menu. Listeners bind to bind ("" for
// every address; tests pass 127.0.0.1 or a namespace's address). reg (may be nil)
// receives the routerd_service_* metrics.
func New(ex *control.Executor, dataDir, bind string, reg prometheus.Registerer) *Manager {
	m := &Manager{
		ex: ex, dataDir: dataDir, bind: bind, log: slog.Default().With("engine", "service"),
		protos: map[string]Protocol{}, running: map[string]*running{}, wake: make(chan struct{}, 1),
		sessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "routerd_service_sessions",
			Help: "Open sessions (accepted connections) by service.",
		}, []string{"service"}),
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_service_connections_total",
			Help: "Connections accepted by service.",
		}, []string{"service"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_service_connections_refused_total",
			Help: "Connections refused by service and reason (acl: not in the address list, max-sessions).",
		}, []string{"service", "reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.sessions, m.accepted, m.refused)
	}
	m.protos["winbox"] = winbox
	return m
}

// Register plugs a protocol in for a service (api, api-ssl, www, www-ssl, ssh, telnet,
// ftp). Registering after Start starts the service's listener if it is enabled.
func (m *Manager) Register(service string, p Protocol) {
	m.mu.Lock()
	m.protos[service] = p
	m.mu.Unlock()
	m.poke()
}

func (m *Manager) poke() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Start prepares the manager and runs Loop on a goroutine of its own (tests; the daemon's
// engine host runs Prepare and Loop so that shutdown joins the loop).
func (m *Manager) Start(ctx context.Context) error {
	if err := m.Prepare(ctx); err != nil {
		return err
	}
	go m.Loop(ctx)
	return nil
}

// Prepare makes the self-signed certificate, applies the configuration once and watches
// it; Loop then follows the changes until ctx ends.
func (m *Manager) Prepare(ctx context.Context) error {
	if _, err := selfSigned(m.dataDir); err != nil {
		// Only the TLS services need it; they show the reason as invalid.
		m.log.Error("self-signed certificate", "err", err)
	}
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	m.ex.SetEngine(Path, "service")
	m.ex.Watch(Path, func(control.Change) { m.poke() })
	m.reconcile()
	return nil
}

// Loop applies changes (and retries services that could not listen) until ctx ends,
// then closes every listener and waits for their protocols to return.
func (m *Manager) Loop(ctx context.Context) {
	// Services that could not listen (port taken) are retried: the other program may
	// go away.
	retry := time.NewTicker(5 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			m.stopAll()
			return
		case <-m.wake:
		case <-retry.C:
		}
		m.reconcile()
	}
}

func (m *Manager) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, r := range m.running {
		r.stop()
		delete(m.running, name)
	}
}

func (r *running) stop() {
	r.cancel()
	r.ln.Listener.Close()
	<-r.done
}

// item is one service as configured, decoded through the menu's schema (engine.Decode)
// from its row (the builtin item's values, such as its port, filled in).
type item struct {
	Name        string         `prop:"name"`
	Port        int            `prop:"port"`
	Address     []netip.Prefix `prop:"address"`
	Certificate string         `prop:"certificate"`
	TLSVersion  string         `prop:"tls-version"`
	MaxSessions int            `prop:"max-sessions"`
	VRF         string         `prop:"vrf"`
	Disabled    bool           `prop:"disabled"`
}

// TypedItems names the struct the menu's items decode into (engine.Typed).
func (m *Manager) TypedItems() map[string]any { return map[string]any{Path: item{}} }

// config is one service as configured.
type config struct {
	id       uint64
	name     string
	port     int
	addrs    []netip.Prefix
	cert     string
	only12   bool
	max      int
	vrf      string
	disabled bool
	bad      string // why the item does not decode
}

func (m *Manager) configs() ([]config, error) {
	menu, ok := m.ex.Tree.Get(Path)
	if !ok {
		return nil, fmt.Errorf("no %s menu", Path)
	}
	items, err := m.ex.Items(Path)
	if err != nil {
		return nil, err
	}
	var out []config
	for _, si := range items {
		r := m.ex.Row(menu, si, true)
		var it item
		c := config{id: si.ID, name: r.Props["name"]}
		if err := engine.Decode(menu, store.Item{ID: si.ID, Props: r.Props}, &it); err != nil {
			c.bad = err.Error()
			out = append(out, c)
			continue
		}
		c = config{id: si.ID, name: it.Name, port: it.Port, cert: it.Certificate,
			only12: it.TLSVersion == "only-1.2", vrf: it.VRF, disabled: it.Disabled, max: it.MaxSessions}
		if c.max <= 0 {
			c.max = 20
		}
		c.addrs = it.Address
		out = append(out, c)
	}
	return out, nil
}

func tlsService(name string) bool { return strings.HasSuffix(name, "-ssl") }

// key is what a running listener depends on; a change to it restarts the listener
// (address list and max-sessions apply to new connections without one).
func (c config) key() string {
	k := fmt.Sprintf("port=%d vrf=%s", c.port, c.vrf)
	if tlsService(c.name) {
		k += fmt.Sprintf(" cert=%s only12=%v", c.cert, c.only12)
	}
	return k
}

func (m *Manager) reconcile() {
	// The configuration is read under the lock: two reconciles (the watcher's and a
	// direct one) must not apply what they read in the opposite order, or the later
	// configuration loses to the earlier one (a listener stopped for a certificate that
	// has since been fixed).
	m.mu.Lock()
	defer m.mu.Unlock()
	cfgs, err := m.configs()
	if err != nil {
		m.log.Error("read configuration", "err", err)
		return
	}
	if m.ctx == nil || m.ctx.Err() != nil {
		return
	}
	seen := map[string]bool{}
	for _, c := range cfgs {
		seen[c.name] = true
		r := m.running[c.name]
		proto := m.protos[c.name]
		if c.bad != "" {
			if r != nil {
				r.stop()
				delete(m.running, c.name)
			}
			m.ex.State.Set(Path, c.id, control.ItemState{Invalid: true, Status: c.bad})
			continue
		}
		if c.disabled || proto == nil {
			if r != nil {
				r.stop()
				delete(m.running, c.name)
			}
			st := control.ItemState{}
			if !c.disabled {
				st.Status = "not running: " + ErrNoProtocol.Error()
			}
			m.ex.State.Set(Path, c.id, st)
			continue
		}
		if r != nil && r.key == c.key() {
			r.ln.policy.Store(&policy{addrs: c.addrs, max: int64(c.max)})
			continue
		}
		if r != nil {
			r.stop()
			delete(m.running, c.name)
		}
		r, err := m.start(c, proto)
		if err != nil {
			// Logged once per reason: the retry ticker would repeat it every few seconds.
			if st, _ := m.ex.State.Get(Path, c.id); st.Status != err.Error() {
				m.log.Warn("service not running", "service", c.name, "err", err)
			}
			m.ex.State.Set(Path, c.id, control.ItemState{Invalid: true, Status: err.Error()})
			continue
		}
		m.running[c.name] = r
		m.ex.State.Set(Path, c.id, control.ItemState{Running: true})
		m.log.Info("service listening", "service", c.name, "address", r.ln.Addr().String())
	}
	for name, r := range m.running {
		if !seen[name] {
			r.stop()
			delete(m.running, name)
		}
	}
}

func (m *Manager) start(c config, proto Protocol) (*running, error) {
	if c.vrf != "main" {
		return nil, fmt.Errorf("vrf %s is not supported (only main)", c.vrf)
	}
	var tc *tls.Config
	if tlsService(c.name) {
		var err error
		if tc, err = m.tlsConfig(c); err != nil {
			return nil, err
		}
	}
	raw, err := net.Listen("tcp", net.JoinHostPort(m.bind, strconv.Itoa(c.port)))
	if err != nil {
		if errors.Is(err, errAddrInUse) {
			return nil, fmt.Errorf("port %d is in use by another program", c.port)
		}
		return nil, fmt.Errorf("cannot listen on port %d: %w", c.port, err)
	}
	g := &guarded{Listener: raw, service: c.name, tls: tc, m: m}
	g.policy.Store(&policy{addrs: c.addrs, max: int64(c.max)})
	ctx, cancel := context.WithCancel(m.ctx)
	r := &running{key: c.key(), ln: g, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer func() {
			if p := recover(); p != nil {
				m.log.Error("protocol panicked", "service", c.name, "panic", p, "stack", string(debug.Stack()))
			}
		}()
		if err := proto(ctx, g); err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
			m.log.Error("service stopped", "service", c.name, "err", err)
		}
	}()
	return r, nil
}

// Addr returns the address a running service listens on, and false when it is not
// running.
func (m *Manager) Addr(service string) (net.Addr, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.running[service]
	if r == nil {
		return nil, false
	}
	return r.ln.Addr(), true
}

// winbox answers every connection that the protocol is not available: routerd does
// not speak winbox, and a client learns it at once rather than from a timeout.
func winbox(ctx context.Context, ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, "routerd: the winbox protocol is not available; use api, www, ssh or telnet\r\n")
		}()
	}
}
