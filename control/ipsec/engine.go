package ipsec

import (
	"context"
	"errors"
	"fmt"
	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/dataplane"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/ipcfg"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/tunnel"
	"github.com/routerd/routerd/ike"
	"github.com/routerd/routerd/ike/esp"
	rad "github.com/routerd/routerd/radius"
)

// Menu paths.
const (
	ProfilePath     = menu.IPsecProfilePath
	ProposalPath    = menu.IPsecProposalPath
	PeerPath        = menu.IPsecPeerPath
	IdentityPath    = menu.IPsecIdentityPath
	PolicyPath      = menu.IPsecPolicyPath
	GroupPath       = menu.IPsecPolicyGroupPath
	SettingsPath    = menu.IPsecSettingsPath
	StatisticsPath  = menu.IPsecStatisticsPath
	ActivePeersPath = menu.IPsecActivePeersPath
	InstalledSAPath = menu.IPsecInstalledSAPath
	ModeConfigPath  = menu.IPsecModeConfigPath
	UserPath        = menu.IPsecUserPath
)

// Menus the pass reads besides its own.
const (
	dnsPath  = dns.SettingsPath // mode config system-dns
	poolPath = ipcfg.PoolPath   // mode config address-pool
)

// Options say where the engine listens and how it reaches the data path.
type Options struct {
	// Port and NATPort default to 500 and 4500.
	Port, NATPort uint16
	// Listen opens the IKE sockets (tests open them in their namespace).
	Listen func(network string, a *net.UDPAddr) (*net.UDPConn, error)
	// ESP configures the data path; Do runs its opening in the right network namespace
	// (default: the calling thread's).
	ESP esp.Config
	Do  func(func() error) error
	// NoDatapath runs IKE without installing SAs (for hosts without TUN; status only).
	NoDatapath bool
	Log        *slog.Logger
	// RADIUS is the /radius client eap-radius identities and accounting use (nil: none).
	RADIUS *rad.Client
	// Pools, when set, leases mode config addresses from /ip pool (shown in /ip pool
	// used, next-pool followed); without it the engine leases from the ranges itself.
	Pools *ipcfg.Pools
	// Certs are the router's certificates (digital-signature identities); nil: none.
	Certs *certificate.Store
	// Rules, when set, takes the engine's dynamic firewall rules (rules.go).
	Rules RuleSetter
	// Protect, when set, takes the inbound policies after every change, so that the
	// tunnel decapsulator refuses cleartext that a policy requires encrypted.
	Protect tunnel.Protect
	// SecretStatus, when set, takes the tunnels whose ipsec-secret cannot apply, and
	// why (their status).
	SecretStatus tunnel.SecretStatus
	// DNS, when set, takes the DNS servers mode config handed us (dnsservers.go).
	DNS DNSSetter
}

// Engine applies /ip ipsec.
type Engine struct {
	ex    *control.Executor
	hosts *hostname.Resolver // peer and tunnel addresses given by name
	opts  Options
	log   *slog.Logger
	d     *ike.Daemon
	dp    esp.Datapath
	h     *engine.Handle
	// startErr is why Start failed (Start, the tests' host of its own).
	startErr error
	// spd asks the loop to refresh the data path's policies (an SA came up).
	spd chan struct{}
	// reconcileMu serialises Reconcile (the host's pass, tests) and the loop's refreshes.
	reconcileMu sync.Mutex
	// spdMu serialises SetPolicies.
	spdMu sync.Mutex
	// dpEvents hands the data path's event channel to the loop once it is open.
	dpEvents chan (<-chan esp.Event)
	// Exited closes when an engine run by Start stopped.
	Exited chan struct{}

	// passHook, when set (tests), runs in a pass while e.mu is held.
	passHook atomic.Pointer[func()]
	// loopRuns is set while loop runs (startLoop).
	loopRuns atomic.Bool

	mu      sync.Mutex
	invalid map[string]map[uint64]string
	peers   []*ike.PeerConfig
	polCfg  map[uint64]*policyInfo
	// tmplOrd is each template's place in the policy menu: the policies generated from
	// it take that place in the SPD, as RouterOS puts them (a static discard policy below
	// the template comes after them).
	tmplOrd map[uint64]int
	m       *metrics
	// espTot keeps the ESP traffic counters monotonic across removed SAs (espcount.go).
	espTot  *espTotals
	leaseMu sync.Mutex
	leases  map[netip.Addr]bool
	vips    map[netip.Addr]bool // mode config addresses installed on lo
	// vipsAdopted: the addresses a previous run left on lo (vipLabel) were taken into
	// vips, so that the first sync removes those no SA gives any more.
	vipsAdopted bool
	tunnels     []tunnelPeer // dynamic peers of tunnels' ipsec-secret
	// peerRules: what each identity (by IdentityConfig.Name) and its mode config ask of the firewall.
	peerRules map[string]peerRules
	rulesKey  string            // the rules as last handed to the firewall
	warned    map[string]string // warnOnce's last message by key
	inform    informServer      // Windows clients' DHCP inform (dhcpinform.go)
	// runCtx is Start's: it ends when the host stops (a pass's ctx may be a caller's).
	runCtx context.Context
	// retryTunnels asks the loop to reconcile again: a tunnel's endpoints were unknown.
	retryTunnels bool
	// tunnelOwners is, by remote address, the tunnel whose secret made the address's
	// dynamic peer in the last pass: it keeps the peer (tunnelPeers).
	tunnelOwners map[netip.Addr]string
	// appliedSum is the digest of the configuration last applied (reconcile.go); nil
	// after a pass that could not apply all of it.
	appliedSum []byte
	// certGen counts /certificate refreshes: identities read certificates.
	certGen atomic.Int64
	// dpErr, spdErr and rulesErr are why the data path did not open, the SPD or the
	// firewall rules were not applied: the items they concern show it, and the loop
	// tries again.
	dpErr, spdErr, rulesErr error
	// polErr is why the data path refused one policy's part of the SPD (its steering
	// route), by policy item: shown on that policy alone (under mu).
	polErr map[uint64]string
	// lastSPD and lastProtect are what the data path and the tunnels last took.
	lastSPD     []esp.Policy
	lastProtect []tunnel.ProtectRule
	// secretConflicts are the tunnels whose ipsec-secret was left out, and why (by
	// tunnel name; under mu); sentConflicts what the tunnel engine last took.
	secretConflicts, sentConflicts map[string]string
	spdApplied                     bool
	// spdLogged is the SPD error last logged ("" when none): a refusal the 2 s retry
	// meets again (a source address tentative for a while) is logged once, then again
	// only when it changes or clears (under spdMu).
	spdLogged string
	// applied counts what passes handed on (tests: a pass with nothing changed hands
	// on nothing).
	applied struct{ peers, spd, protect, rules atomic.Int64 }
}

type policyInfo struct {
	id     uint64
	peer   string
	action esp.Action
	level  esp.Level
	tunnel bool
	src    netip.Prefix
	dst    netip.Prefix
	proto  uint8
	sport  uint16
	dport  uint16
	reqID  uint32
	saSrc  netip.Addr
	saDst  netip.Addr
	// ord is the policy's place in the menu (from 1; dynamic tunnel policies 0): the SPD
	// keeps RouterOS's top-to-bottom order.
	ord int
	// held: an invalid encrypt policy of level require or unique whose peer is disabled,
	// not usable or unset; it stays in the SPD without an SA (its packets dropped) and asks no
	// peer for one.
	held bool
	// noIdentity: why an encrypt policy's peer cannot negotiate, as it has no usable
	// identity (its status; empty when it has one).
	noIdentity string
}

// New returns the IPsec engine (no I/O: the registration list calls it). Options left
// unset that another engine offers (the RADIUS client, /certificate, the firewall's
// dynamic rules, the tunnels' cleartext protection, /ip dns dynamic-servers) are looked
// up at Start.
func New(opts Options) *Engine {
	if opts.Log == nil {
		opts.Log = slog.Default().With("topic", "ipsec")
	}
	if opts.Do == nil {
		opts.Do = func(f func() error) error { return f() }
	}
	return &Engine{opts: opts, log: opts.Log, spd: make(chan struct{}, 1), dpEvents: make(chan (<-chan esp.Event), 1),
		Exited: make(chan struct{}), invalid: map[string]map[uint64]string{}, polCfg: map[uint64]*policyInfo{}, espTot: newESPTotals()}
}

// Spec declares the engine: /ip ipsec, and the menus its pass reads besides (mode
// config's system-dns and address-pool, the tunnels' ipsec-secret). No periodic pass: what the pass
// applies changes only with the configuration; the engine's own loop follows the SAs.
func (e *Engine) Spec() engine.Spec {
	watch := []string{dnsPath, poolPath}
	for p := range TypedItems() {
		watch = append(watch, p) // below Root, named for the unhandled-properties list
	}
	slices.Sort(watch)
	for _, tm := range tunnelMenus {
		watch = append(watch, tm.path)
	}
	return engine.Spec{Name: "ipsec", Menus: []string{Root}, Watch: watch, Resync: engine.Never}
}

// Start opens the IKE sockets, registers the commands and status menus, and starts the
// loop that follows the SAs and the data path's events. The data path opens with the
// first peer (Reconcile).
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.h, e.ex, e.runCtx = h, h.Ex, ctx
	opts := &e.opts
	// The userspace ESP path's hold device (ike/esp hold6.go) is a part of it, not an
	// interface: /interface print leaves it out.
	hold := opts.ESP.HoldDevice()
	engine.Offer(h, link.Hider(func(name string) bool { return name == hold }))
	if opts.RADIUS == nil {
		opts.RADIUS, _ = engine.Lookup[*rad.Client](h)
	}
	if opts.Certs == nil {
		opts.Certs, _ = engine.Lookup[*certificate.Store](h)
	}
	if opts.Pools == nil {
		opts.Pools, _ = engine.Lookup[*ipcfg.Pools](h)
	}
	if opts.Rules == nil {
		if fw, ok := engine.Lookup[*firewall.DynamicRules](h); ok {
			opts.Rules = fw // mode config src-nat, notrack-chain and NAT bypass rules
		}
	}
	if opts.Protect == nil {
		opts.Protect, _ = engine.Lookup[tunnel.Protect](h) // cleartext refused at decapsulation
	}
	if opts.SecretStatus == nil {
		opts.SecretStatus, _ = engine.Lookup[tunnel.SecretStatus](h)
	}
	if opts.ESP.RxSteer == nil {
		// The port program takes raw ESP of our SAs to the userspace path's GRO socket.
		if dp, ok := engine.Lookup[*dataplane.Tunnels](h); ok && dp != nil {
			opts.ESP.RxSteer = dp
		}
	}
	// Peer addresses and tunnels' remote-addresses given by name: a changed record
	// (or /ip dns) asks for a pass, whose digest includes what they resolved to.
	e.hosts = hostname.Of(h)
	if opts.DNS == nil {
		if ds, ok := engine.Lookup[*dns.DynamicServers](h); ok {
			opts.DNS = ds // mode config DNS servers into /ip dns dynamic-servers
		}
	}
	io := ike.DefaultOptions()
	if opts.Port != 0 {
		io.Port = opts.Port
	}
	if opts.NATPort != 0 {
		io.NATPort = opts.NATPort
	}
	io.Listen, io.Do = opts.Listen, opts.Do
	io.Log = opts.Log
	// SAs coming or going change the SPD's endpoints and the status, not the
	// configuration: refresh those, without decoding the menus again.
	io.Events = e.refresh
	var relay *radiusRelay
	if opts.RADIUS != nil {
		relay = &radiusRelay{e: e, client: opts.RADIUS, sessions: map[string]*acctSession{}}
		io.EAPRelay = relay
	}
	d, err := ike.New(io, nil)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			// Another IKE daemon (a strongSwan running at boot) holds port 500 or
			// 4500: the host starts the engine again once it is free.
			err = fmt.Errorf("%w (%w)", err, engine.ErrStartAgain)
		}
		e.startErr = err
		return err
	}
	e.d, e.startErr = d, nil
	e.hosts.OnChange(h.Kick)
	e.m = newMetrics(e, h.Metrics)
	// /ip ipsec key (rsa-key) keeps saying it is not applied. settings is applied:
	// accounting and interim-update drive eap-radius accounting (eap.go).
	for _, p := range []string{ProfilePath, ProposalPath, PeerPath, IdentityPath, PolicyPath, GroupPath, ModeConfigPath,
		StatisticsPath, ActivePeersPath, InstalledSAPath, SettingsPath, UserPath} {
		e.ex.SetEngine(p, "ipsec")
	}
	e.registerChecks()
	e.registerTunnelChecks()
	e.registerStatus()
	e.watchCertificates()
	e.startLoop(ctx)
	if relay != nil {
		h.Go(ctx, relay.interim)
	}
	return nil
}

// Close stops IKE, closes the data path and withdraws the engine's firewall rules; the
// host calls it once the loop has ended. It returns what the data path could not
// remove from the kernel (steering routes and rules, xfrm policies).
func (e *Engine) Close() error {
	if e.d != nil {
		e.d.Close()
	}
	e.dropVIPs()
	e.mu.Lock()
	dp := e.dp
	e.mu.Unlock()
	var err error
	if dp != nil {
		if err = dp.Close(); err != nil {
			err = fmt.Errorf("ipsec: closing the ESP data path: %w", err)
		}
	}
	if e.opts.Rules != nil {
		e.opts.Rules.Set(ruleOwner, nil)
	}
	return err
}

// Start runs the engine on a host of its own over ex (tests; the daemon registers New
// on its one host): it returns once the stored configuration is applied, and ends when
// ctx does, closing Exited.
func Start(ctx context.Context, ex *control.Executor, reg prometheus.Registerer, opts Options) (*Engine, error) {
	e := New(opts)
	h := engine.New(ex, reg)
	h.Register(e)
	if err := h.Start(ctx); err != nil {
		h.Stop()
		return nil, err
	}
	if e.d == nil || e.startErr != nil {
		h.Stop()
		if e.startErr == nil {
			e.startErr = errors.New("ipsec engine did not start")
		}
		return nil, e.startErr
	}
	context.AfterFunc(ctx, func() {
		h.Stop()
		close(e.Exited)
	})
	return e, nil
}

func (e *Engine) refresh() {
	select {
	case e.spd <- struct{}{}:
	default:
	}
}

// poke asks the host for a pass (configuration the pass reads changed outside the
// watched menus: a certificate).
func (e *Engine) poke() {
	if e.h != nil {
		e.h.Kick()
	}
}

// loop follows what changes without the configuration: the data path's events (soft
// expiry, acquire), SAs coming and going (the SPD's endpoints, virtual IPs, status)
// and tunnels whose endpoints were unknown. It runs under the host (Handle.Go); the
// host's Reconcile applies the configuration.
func (e *Engine) loop(ctx context.Context) {
	var events <-chan esp.Event
	if dp := e.Datapath(); dp != nil {
		events = dp.Events() // started again after a panic: the data path is open
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ch := <-e.dpEvents:
			events = ch
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch ev.Kind {
			case esp.EventSoftExpire:
				e.d.RekeyChild(ev.SA.SPI)
			case esp.EventAcquire:
				e.acquire(ev)
			case esp.EventMapping:
				e.d.ESPMapping(ev.SA.SPI, ev.From)
			case esp.EventDevice:
				e.repairDatapath(ctx)
			}
		case <-e.spd:
			e.refreshSPD(ctx)
		case <-tick.C:
			e.retry(ctx)
		}
	}
}

// startLoop starts loop under the host unless it runs. A panic ends it (the host
// recovers it, marks the items and kicks a pass): the pass starts it again.
func (e *Engine) startLoop(ctx context.Context) {
	if e.h == nil || !e.loopRuns.CompareAndSwap(false, true) {
		return
	}
	e.h.Go(ctx, func(ctx context.Context) {
		defer e.loopRuns.Store(false)
		e.loop(ctx)
	})
}

// refreshSPD follows SAs that came or went: the SPD's endpoints, virtual addresses,
// the policies' status and the firewall's rules.
func (e *Engine) refreshSPD(ctx context.Context) {
	// One at a time with the host's pass, as when both ran in one loop.
	e.reconcileMu.Lock()
	defer e.reconcileMu.Unlock()
	e.syncVIPs()
	e.applySPD(ctx)
	e.publishPolicies()
	e.syncRules()
}

// retry asks for a pass when tunnels' endpoints were unknown or the data path did not
// open, and applies a refused SPD or firewall rules again.
func (e *Engine) retry(ctx context.Context) {
	e.mu.Lock()
	retry := e.retryTunnels || e.dpErr != nil
	failed := e.spdErr != nil || len(e.polErr) > 0 || e.rulesErr != nil
	e.mu.Unlock()
	if retry {
		e.poke()
	}
	e.repairDatapath(ctx)
	e.reconcileMu.Lock()
	defer e.reconcileMu.Unlock()
	e.syncVIPs()
	if failed {
		e.applySPD(ctx)
		e.syncRules()
	}
	e.publishPolicies()
}

// repairDatapath makes again what was removed of the data path's own kernel objects
// behind routerd's back (ip link del ipsec0 on the userspace path, which takes the
// steering routes with it and leaves every SA silent). The loop calls it on the data
// path's EventDevice and every tick (2 s; with nothing removed, one link lookup); while
// it cannot, the encrypt policies and /ip ipsec statistics say why (datapathHealth).
func (e *Engine) repairDatapath(ctx context.Context) {
	r, ok := e.Datapath().(esp.Repairer)
	if !ok {
		return
	}
	was := r.Health()
	repaired, err := r.Repair(ctx)
	switch {
	case repaired:
		e.log.Warn("ipsec: the ESP device was removed or set down behind routerd's back: made again", "was", was, "err", err)
	case err != nil && was == nil:
		e.log.Error("ipsec: the ESP device is missing", "err", err)
	}
	if repaired || (err == nil) != (was == nil) {
		func() {
			// Deferred: a panic in publishPolicies, recovered by the host, must not
			// leave every later pass waiting on the lock.
			e.reconcileMu.Lock()
			defer e.reconcileMu.Unlock()
			e.publishPolicies()
		}()
	}
}

// datapathHealth is why the data path cannot carry traffic now (its device was removed
// and not made again yet), nil when it can.
func (e *Engine) datapathHealth() error {
	if r, ok := e.Datapath().(esp.Repairer); ok {
		return r.Health()
	}
	return nil
}

// acquire starts the peer of a policy that saw traffic without an SA.
func (e *Engine) acquire(ev esp.Event) {
	var peer string
	var id uint64
	e.locked(func() {
		for _, p := range e.polCfg {
			if !p.held && (p.reqID == ev.ReqID || uint32(p.id) == ev.PolicyID) {
				peer, id = p.peer, p.id
			}
		}
	})
	if peer != "" {
		e.d.Acquire(peer, id)
	}
}

// Daemon is the IKE daemon (tests and the load generator).
func (e *Engine) Daemon() *ike.Daemon { return e.d }

// Datapath is the ESP data path, nil without one.
func (e *Engine) Datapath() esp.Datapath {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dp
}

// menu is the schema of path (declared in control/menu, so always there).
func (e *Engine) menu(path string) *menu.Menu {
	m, _ := e.ex.Tree.Get(path)
	return m
}

// items reads a menu with each item's properties completed by the menu's defaults.
func (e *Engine) items(path string) ([]store.Item, *menu.Menu, error) {
	m, ok := e.ex.Tree.Get(path)
	if !ok {
		return nil, nil, fmt.Errorf("no menu %s", path)
	}
	its, err := e.ex.Items(path)
	if err != nil {
		return nil, nil, err
	}
	for i, it := range its {
		props := maps.Clone(it.Props)
		if props == nil {
			props = map[string]string{}
		}
		for _, p := range m.Props {
			if _, ok := props[p.Name]; !ok && p.Default != "" {
				props[p.Name] = p.Default
			}
		}
		its[i].Props = props
	}
	return its, m, nil
}

// unsetToAny widens a template's default address (0.0.0.0/32, ::/128: none given) to
// the whole family: RouterOS's mode config initiator then asks for everything (TSr
// 0.0.0.0/0), and the responder narrows it to its split-include or template.
func unsetToAny(s ike.Selector) ike.Selector {
	if s.Start != s.End || !s.Start.IsUnspecified() {
		return s
	}
	w := ike.SelectorFromPrefix(netip.PrefixFrom(s.Start, 0), s.IPProto, 0)
	w.StartPort, w.EndPort = s.StartPort, s.EndPort
	return w
}

func (e *Engine) openDatapath(ctx context.Context) error {
	if e.opts.NoDatapath || e.dpReady() {
		return nil
	}
	cfg := e.opts.ESP
	if cfg.TunName == "" {
		def := esp.DefaultConfig()
		def.Force, def.RxSteer = cfg.Force, cfg.RxSteer // SteerRx: DefaultConfig's
		cfg = def
	}
	cfg.UDP4500, cfg.UDP4500v6 = e.d.NATSocket(false), e.d.NATSocket(true)
	cfg.Log = e.log
	var dp esp.Datapath
	err := e.opts.Do(func() error {
		var err error
		dp, err = esp.Open(context.WithoutCancel(ctx), cfg)
		return err
	})
	if err != nil {
		return fmt.Errorf("ESP data path: %w", err)
	}
	for _, v6 := range []bool{false, true} {
		if c := e.d.IKESocket(v6); c != nil {
			if err := esp.SetBypassMark(c, cfg); err != nil {
				e.log.Warn("ipsec: cannot mark the IKE socket", "err", err)
			}
		}
	}
	e.mu.Lock()
	e.dp = dp
	e.mu.Unlock()
	e.d.SetDatapath(&adapter{dp: e.Datapath, changed: e.refresh, tot: e.espTot})
	e.dpEvents <- dp.Events()
	e.log.Info("ipsec: ESP data path", "kind", dp.Kind(), "reason", esp.Probe().Reason)
	return nil
}

// locked runs fn with e.mu held. The unlock is deferred: a panic in fn, which the host
// recovers, leaves the engine usable instead of its next pass waiting for the lock.
func (e *Engine) locked(fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fn()
}

func (e *Engine) dpReady() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dp != nil
}

// applySPD gives the data path the ordered policy list: per encrypt policy an outbound
// and an inbound entry between the SA endpoints (known once the peer is up).
func (e *Engine) applySPD(ctx context.Context) {
	dp := e.Datapath()
	if dp == nil {
		return
	}
	e.spdMu.Lock()
	defer e.spdMu.Unlock()
	endpoints := map[string][2]netip.Addr{}
	for _, s := range e.d.Snapshot() {
		if s.State == "established" {
			endpoints[s.Peer] = [2]netip.Addr{s.Local.Addr(), s.Remote.Addr()}
		}
	}
	type entry struct {
		ord int
		ps  []esp.Policy
		// noSA: an encrypt policy whose endpoints are unknown until its peer is up; its
		// inbound rule still protects tunnels (Options.Protect), and the data path gets
		// its outbound half (guard).
		noSA bool
	}
	var ents []entry
	var tmplOrd map[uint64]int
	e.locked(func() {
		ids := make([]uint64, 0, len(e.polCfg))
		for id := range e.polCfg {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			pi := e.polCfg[id]
			mode := esp.ModeTransport
			if pi.tunnel {
				mode = esp.ModeTunnel
			}
			out := esp.Policy{ID: uint32(id), Src: pi.src, Dst: pi.dst, Protocol: pi.proto, SrcPort: pi.sport, DstPort: pi.dport,
				Dir: esp.DirOut, Action: pi.action, Level: pi.level, Mode: mode, ReqID: pi.reqID}
			in := esp.Policy{ID: uint32(id), Src: pi.dst, Dst: pi.src, Protocol: pi.proto, SrcPort: pi.dport, DstPort: pi.sport,
				Dir: esp.DirIn, Action: pi.action, Level: pi.level, Mode: mode, ReqID: pi.reqID}
			if pi.action == esp.ActionEncrypt {
				ep, ok := endpoints[pi.peer]
				if !ok {
					ep = [2]netip.Addr{pi.saSrc, pi.saDst}
				}
				if pi.held {
					ep = [2]netip.Addr{} // no SA until the peer is back
				}
				if !ep[0].IsValid() || !ep[1].IsValid() {
					out.TunnelSrc, out.TunnelDst = ep[0], ep[1] // what is known (the peer's address)
					ents = append(ents, entry{pi.ord, []esp.Policy{out, in}, true})
					continue // endpoints unknown until the peer is up
				}
				out.TunnelSrc, out.TunnelDst = ep[0], ep[1]
				in.TunnelSrc, in.TunnelDst = ep[1], ep[0]
			}
			ents = append(ents, entry{pi.ord, []esp.Policy{out, in}, false})
		}
		tmplOrd = e.tmplOrd
	})
	// Policies generated from templates for the peers' CHILD_SAs, at their template's
	// place: one per pair of traffic selectors (a responder's split-include networks
	// each get their own, as RouterOS generates them).
	for _, s := range e.d.Snapshot() {
		for _, c := range s.Children {
			if !c.Policy.Dynamic {
				continue
			}
			mode := esp.ModeTransport
			if c.Tunnel {
				mode = esp.ModeTunnel
			}
			var ps []esp.Policy
			for _, pr := range tsPairs(&c) {
				ps = append(ps,
					esp.Policy{ID: generatedID(c.ReqID), Src: pr.local, Dst: pr.remote, Protocol: pr.proto, Dir: esp.DirOut, Action: esp.ActionEncrypt,
						Level: esp.LevelUnique, Mode: mode, TunnelSrc: c.Local.Addr(), TunnelDst: c.Remote.Addr(), ReqID: c.ReqID},
					esp.Policy{ID: generatedID(c.ReqID), Src: pr.remote, Dst: pr.local, Protocol: pr.proto, Dir: esp.DirIn, Action: esp.ActionEncrypt,
						Level: esp.LevelUnique, Mode: mode, TunnelSrc: c.Remote.Addr(), TunnelDst: c.Local.Addr(), ReqID: c.ReqID})
			}
			ents = append(ents, entry{tmplOrd[c.Policy.ID], ps, false})
		}
	}
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].ord < ents[j].ord })
	// guard: an outbound encrypt policy of level require or unique whose peer is not up
	// (no SA, so no endpoints) is still given to the data path, which drops its packets
	// and asks IKE for an SA (acquire), as RouterOS does. Left out, its destination fell
	// through to the main table and its packets left in the clear whenever the main
	// table had a route there: during a peer's break-before-make reauthentication, after
	// kill-connections, for good with a peer that never answers. The userspace path
	// steers it into its device without SA. XFRM's template has the peer's address and a
	// wildcard source, which the kernel fills from the route (no state: XfrmOutNoStates
	// and ACQUIRE); without the peer's address (a road warrior's 0.0.0.0/0 peer) there
	// is no one to ask, and XFRM gets a block policy.
	guard := func(p esp.Policy) (esp.Policy, bool) {
		if p.Dir != esp.DirOut || p.Action != esp.ActionEncrypt || p.Level == esp.LevelUse {
			return p, false
		}
		known := func(a netip.Addr) bool { return a.IsValid() && !a.IsUnspecified() }
		if dp.Kind() == esp.KindKernel && (!known(p.TunnelDst) || p.Mode == esp.ModeTransport && !known(p.TunnelSrc)) {
			p.Action = esp.ActionDiscard
		}
		return p, true
	}
	var ps []esp.Policy
	var rules []tunnel.ProtectRule
	for _, en := range ents {
		for _, p := range en.ps {
			// Tunnels' outer packets have no ports: a policy with ports never matches them.
			if p.Dir == esp.DirIn && p.SrcPort == 0 && p.DstPort == 0 {
				rules = append(rules, tunnel.ProtectRule{Src: p.Src, Dst: p.Dst, Proto: p.Protocol,
					Drop: p.Action == esp.ActionDiscard || (p.Action == esp.ActionEncrypt && p.Level != esp.LevelUse)})
			}
		}
		if !en.noSA {
			ps = append(ps, en.ps...)
			continue
		}
		for _, p := range en.ps {
			if p, ok := guard(p); ok {
				ps = append(ps, p)
			}
		}
	}
	// Only what changed: an SA event or a pass with the same policies hands on nothing.
	if e.opts.Protect != nil && (!e.spdApplied || !slices.Equal(rules, e.lastProtect)) {
		e.opts.Protect(rules)
		e.applied.protect.Add(1)
	}
	e.lastProtect = rules
	if e.spdApplied && e.spdErrNil() && slices.Equal(ps, e.lastSPD) {
		return
	}
	e.spdApplied = true
	err := dp.SetPolicies(ctx, ps)
	e.applied.spd.Add(1)
	e.lastSPD = ps
	e.logSPD(err)
	per, rest := policyErrors(err)
	inSPD := map[uint32]bool{}
	for _, p := range ps {
		inSPD[p.ID] = true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.polErr = map[uint64]string{}
	for id, perr := range per {
		// A policy's own: a configured one's, a tunnel's, or one generated from a
		// template (ReqID|1<<31), shown on its row (publishPolicies, tunnelRows,
		// dynamicPolicies). Only an id the SPD does not have concerns them all.
		if inSPD[id] {
			e.polErr[uint64(id)] = perr.Error()
			continue
		}
		rest = errors.Join(rest, perr)
	}
	e.spdErr = rest
}

// logSPD logs a data path's refusal of the SPD once per distinct error, and its end
// (spdMu held): the retry applies a refused SPD every 2 s, and logged each time the
// same refusal flooded the log (QA: a tentative IPv6 source, for as long as DAD runs or
// for good after it failed). The policies' status shows the error all along.
func (e *Engine) logSPD(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	switch {
	case msg == e.spdLogged:
	case msg == "":
		e.log.Info("ipsec: policies installed, the earlier refusal is over", "was", e.spdLogged)
	default:
		e.log.Warn("ipsec: cannot install policies", "err", err)
	}
	e.spdLogged = msg
}

// generatedID is the SPD's id of the policies generated for a CHILD SA of reqid (above
// those of configured policies and tunnels, below 1<<32).
func generatedID(reqID uint32) uint32 { return reqID | 1<<31 }

// policyFlags are a dynamic policy row's flags: D, I when the data path refused it
// (its status says why), A when its SA is up.
func (e *Engine) policyFlags(id uint64, active bool, p map[string]string) string {
	flags := "D"
	e.mu.Lock()
	why := e.polErr[id]
	e.mu.Unlock()
	if why != "" {
		flags += "I"
		p["status"] = "not applied: " + why
	}
	if active {
		flags += "A"
	}
	return flags
}

// policyErrors splits the data path's answer to SetPolicies into what concerns one
// policy (esp.PolicyError, by policy ID) and the rest, which concerns them all.
func policyErrors(err error) (per map[uint32]error, rest error) {
	per = map[uint32]error{}
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var pe *esp.PolicyError
		if errors.As(err, &pe) {
			per[pe.ID] = errors.Join(per[pe.ID], pe.Err)
			return
		}
		rest = errors.Join(rest, err)
	}
	if err != nil {
		walk(err)
	}
	return per, rest
}

// spdErrNil says the last SPD was taken whole; otherwise the next pass tries again.
func (e *Engine) spdErrNil() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spdErr == nil && len(e.polErr) == 0
}

// tsPair is one policy of a CHILD_SA: a local and a remote selector of one family.
type tsPair struct {
	local, remote netip.Prefix
	proto         uint8
	lsel, rsel    ike.Selector
}

// tsPairs lists the policies a CHILD_SA's traffic selectors make: every local selector
// with every remote one of its family (a narrowed TSr of two split-include networks is
// two policies).
func tsPairs(c *ike.ChildSA) []tsPair {
	var out []tsPair
	for _, l := range c.LocalTS {
		lp, ok := selPrefix(l)
		if !ok {
			continue
		}
		for _, r := range c.RemoteTS {
			rp, ok := selPrefix(r)
			if !ok || rp.Addr().Is4() != lp.Addr().Is4() {
				continue
			}
			proto := l.IPProto
			if proto == 0 {
				proto = r.IPProto
			}
			out = append(out, tsPair{local: lp, remote: rp, proto: proto, lsel: l, rsel: r})
		}
	}
	return out
}

// syncVIPs puts the addresses received by mode config on the loopback device (so that
// traffic from them, and to them, is local) and takes away those whose SA is gone.
func (e *Engine) syncVIPs() {
	want := map[netip.Addr]bool{}
	for _, s := range e.d.Snapshot() {
		if s.Received && s.VirtualIP.IsValid() && s.State == "established" {
			want[s.VirtualIP] = true
		}
	}
	if e.vips == nil {
		e.vips = map[netip.Addr]bool{}
	}
	if !e.vipsAdopted {
		e.adoptVIPs()
	}
	for a := range want {
		if !e.vips[a] {
			e.changeVIP(a, true)
			e.vips[a] = true
		}
	}
	for a := range e.vips {
		if !want[a] {
			e.changeVIP(a, false)
			delete(e.vips, a)
		}
	}
	e.syncDNS()
}

// vipLabel marks the mode config addresses routerd puts on lo (IFA_LABEL), so that a
// later run knows them: a routerd that stopped or was killed with a client SA up left
// its address there, and RouterOS's dynamic address goes with the SA.
const vipLabel = "lo:ipsec"

// adoptVIPs takes the addresses labelled vipLabel on lo into vips (reconcileMu held).
func (e *Engine) adoptVIPs() {
	err := e.opts.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		as, err := netlink.AddrList(lo, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		for _, a := range as {
			if a.Label != vipLabel {
				continue
			}
			if ip, ok := netip.AddrFromSlice(a.IP); ok {
				e.vips[ip.Unmap()] = true
			}
		}
		return nil
	})
	if err != nil {
		e.log.Warn("ipsec: reading mode config addresses left on lo", "err", err)
		return
	}
	e.vipsAdopted = true
}

// changeVIP adds or removes a mode config address on lo.
func (e *Engine) changeVIP(a netip.Addr, add bool) {
	err := e.opts.Do(func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}}
		if a.Is4() {
			addr.Label = vipLabel
		}
		if add {
			return netlink.AddrReplace(lo, addr)
		}
		return netlink.AddrDel(lo, addr)
	})
	if err != nil {
		e.log.Warn("ipsec: mode config address", "address", a, "add", add, "err", err)
	}
}

// dropVIPs removes the mode config addresses (the engine stops; its SAs are gone).
func (e *Engine) dropVIPs() {
	e.reconcileMu.Lock()
	defer e.reconcileMu.Unlock()
	for a := range e.vips {
		e.changeVIP(a, false)
		delete(e.vips, a)
	}
}

// selPrefix is the prefix a selector covers, when it is one.
func selPrefix(s ike.Selector) (netip.Prefix, bool) {
	for bits := 0; bits <= s.Start.BitLen(); bits++ {
		p := netip.PrefixFrom(s.Start, bits)
		if p.Masked().Addr() != s.Start {
			continue
		}
		if ike.SelectorFromPrefix(p, 0, 0).End == s.End {
			return p, true
		}
	}
	return netip.Prefix{}, false
}

// decodeModeConfig builds a /ip ipsec mode-config item's attributes; address-pool names
// an /ip pool, whose ranges are returned too (what the pass depends on).
func (e *Engine) decodeModeConfig(it modeConfigItem) (*ike.ModeConfig, [][2]netip.Addr, error) {
	mc := &ike.ModeConfig{Name: it.Name, Responder: it.Responder, PrefixLen: it.AddressPrefixLength,
		Split: it.SplitInclude, SplitDNS: it.SplitDNS, DNS: slices.Clone(it.StaticDNS)}
	if a := it.Address; a != "" && a != "none" {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			return nil, nil, fmt.Errorf("bad address %q", a)
		}
		mc.Address = addr
	}
	if mc.Responder && it.SystemDNS {
		// system-dns: the servers of /ip dns too.
		its, _, err := e.items(dnsPath)
		if err != nil {
			return nil, nil, fmt.Errorf("system-dns: %w", err)
		}
		if len(its) > 0 {
			for _, s := range list(its[0].Props["servers"]) {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return nil, nil, fmt.Errorf("system-dns: /ip dns servers: bad address %q", s)
				}
				if !slices.Contains(mc.DNS, a) {
					mc.DNS = append(mc.DNS, a)
				}
			}
		}
	}
	var ranges [][2]netip.Addr
	if pool := it.AddressPool; pool != "" && pool != "none" {
		var err error
		if ranges, err = e.poolRanges(pool); err != nil {
			return nil, nil, err
		}
		mc.Allocate = e.allocator(pool, ranges)
	}
	return mc, ranges, nil
}

func (e *Engine) poolRanges(name string) ([][2]netip.Addr, error) {
	its, _, err := e.items(poolPath)
	if err != nil {
		return nil, err
	}
	for _, it := range its {
		if it.Props["name"] != name {
			continue
		}
		var out [][2]netip.Addr
		for _, r := range list(it.Props["ranges"]) {
			lo, hi, ok := strings.Cut(r, "-")
			if !ok {
				hi = lo
			}
			if strings.Contains(lo, "/") {
				pf, err := netip.ParsePrefix(lo)
				if err != nil {
					return nil, fmt.Errorf("pool %s: bad range %q", name, r)
				}
				out = append(out, [2]netip.Addr{pf.Masked().Addr(), ike.SelectorFromPrefix(pf, 0, 0).End})
				continue
			}
			a, err1 := netip.ParseAddr(lo)
			b, err2 := netip.ParseAddr(hi)
			if err1 != nil || err2 != nil {
				return nil, fmt.Errorf("pool %s: bad range %q", name, r)
			}
			out = append(out, [2]netip.Addr{a, b})
		}
		return out, nil
	}
	return nil, fmt.Errorf("no /ip pool named %q", name)
}

// allocator hands out the lowest free address of a pool: through /ip pool's leases
// (Options.Pools: the ranges as they are now, next-pool, /ip pool used) or, without
// them, of the ranges the pass read.
func (e *Engine) allocator(pool string, ranges [][2]netip.Addr) func(who string) (netip.Addr, func(), error) {
	if pools := e.opts.Pools; pools != nil {
		return func(who string) (netip.Addr, func(), error) {
			a, err := pools.Acquire(pool, "ipsec", who)
			if err != nil {
				return netip.Addr{}, nil, fmt.Errorf("pool %s: %w", pool, err)
			}
			return a, func() { pools.Release(pool, a) }, nil
		}
	}
	return func(string) (netip.Addr, func(), error) {
		e.leaseMu.Lock()
		defer e.leaseMu.Unlock()
		if e.leases == nil {
			e.leases = map[netip.Addr]bool{}
		}
		for _, r := range ranges {
			for a := r[0]; a.IsValid() && !r[1].Less(a); a = a.Next() {
				if !e.leases[a] {
					e.leases[a] = true
					return a, func() {
						e.leaseMu.Lock()
						delete(e.leases, a)
						e.leaseMu.Unlock()
					}, nil
				}
			}
		}
		return netip.Addr{}, nil, fmt.Errorf("pool %s is exhausted", pool)
	}
}

// publishPolicies writes ph2-count, ph2-state, sa addresses and the active flag.
func (e *Engine) publishPolicies() {
	snap := e.d.Snapshot()
	count := map[uint64]int{}
	peerSA := map[string]ike.SAStatus{}
	for _, s := range snap {
		if s.State == "established" {
			peerSA[s.Peer] = s
		}
		for _, c := range s.Children {
			if c.Policy != nil {
				count[c.Policy.ID]++
			}
		}
	}
	its, _, err := e.items(PolicyPath)
	if err != nil {
		return
	}
	health := e.datapathHealth()
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, it := range its {
		st := control.ItemState{Props: map[string]string{}}
		if why, ok := e.invalid[PolicyPath][it.ID]; ok {
			st.Invalid, st.Status = true, why
		}
		if it.Props["template"] != "yes" {
			// Until an SA or a peer says otherwise: what the policy was given (a policy
			// without a peer), else the unspecified address of the policy's family.
			unspec := netip.IPv4Unspecified()
			if src, err := prefix(it.Props["src-address"]); err == nil && src.Addr().Is6() {
				unspec = netip.IPv6Unspecified()
			}
			for _, k := range []string{"sa-src-address", "sa-dst-address"} {
				st.Props[k] = unspec.String()
				if v := it.Props[k]; v != "" {
					st.Props[k] = v
				}
			}
		}
		if pi := e.polCfg[it.ID]; pi != nil && !st.Invalid {
			// What the data path refused shows on the policies it concerns.
			switch {
			case e.dpErr != nil && pi.action == esp.ActionEncrypt:
				st.Invalid, st.Status = true, "not applied: "+e.dpErr.Error()
			case health != nil && pi.action == esp.ActionEncrypt:
				st.Invalid, st.Status = true, "not applied: ESP data path: "+health.Error()
			case e.polErr[it.ID] != "":
				st.Invalid, st.Status = true, "not applied: "+e.polErr[it.ID]
			case e.spdErr != nil:
				st.Invalid, st.Status = true, "not applied: "+e.spdErr.Error()
			case pi.noIdentity != "":
				st.Status = pi.noIdentity
			}
		}
		if pi := e.polCfg[it.ID]; pi != nil && pi.action == esp.ActionEncrypt {
			n := count[it.ID]
			st.Props["ph2-count"] = strconv.Itoa(n)
			st.Props["ph2-state"] = "no-phase2"
			if n > 0 {
				st.Props["ph2-state"] = "established"
				st.Active = true
			}
			if s, ok := peerSA[pi.peer]; ok {
				st.Props["sa-src-address"] = s.Local.Addr().String()
				st.Props["sa-dst-address"] = s.Remote.Addr().String()
			} else if pi.saDst.IsValid() {
				st.Props["sa-dst-address"] = pi.saDst.String()
				// No local address chosen yet: the unspecified one of the policy's family, not ::.
				src := pi.saSrc
				if !src.IsValid() {
					src = netip.IPv4Unspecified()
					if pi.saDst.Is6() {
						src = netip.IPv6Unspecified()
					}
				}
				st.Props["sa-src-address"] = src.String()
			}
		}
		e.ex.State.Set(PolicyPath, it.ID, st)
	}
}

// adapter installs IKE's CHILD_SAs into the ESP data path.
type adapter struct {
	dp      func() esp.Datapath
	changed func()
	tot     *espTotals // the metrics' totals (nil: none)
}

// Adapter installs an IKE daemon's CHILD_SAs into an ESP data path (the engine uses it;
// so does tools/ikeload's responder).
func Adapter(dp esp.Datapath) ike.Datapath {
	return &adapter{dp: func() esp.Datapath { return dp }, changed: func() {}}
}

func encAlg(s *ike.Suite) string {
	switch s.Encr.ID {
	case ike.EncrAESCBC:
		return fmt.Sprintf("aes-%d-cbc", s.KeyBits)
	case ike.EncrAESCTR:
		return fmt.Sprintf("aes-%d-ctr", s.KeyBits)
	case ike.EncrAESGCM16:
		return fmt.Sprintf("aes-%d-gcm", s.KeyBits)
	case ike.EncrChaCha:
		return "chacha20poly1305"
	case ike.EncrDES3:
		return "3des"
	case ike.EncrNull:
		return "null"
	}
	return "" // never installed: the data path would take it for another algorithm
}

func authAlg(s *ike.Suite) string {
	if s.Integ == nil {
		return ""
	}
	return s.Integ.Name
}

func (a *adapter) sas(c *ike.ChildSA) (in, out esp.SA) {
	mode := esp.ModeTransport
	if c.Tunnel {
		mode = esp.ModeTunnel
	}
	lt := esp.Lifetime{SoftTime: c.Soft, HardTime: c.Lifetime}
	if c.Lifebytes > 0 {
		lt.HardBytes, lt.SoftBytes = c.Lifebytes, c.Lifebytes*8/10
	}
	in = esp.SA{SPI: c.InSPI, Dir: esp.DirIn, Src: c.Remote.Addr(), Dst: c.Local.Addr(), Mode: mode,
		EncAlg: encAlg(c.Suite), EncKey: c.InEncKey, AuthAlg: authAlg(c.Suite), AuthKey: c.InIntegKey,
		ReplayWindow: esp.DefaultReplayWindow, ESN: c.Suite.ESN, Lifetime: lt, ReqID: c.ReqID}
	out = esp.SA{SPI: c.OutSPI, Dir: esp.DirOut, Src: c.Local.Addr(), Dst: c.Remote.Addr(), Mode: mode,
		EncAlg: encAlg(c.Suite), EncKey: c.OutEncKey, AuthAlg: authAlg(c.Suite), AuthKey: c.OutIntegKey,
		ReplayWindow: esp.DefaultReplayWindow, ESN: c.Suite.ESN, Lifetime: lt, ReqID: c.ReqID}
	// The data path expires SAs by time itself; IKE rekeys on its own timers, so only
	// the hard limits are handed over (the soft event would start a second rekey).
	in.Lifetime.SoftTime, out.Lifetime.SoftTime = 0, 0
	if c.Encap {
		// Ports in packet direction (esp.Encap).
		in.Encap = &esp.Encap{SrcPort: c.Remote.Port(), DstPort: c.Local.Port()}
		out.Encap = &esp.Encap{SrcPort: c.Local.Port(), DstPort: c.Remote.Port()}
	}
	return in, out
}

func (a *adapter) InstallChild(c *ike.ChildSA) error {
	dp := a.dp()
	in, out := a.sas(c)
	if in.EncAlg == "" {
		return fmt.Errorf("encryption transform %d: %w", c.Suite.Encr.ID, esp.ErrUnknownAlgorithm)
	}
	ctx := context.Background()
	if err := dp.AddSA(ctx, in); err != nil {
		return err
	}
	if err := dp.AddSA(ctx, out); err != nil {
		// The inbound SA goes with the refused outbound one; one left behind is said too.
		if derr := dp.DeleteSA(ctx, esp.Key{SPI: in.SPI, Dst: in.Dst}); derr != nil {
			return errors.Join(err, fmt.Errorf("removing the inbound SA %#x: %w", in.SPI, derr))
		}
		return err
	}
	a.changed()
	return nil
}

// InstallInbound, InstallOutbound and RemoveOutbound make the adapter an
// ike.SplitDatapath: a rekey switches the sending SA without losing packets.
func (a *adapter) InstallInbound(c *ike.ChildSA) error {
	in, _ := a.sas(c)
	if in.EncAlg == "" {
		return fmt.Errorf("encryption transform %d: %w", c.Suite.Encr.ID, esp.ErrUnknownAlgorithm)
	}
	if err := a.dp().AddSA(context.Background(), in); err != nil {
		return err
	}
	a.changed()
	return nil
}

func (a *adapter) InstallOutbound(c *ike.ChildSA) error {
	_, out := a.sas(c)
	if out.EncAlg == "" {
		return fmt.Errorf("encryption transform %d: %w", c.Suite.Encr.ID, esp.ErrUnknownAlgorithm)
	}
	if err := a.dp().AddSA(context.Background(), out); err != nil {
		return err
	}
	a.changed()
	return nil
}

func (a *adapter) RemoveOutbound(c *ike.ChildSA) error {
	k := esp.Key{SPI: c.OutSPI, Dst: c.Remote.Addr()}
	a.tot.retireRead(a.dp(), k, esp.DirOut)
	return removed(a.dp().DeleteSA(context.Background(), k))
}

// removed is a DeleteSA's answer as a removal's: an SA already gone (a half never
// installed, or one its hard lifetime took) is removed, not refused; the daemon tries a
// refused removal again until it succeeds (ike dpretry.go).
func removed(err error) error {
	if errors.Is(err, esp.ErrNoSA) {
		return nil
	}
	return err
}

// ChildCounters reads a CHILD_SA's traffic from the data path (ike.ChildCounters): the
// accounting Stop of eap-radius sessions carries it.
func (a *adapter) ChildCounters(c *ike.ChildSA) (in, out ike.Traffic) {
	dp := a.dp()
	if ct, err := dp.Counters(esp.Key{SPI: c.InSPI, Dst: c.Local.Addr()}); err == nil {
		in = ike.Traffic{Bytes: ct.Bytes, Packets: ct.Packets}
	}
	if ct, err := dp.Counters(esp.Key{SPI: c.OutSPI, Dst: c.Remote.Addr()}); err == nil {
		out = ike.Traffic{Bytes: ct.Bytes, Packets: ct.Packets}
	}
	return in, out
}

func (a *adapter) RemoveChild(c *ike.ChildSA) error {
	dp := a.dp()
	ctx := context.Background()
	in, out := esp.Key{SPI: c.InSPI, Dst: c.Local.Addr()}, esp.Key{SPI: c.OutSPI, Dst: c.Remote.Addr()}
	a.tot.retireRead(dp, in, esp.DirIn)
	a.tot.retireRead(dp, out, esp.DirOut)
	err1 := removed(dp.DeleteSA(ctx, in))
	err2 := removed(dp.DeleteSA(ctx, out))
	return errors.Join(err1, err2)
}

// MoveChild moves both halves of a CHILD_SA to the peer's new endpoint (its NAT
// mapping changed; ike.MovingDatapath): sequence numbers and replay state stay.
func (a *adapter) MoveChild(c *ike.ChildSA, oldRemote netip.AddrPort) error {
	dp := a.dp()
	in, out := a.sas(c)
	ctx := context.Background()
	err1 := dp.MoveSA(ctx, esp.Key{SPI: in.SPI, Dst: in.Dst}, in)
	err2 := dp.MoveSA(ctx, esp.Key{SPI: out.SPI, Dst: oldRemote.Addr()}, out)
	a.changed()
	return errors.Join(err1, err2)
}

func (a *adapter) InputESP(b []byte, src, dst netip.AddrPort) {
	a.dp().InputUDP(b, src, dst)
}

// InputESPBatch (ike.ESPBatchInput): one read of a 4500 socket, written into the ESP
// device together.
func (a *adapter) InputESPBatch(n int, at func(i int) (b []byte, src, dst netip.AddrPort)) {
	a.dp().InputUDPBatch(n, at)
}
