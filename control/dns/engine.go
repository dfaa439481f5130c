package dns

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/store"
)

// Options say where the server listens.
type Options struct {
	// Addr is the address of both listeners; empty is ":53".
	Addr string
}

// Engine follows /ip dns and /ip dns static and runs the server while
// allow-remote-requests=yes.
type Engine struct {
	ex   *control.Executor
	opts Options
	Srv  *Server
	// Dyn are the servers other engines learned (dynamic.go).
	Dyn  *DynamicServers
	kick chan struct{}
	h    *engine.Handle
	// life is the engine's lifetime (Start's context): the listeners run under it.
	life context.Context

	mu       sync.Mutex
	udp, tcp *mdns.Server
	addr     net.Addr
	lerr     error
}

// New returns the engine for an engine host (no I/O until Start).
func New(opts Options) *Engine {
	if opts.Addr == "" {
		opts.Addr = ":53"
	}
	return &Engine{opts: opts, Srv: NewServer(DefaultConfig()), Dyn: &DynamicServers{}, kick: make(chan struct{}, 1)}
}

// Spec declares the menus the engine applies and follows.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "dns", Menus: []string{StaticPath, CachePath, CacheAllPath}, Watch: []string{SettingsPath}}
}

// Start registers the cache's rows and flush.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.h, e.life = h, ctx
	e.register(h.Ex)
	e.Dyn.notify(h.Kick)
	engine.Offer(h, e.Dyn)
	return nil
}

// Close stops the listeners.
func (e *Engine) Close() error {
	e.stop()
	return nil
}

func (e *Engine) register(ex *control.Executor) {
	e.ex = ex
	ex.Provide(CachePath, e.cacheRows)
	ex.Provide(SettingsPath, e.settingsState)
	ex.Provide(CacheAllPath, e.cacheRows)
	ex.Handle(CachePath, "flush", control.CommandSpec{}, func(context.Context, *control.Call) (*control.Reply, error) {
		e.Srv.Flush()
		return &control.Reply{}, nil
	})
}

func (e *Engine) cacheRows(context.Context, *control.Session) ([]control.Row, error) {
	var rows []control.Row
	for i, p := range e.Srv.CacheRows() {
		rows = append(rows, control.Row{ID: uint64(i + 1), Props: p})
	}
	return rows, nil
}

// settingsItem is /ip dns as configured, decoded through the menu schema.
type settingsItem struct {
	Servers       []string      `prop:"servers"`
	Listen        bool          `prop:"allow-remote-requests"`
	MaxUDP        int           `prop:"max-udp-packet-size"`
	ServerTimeout time.Duration `prop:"query-server-timeout"`
	TotalTimeout  time.Duration `prop:"query-total-timeout"`
	CacheKiB      int           `prop:"cache-size"`
	MaxTTL        time.Duration `prop:"cache-max-ttl"`
}

// staticItem is one /ip dns static entry as configured.
type staticItem struct {
	Name      string        `prop:"name"`
	Regexp    string        `prop:"regexp"`
	Type      string        `prop:"type"`
	Address   netip.Addr    `prop:"address"`
	CNAME     string        `prop:"cname"`
	Text      string        `prop:"text"`
	MX        string        `prop:"mx-exchange"`
	MXPref    uint16        `prop:"mx-preference"`
	NS        string        `prop:"ns"`
	ForwardTo string        `prop:"forward-to"`
	SRVTarget string        `prop:"srv-target"`
	SRVPort   uint16        `prop:"srv-port"`
	SRVPrio   uint16        `prop:"srv-priority"`
	SRVWeight uint16        `prop:"srv-weight"`
	TTL       time.Duration `prop:"ttl"`
	Subdomain bool          `prop:"match-subdomain"`
	Disabled  bool          `prop:"disabled"`
}

// TypedItems names the structs the menus' items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{SettingsPath: settingsItem{}, StaticPath: staticItem{}}
}

// Reconcile decodes the settings and statics, and starts or stops the listeners.
func (e *Engine) Reconcile(ctx context.Context) error {
	cfg := DefaultConfig()
	settings, err := e.ex.Items(SettingsPath)
	if err != nil {
		return err
	}
	if len(settings) > 0 {
		sm, _ := e.ex.Tree.Get(SettingsPath)
		var c settingsItem
		if err := engine.Decode(sm, settings[0], &c); err != nil {
			return fmt.Errorf("%s: %w", SettingsPath, err)
		}
		cfg.Listen = c.Listen
		for _, s := range c.Servers {
			cfg.Servers = append(cfg.Servers, net.JoinHostPort(s, "53"))
		}
		cfg.CacheBytes, cfg.MaxUDP = c.CacheKiB<<10, c.MaxUDP
		cfg.MaxTTL, cfg.ServerTimeout, cfg.TotalTimeout = c.MaxTTL, c.ServerTimeout, c.TotalTimeout
	}
	for _, a := range e.Dyn.Servers() {
		// After the configured servers, as RouterOS asks them.
		cfg.Servers = append(cfg.Servers, net.JoinHostPort(a.String(), "53"))
	}
	statics, err := e.ex.Items(StaticPath)
	if err != nil {
		return err
	}
	stm, _ := e.ex.Tree.Get(StaticPath)
	for _, it := range statics {
		st := control.ItemState{}
		var c staticItem
		err := engine.Decode(stm, it, &c)
		if err == nil && !c.Disabled {
			var s Static
			if s, err = c.static(it.ID); err == nil {
				cfg.Statics = append(cfg.Statics, s)
			}
		}
		if err != nil {
			st.Invalid, st.Status = true, err.Error()
		}
		e.ex.State.Set(StaticPath, it.ID, st)
	}
	e.Srv.SetConfig(cfg)
	if !cfg.Listen {
		e.stop()
		e.setStatus(settings, "")
		return nil
	}
	if err := e.listen(); err != nil {
		// /ip dns says why remote requests go unanswered (another program holding port
		// 53, say), as /ip service and tftp do; the next pass tries again.
		e.setStatus(settings, "not answering remote requests: "+err.Error())
		slog.Warn("dns: not listening", "err", err)
		return err
	}
	e.setStatus(settings, "")
	return nil
}

// setStatus gives /ip dns its status.
func (e *Engine) setStatus(settings []store.Item, status string) {
	for _, it := range settings {
		e.ex.State.Set(SettingsPath, it.ID, control.ItemState{Status: status})
	}
}

// listen opens UDP and TCP on the same port.
func (e *Engine) listen() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.udp != nil {
		return nil
	}
	pc, err := net.ListenPacket("udp", e.opts.Addr)
	if err != nil {
		e.lerr = err
		return err // "listen udp ADDR: bind: address already in use"
	}
	// TCP on the port UDP got (Addr may say port 0 in tests).
	_, port, _ := net.SplitHostPort(pc.LocalAddr().String())
	host, _, _ := net.SplitHostPort(e.opts.Addr)
	l, err := net.Listen("tcp", net.JoinHostPort(host, port))
	if err != nil {
		pc.Close()
		e.lerr = err
		return err
	}
	handler := recovering{e.Srv, e.h}
	e.udp = &mdns.Server{PacketConn: pc, Handler: handler}
	e.tcp = &mdns.Server{Listener: l, Handler: handler, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	e.addr, e.lerr = pc.LocalAddr(), nil
	for proto, s := range map[string]*mdns.Server{"udp": e.udp, "tcp": e.tcp} {
		// The library answers each query on a goroutine of its own, which recovering
		// guards; these two accept them, and end when the listener is shut down (stop,
		// or the engine's end, which the host joins). A Shutdown before the server
		// started would be lost (the library would then serve on), so the engine's end
		// waits for the start.
		started, ended := make(chan struct{}), make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		e.h.Go(e.life, func(ctx context.Context) {
			defer close(ended)
			end := context.AfterFunc(ctx, func() {
				select {
				case <-started:
					s.Shutdown()
				case <-ended:
				}
			})
			defer end()
			logServeError(proto, s.ActivateAndServe())
		})
	}
	return nil
}

// recovering answers a query with the server; a panic while answering (a bug a query
// hits) ends that query only, answered SERVFAIL. The library runs each query on a
// goroutine of its own and recovers nothing: without this a query could end routerd.
// The panic goes to the engine host, which logs it with its stack, counts it and shows
// it on the engine's items until its next pass. (The library's own parsing of the
// query's bytes runs before the handler, outside any recovery of routerd's: it is
// fuzzed upstream, and FuzzAnswer feeds what it parses to routerd's answer.)
type recovering struct {
	srv *Server
	h   *engine.Handle
}

func (r recovering) ServeDNS(w mdns.ResponseWriter, req *mdns.Msg) {
	defer func() {
		if p := recover(); p != nil {
			r.h.Recovered("dns query", p)
			m := new(mdns.Msg)
			m.SetRcode(req, mdns.RcodeServerFailure)
			w.WriteMsg(m)
		}
	}()
	r.srv.ServeDNS(w, req)
}

func (e *Engine) stop() {
	e.mu.Lock()
	udp, tcp := e.udp, e.tcp
	e.udp, e.tcp, e.addr = nil, nil, nil
	e.mu.Unlock()
	if udp != nil {
		udp.Shutdown()
	}
	if tcp != nil {
		tcp.Shutdown()
	}
}

// Addr is the UDP address the server listens on, nil when it does not.
func (e *Engine) Addr() net.Addr {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}
