package tunnel

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
	"github.com/routerd/routerd/dataplane"
)

// Menus are the menus this engine applies, with the tunnel kind of each and the prefix
// of its hidden veth ends (prefix + item id: unique per menu, stable across restarts).
var Menus = []struct {
	Path   string
	Kind   dataplane.Kind
	Prefix string
}{
	{menu.GREPath, dataplane.GRE, "rtgre"},
	{menu.EoIPPath, dataplane.EoIP, "rteoip"},
	{menu.IPIPPath, dataplane.IPIP, "rtipip"},
	{menu.SixToFourPath, dataplane.SixToFour, "rt6to4"},
}

// resyncEvery bounds how long a changed route (underlay, source address) goes unnoticed.
const resyncEvery = 5 * time.Second

// Engine applies the tunnel menus.
type Engine struct {
	ex    *control.Executor
	eh    *engine.Handle
	bpffs string
	k     Kernel
	dp    Dataplane
	raw   int // IPPROTO_RAW socket for keepalives
	// pkt is the packet socket protected tunnels' keepalives leave by, through their
	// own encapsulator (ipsec.go, sendKeepalive); -1 when it did not open.
	pkt int
	// reasmRx are the raw sockets reassembled outer packets arrive on, reasmTx the packet
	// socket their frames leave by (reassembly.go); reasm counts what they delivered.
	reasmRx []int
	reasmTx int
	reasm   reasmCounts
	// reasmDrops count reassembled packets dropped before any tunnel, by reason.
	reasmDrops [reasmDropMax]atomic.Uint64
	// espIndex is the userspace ESP path's device, once a protected tunnel found it.
	espIndex atomic.Int32
	force    dataplane.Hook
	// pinned: the eBPF objects are pinned under --bpffs and outlive routerd; unpin
	// releases the private bpf filesystem that holds them otherwise.
	pinned bool
	unpin  func()
	// life is the engine's lifetime (Start's context).
	life context.Context
	// names maps RouterOS interface names to kernel link names (the link engine's).
	names *link.Names

	// mapWrites counts tunnels written to the dataplane's maps, kernelWrites the calls
	// that changed links, sysctls or offloads (a pass with nothing changed makes none).
	mapWrites, kernelWrites atomic.Int64

	// pass serialises a reconcile with the keepalive tick: both walk the live tunnels
	// and the dataplane, as they did when one goroutine ran both.
	pass sync.Mutex

	mu    sync.Mutex
	hosts *hostname.Resolver    // remote-address host names
	live  map[string]*tunnel    // by hidden name
	loops map[string]*loopGuard // EoIP loop protection, by hidden name
	// shown are the configured tunnels by interface name, disabled ones included, for
	// /interface print (ifaceOverlay).
	shown map[string]shownTunnel

	// encapAt and decapAt are the attachments this process made or found (hidden end
	// name -> its ifindex; underlay name -> ifindex and hook): a pass attaches again only
	// when the interface is new or was recreated, so a resync makes no BPF link updates.
	encapAt map[string]int
	decapAt map[string]decapAttachment
	// genMACs are the MAC addresses generated for EoIP items without mac-address, by
	// hidden name, from the pass that makes the link until the item holds the address
	// (the store's write follows the pass): a pass in between (the periodic one) gives
	// the link the same one, not another that would change the address of an interface
	// already up (peers' ARP caches; the kernel keeps the IPv6 link-local address it
	// derived from the first).
	genMACs map[string]genMAC
	// storeMAC writes a generated address into its item (storeGenerated; a plan test
	// holds the write back to run a pass before it).
	storeMAC func(path string, id uint64, name, hidden, mac string)

	// protect are the ipsec engine's inbound policies (Protect).
	protect []ProtectRule
	// secretWhy are the ipsec engine's refusals of ipsec-secrets (SecretStatus).
	secretWhy map[string]string

	// applied are the items the last passes applied without a problem, by hidden name,
	// as they were decoded then (passes only, under pass). A kicked pass
	// (engine.Kicked: a committed change) applies only the items that differ from
	// these and leaves the comparison with the kernel to the first and the periodic
	// passes: adding one tunnel to a thousand then costs one tunnel, not a thousand
	// route lookups and map reads. lastWant are the hidden names the last pass wanted.
	applied  map[string]appliedItem
	lastWant map[string]bool
	// full asks the next pass to compare every tunnel with the kernel (under mu): the
	// ipsec engine's policies changed, which changes tunnels whose items did not.
	full bool
	// pinErr is why the pin folder could not be made again (Repin; under mu): the
	// tunnels print pinned=no meanwhile. repins is the dataplane's Repin count the
	// attachments were last made for.
	pinErr error
	repins uint64
}

// repin makes the dataplane's pins again when they were removed behind routerd's back
// (the folder deleted, another bpffs mounted over it): the attachments pinned there went
// with them, so every tunnel is compared and attached again in this pass.
func (e *Engine) repin() {
	gen, err := e.dp.Repin()
	if err != nil {
		slog.Warn("tunnel: cannot pin the eBPF objects again", "err", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pinErr = err
	if gen != e.repins {
		e.repins = gen
		clear(e.encapAt)
		clear(e.decapAt)
		e.full = true
	}
}

// appliedItem is an item as a pass applied it, and what it depended on beside the item.
type appliedItem struct {
	it       item
	tripped  bool   // EoIP loop protection had the interface down
	underlay string // where its decapsulator runs
	esp      string // the ESP device its decapsulator also runs on ("": none)
}

// genMAC is a generated EoIP MAC address; storing says its write to the item is under way.
type genMAC struct {
	mac     string
	storing bool
}

type decapAttachment struct {
	index int
	hook  dataplane.Hook
}

type shownTunnel struct {
	typ      string // gre-tunnel, eoip-tunnel ...
	disabled bool
}

// tunnel is the runtime state of one applied tunnel.
type tunnel struct {
	path, name, hidden string
	id                 uint64
	kind               dataplane.Kind
	hiddenIdx          int
	visibleIdx         int
	visibleMAC         net.HardwareAddr
	hiddenMAC          net.HardwareAddr
	local, remote      netip.Addr
	tunnelID           uint16
	kaInterval         time.Duration
	kaRetries          int64
	lastSent           time.Time
	lastKaRx           uint64
	sent               bool
	misses             int64
	up                 bool
	noRoute            bool // nothing can be sent: not running, whatever keepalives say
	hook               dataplane.Hook
	underlay           string // where the decapsulator was last attached
	actualMTU          int
	state              control.ItemState // as last reported, refreshed with counters
	// viaEncap: the keepalives go through the tunnel's encapsulator, which routes them
	// in the IPsec table alone like its traffic (an ipsec-secret tunnel on the
	// userspace ESP path), not through the kernel's routing (ipsec.go, sendKeepalive).
	viaEncap bool
}

// New returns the tunnel engine, for an engine host to run; its eBPF objects are pinned
// under bpffs.
func New(bpffs string) *Engine {
	e := &Engine{bpffs: bpffs, live: map[string]*tunnel{}, loops: map[string]*loopGuard{},
		encapAt: map[string]int{}, decapAt: map[string]decapAttachment{}, genMACs: map[string]genMAC{},
		force: dataplane.Hook(os.Getenv("ROUTERD_TUNNEL_HOOK"))}
	e.k = countingKernel{Kernel: netlinkKernel{}, n: &e.kernelWrites}
	e.storeMAC = e.storeGenerated
	return e
}

// Spec declares the tunnel menus; the periodic pass notices changed routes.
func (e *Engine) Spec() engine.Spec {
	// Kicked passes apply only the items that changed (Reconcile): no need to space them.
	s := engine.Spec{Name: "tunnel", Resync: resyncEvery, Unpaced: true}
	for _, m := range Menus {
		s.Menus = append(s.Menus, m.Path)
	}
	return s
}

// Start loads the tunnel programs (reusing pinned maps and links under bpffs), offers
// /interface print its overlay and hider, and starts the keepalive tick. Without eBPF
// support the menus stay unapplied and the error says why.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	pins, err := dataplane.OpenPins(e.bpffs, "tunnel")
	if err != nil {
		return err
	}
	pinned, unpin := pins.Persistent, pins.Close
	dp, err := dataplane.OpenTunnels(pins.Dir)
	if err != nil {
		unpin()
		return err
	}
	raw, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		dp.Close()
		unpin()
		return fmt.Errorf("keepalive socket: %w", err)
	}
	e.ex, e.eh, e.dp, e.raw, e.pinned, e.unpin, e.life = h.Ex, h, dp, raw, pinned, unpin, ctx
	if e.pkt, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
		// Protected tunnels then send no keepalives: never any in the clear.
		slog.Warn("tunnel: no packet socket for the keepalives of IPsec-protected tunnels", "err", err)
		e.pkt = -1
	}
	for _, m := range Menus {
		e.ex.Provide(m.Path, e.refresh(m.Path))
	}
	// A changed DNS configuration (servers, static entries) may change what a
	// remote-address name resolves to.
	e.hosts = hostname.Of(h)
	e.hosts.OnChange(h.Kick)
	e.names, _ = engine.Lookup[*link.Names](h)
	engine.Offer(h, link.Hider(isHidden))
	// The fast path engine drives the same loaded objects (one port program per port).
	engine.Offer(h, dp)
	engine.Offer(h, Protect(e.setProtect))
	engine.Offer(h, SecretStatus(e.setSecretStatus))
	engine.Offer(h, link.Overlay(e.ifaceOverlay))
	if h.Metrics != nil {
		if err := h.Metrics.Register(e); err != nil {
			slog.Warn("tunnel metrics not registered", "err", err)
		}
	}
	h.Go(ctx, e.tick)
	if err := e.startReassembly(ctx, h.Go); err != nil {
		slog.Warn("tunnel: fragmented outer packets will not be reassembled", "err", err)
	}
	return nil
}

// Kick asks for a reconcile soon; it never blocks.
func (e *Engine) Kick() { e.eh.Kick() }

// Close releases the keepalive socket and the loaded objects. Tunnels keep forwarding:
// links, maps and attachments stay for the next routerd.
func (e *Engine) Close() error {
	unix.Close(e.raw)
	if e.pkt > 0 {
		unix.Close(e.pkt)
	}
	e.closeReassembly()
	e.mu.Lock()
	for _, g := range e.loops {
		g.close()
	}
	e.mu.Unlock()
	e.dp.Close()
	e.unpin()
	return nil
}

// tick sends keepalives and runs loop protection every second.
func (e *Engine) tick(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			e.pass.Lock()
			e.keepalive(now)
			e.mu.Lock()
			changed := e.loopProtect(now)
			e.mu.Unlock()
			e.pass.Unlock()
			if changed {
				e.Kick()
			}
		}
	}
}

// tunnelItem is what every tunnel menu's items decode into (engine.Decode).
type tunnelItem struct {
	Name string `prop:"name"`
	// MTU is a number or auto.
	MTU string `prop:"mtu"`
	// Local unset or 0.0.0.0: the source follows the route.
	Local netip.Addr `prop:"local-address"`
	// Remote is an IPv4 address or a DNS name (resolved through /ip dns).
	Remote string `prop:"remote-address"`
	// Keepalive is interval,retries.
	Keepalive    string `prop:"keepalive"`
	DSCP         string `prop:"dscp"` // 0-63 or inherit
	ClampMSS     bool   `prop:"clamp-tcp-mss"`
	DontFragment string `prop:"dont-fragment"`
	Disabled     bool   `prop:"disabled"`
	// IPsecSecret is the ipsec engine's; a tunnel with one takes no fast path (its
	// packets must meet the IPsec policies).
	IPsecSecret string `prop:"ipsec-secret"`
}

// fastItem adds allow-fast-path, which every tunnel menu but 6to4 has: the port program
// may forward the payload in the pass that decapsulates it.
type fastItem struct {
	tunnelItem
	AllowFastPath bool `prop:"allow-fast-path"`
}

// eoipItem adds what only /interface eoip has.
type eoipItem struct {
	fastItem
	MAC                     string        `prop:"mac-address"`
	ARP                     string        `prop:"arp"`
	ARPTimeout              string        `prop:"arp-timeout"`
	LoopProtect             string        `prop:"loop-protect"`
	LoopProtectSendInterval time.Duration `prop:"loop-protect-send-interval"`
	LoopProtectDisableTime  time.Duration `prop:"loop-protect-disable-time"`
	TunnelID                uint16        `prop:"tunnel-id"`
}

// TypedItems names the struct each tunnel menu's items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	out := map[string]any{}
	for _, m := range Menus {
		switch m.Kind {
		case dataplane.EoIP:
			out[m.Path] = eoipItem{}
		case dataplane.SixToFour:
			out[m.Path] = tunnelItem{}
		default:
			out[m.Path] = fastItem{}
		}
	}
	return out
}

// item is one tunnel item, decoded.
type item struct {
	path   string
	kind   dataplane.Kind
	prefix string
	id     uint64
	eoipItem
	// bad says why the item could not be decoded (a store of an older routerd).
	bad string
}

func (it *item) hiddenName() string { return it.prefix + strconv.FormatUint(it.id, 10) }

// decodeItems reads every tunnel menu's items through the schema.
func (e *Engine) decodeItems() ([]item, error) {
	var items []item
	for _, m := range Menus {
		its, err := e.ex.Items(m.Path)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", m.Path, err)
		}
		mm, _ := e.ex.Tree.Get(m.Path)
		for _, si := range its {
			it := item{path: m.Path, kind: m.Kind, prefix: m.Prefix, id: si.ID}
			var err error
			switch m.Kind {
			case dataplane.EoIP:
				err = engine.Decode(mm, si, &it.eoipItem)
			case dataplane.SixToFour:
				err = engine.Decode(mm, si, &it.tunnelItem)
			default:
				err = engine.Decode(mm, si, &it.fastItem)
			}
			if err != nil {
				it.bad = err.Error()
			}
			items = append(items, it)
		}
	}
	return items, nil
}

// keepaliveOf reads interval,retries.
func keepaliveOf(s string) (time.Duration, int64, error) {
	if s == "" {
		return 0, 0, nil
	}
	iv, rs, ok := strings.Cut(s, ",")
	if !ok {
		return 0, 0, fmt.Errorf("keepalive %q is not interval,retries", s)
	}
	d, err := value.ParseDuration(iv)
	if err != nil {
		return 0, 0, fmt.Errorf("keepalive interval %q: %w", iv, err)
	}
	n, err := strconv.ParseInt(rs, 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("keepalive retries %q: %w", rs, err)
	}
	return d, n, nil
}

// rxKey is what a received packet is matched to its tunnel by (the dataplane's
// tunnel_rx key): two tunnels with the same key would be one tunnel on receive.
type rxKey struct {
	kind          dataplane.Kind
	remote, local netip.Addr
	id            uint16
}

func (k rxKey) String() string {
	var b strings.Builder
	if k.remote.IsValid() {
		fmt.Fprintf(&b, "remote-address %s", k.remote)
	} else {
		b.WriteString("no remote-address")
	}
	if k.local.IsValid() {
		fmt.Fprintf(&b, ", local-address %s", k.local)
	}
	if k.kind == dataplane.EoIP {
		fmt.Fprintf(&b, ", tunnel-id %d", k.id)
	}
	return b.String()
}

// passState is what one reconcile collects while it applies the items.
type passState struct {
	// rx: the receive entries taken so far, by the interface name that took them.
	rx map[rxKey]string
	// byName and byIndex are the links as the pass began (one dump instead of half a
	// dozen lookups per tunnel: with 1,000 tunnels those were most of a resync). A
	// tunnel's links are read again only after the pass changed them; nil maps (the
	// dump failed) mean lookups one by one.
	byName  map[string]netlink.Link
	byIndex map[int]netlink.Link
	// esp is the ESP device when a tunnel's decapsulator runs there too (ipsec.go).
	esp string
	// ul are the underlays found so far, by destination.
	ul map[netip.Addr]ulRoute
}

// linkByName is the link of that name as the pass began, else as the kernel has it now.
func (e *Engine) linkByName(ps *passState, name string) (netlink.Link, error) {
	if ps.byName != nil {
		if l, ok := ps.byName[name]; ok {
			return l, nil
		}
		return nil, fmt.Errorf("no link %s", name)
	}
	return e.k.LinkByName(name)
}

func (e *Engine) linkByIndex(ps *passState, index int) (netlink.Link, error) {
	if ps.byIndex != nil {
		if l, ok := ps.byIndex[index]; ok {
			return l, nil
		}
	}
	return e.k.LinkByIndex(index)
}

// Reconcile converges links, maps and attachments to the configuration. It reads what
// the kernel and the maps hold and writes only what differs: with nothing changed it
// makes no netlink, sysctl, ethtool, map or attachment writes.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.pass.Lock()
	defer e.pass.Unlock()
	items, err := e.decodeItems()
	if err != nil {
		return err
	}
	e.repin()
	e.mu.Lock()
	full := !engine.Kicked(ctx) || e.applied == nil || e.full
	e.full = false
	e.mu.Unlock()
	if full {
		e.applied = map[string]appliedItem{}
	}
	shown := map[string]shownTunnel{}
	for _, it := range items {
		shown[it.Name] = shownTunnel{typ: strings.TrimPrefix(it.path, "/interface/") + "-tunnel", disabled: it.Disabled}
	}
	e.mu.Lock()
	e.shown = shown
	e.mu.Unlock()
	want := map[string]bool{}
	underlays := map[string]bool{}
	ps := &passState{rx: map[rxKey]string{}}
	// Which items this pass applies: all of them, or on a kicked pass those that
	// differ from what was applied (a skipped one still takes its receive entry, so a
	// changed item cannot take it from under it).
	// Items sharing a receive entry are all applied, in order, as a full pass would.
	todo := make([]bool, len(items))
	keys := make([]rxKey, len(items))
	static := make([]bool, len(items))
	sharing := map[rxKey]int{}
	for i := range items {
		keys[i], static[i] = items[i].staticRxKey()
		if static[i] && !items[i].Disabled {
			sharing[keys[i]]++
		}
	}
	for i := range items {
		it := &items[i]
		h := it.hiddenName()
		want[h] = true
		a, ok := e.applied[h]
		skip := !full && ok && static[i] && a.it == *it && a.tripped == e.loopTripped(h) &&
			(it.Disabled || sharing[keys[i]] == 1)
		if skip {
			if !it.Disabled {
				ps.rx[keys[i]] = it.Name
			}
			if a.underlay != "" {
				underlays[a.underlay] = true
			}
			if a.esp != "" {
				underlays[a.esp] = true
			}
			continue
		}
		todo[i] = true
		delete(e.applied, h)
	}
	pruneNeeded := full
	for h := range e.lastWant {
		if !want[h] {
			pruneNeeded = true
		}
	}
	e.lastWant = want
	if slices.Contains(todo, true) {
		if links, err := e.k.LinkList(); err == nil {
			ps.byName, ps.byIndex = make(map[string]netlink.Link, len(links)), make(map[int]netlink.Link, len(links))
			for _, l := range links {
				ps.byName[l.Attrs().Name], ps.byIndex[l.Attrs().Index] = l, l
			}
		}
	}
	// Tunnels that may be refused for another's receive entry are made by apply alone.
	pre := make([]bool, len(items))
	for i := range items {
		pre[i] = todo[i] && static[i] && (items[i].Disabled || sharing[keys[i]] == 1)
	}
	e.precreate(ps, items, pre)
	for i := range items {
		if !todo[i] {
			continue
		}
		it := &items[i]
		ps.esp = ""
		st, ul := e.apply(it, ps)
		if ul != "" {
			underlays[ul] = true
		}
		if ps.esp != "" {
			underlays[ps.esp] = true
		}
		e.ex.State.Set(it.path, it.id, st)
		h := it.hiddenName()
		if !st.Invalid && st.Status == "" {
			e.applied[h] = appliedItem{it: *it, tripped: e.loopTripped(h), underlay: ul, esp: ps.esp}
		} else {
			delete(e.applied, h) // not skipped until a pass applies it (a loop protect error may go)
		}
	}
	if !pruneNeeded {
		return e.detachUnused(underlays)
	}
	for h := range e.applied {
		if !want[h] {
			delete(e.applied, h)
		}
	}
	return errors.Join(e.prune(want), e.detachUnused(underlays))
}

// staticRxKey is the receive entry an item takes when its remote-address is an address
// (false: a host name, which only a pass that resolves it knows).
func (it *item) staticRxKey() (rxKey, bool) {
	remote, err := netip.ParseAddr(it.Remote)
	if it.Remote != "" && err != nil {
		return rxKey{}, false
	}
	local := it.Local
	if local.IsValid() && local.IsUnspecified() {
		local = netip.Addr{}
	}
	key := rxKey{kind: it.kind, remote: remote, local: local}
	if it.kind == dataplane.EoIP {
		key.id = it.TunnelID
	}
	return key, true
}

// detachUnused takes the decapsulator off underlays no tunnel uses any more. The
// underlay belongs to no item now, so what the kernel refuses is the pass's error (and
// the underlay, still listed, is tried again by the next pass).
func (e *Engine) detachUnused(underlays map[string]bool) error {
	var errs []error
	for _, ul := range e.dp.DecapLinks() {
		if !underlays[ul] {
			if err := e.dp.DetachDecap(ul); err != nil {
				errs = append(errs, fmt.Errorf("detaching the decapsulator from %s: %w", ul, err))
				continue
			}
			e.mu.Lock()
			delete(e.decapAt, ul)
			e.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

// prune removes the links and map entries of tunnels no longer configured. What it
// cannot remove belongs to no item any more, so the error is the pass's.
func (e *Engine) prune(want map[string]bool) error {
	links, err := e.k.LinkList()
	if err != nil {
		// Without the list, removing map entries would take those of live tunnels.
		return fmt.Errorf("listing links: %w", err)
	}
	var errs []error
	keepIdx := map[int]bool{}
	for _, l := range links {
		n := l.Attrs().Name
		if !isHidden(n) {
			continue
		}
		if want[n] {
			keepIdx[l.Attrs().Index] = true
			continue
		}
		// The pin goes first: once the link is gone, no pass would find the pin again.
		if err := e.dp.DetachEncap(n); err != nil {
			errs = append(errs, fmt.Errorf("detaching the encapsulator from %s: %w", n, err))
			continue
		}
		if err := e.k.LinkDel(l); err != nil { // takes the visible end with it
			errs = append(errs, fmt.Errorf("deleting %s: %w", n, err))
		}
	}
	idx, err := e.dp.Hidden()
	if err != nil {
		errs = append(errs, fmt.Errorf("listing tunnel map: %w", err))
	}
	for _, i := range idx {
		if !keepIdx[i] {
			if err := e.dp.Delete(i); err != nil {
				errs = append(errs, fmt.Errorf("deleting tunnel %d from the map: %w", i, err))
			}
		}
	}
	e.mu.Lock()
	for n := range e.live {
		if !want[n] {
			delete(e.live, n)
		}
	}
	for n := range e.encapAt {
		if !want[n] {
			delete(e.encapAt, n)
		}
	}
	for n, g := range e.loops {
		if !want[n] {
			g.close()
			delete(e.loops, n)
		}
	}
	for n := range e.genMACs {
		if !want[n] {
			delete(e.genMACs, n)
		}
	}
	e.mu.Unlock()
	return errors.Join(errs...)
}

// IsHidden reports whether name is the hidden veth end of a tunnel (the fast path leaves
// it alone).
func IsHidden(name string) bool { return isHidden(name) }

func isHidden(name string) bool {
	for _, m := range Menus {
		if rest, ok := strings.CutPrefix(name, m.Prefix); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return true
		}
	}
	return false
}

func invalid(msg string) control.ItemState { return control.ItemState{Invalid: true, Status: msg} }

// unapplied takes a tunnel out of the kernel because of why; the item stays, invalid, and
// says also what could not be removed.
func (e *Engine) unapplied(hidden, why string) control.ItemState {
	if err := e.remove(hidden); err != nil {
		why += "; " + err.Error()
	}
	return invalid(why)
}

// apply brings one tunnel to its configuration and returns its state and the underlay
// interface its decapsulator runs on.
func (e *Engine) apply(it *item, ps *passState) (control.ItemState, string) {
	hidden := it.hiddenName()
	if it.bad != "" {
		return e.unapplied(hidden, it.bad), ""
	}
	if err := link.CheckName(it.Name); err != nil {
		return e.unapplied(hidden, err.Error()), ""
	}
	if why := e.secretRefused(it.Name); it.IPsecSecret != "" && !it.Disabled && why != "" {
		return e.unapplied(hidden, why), ""
	}
	remote, _ := netip.ParseAddr(it.Remote)
	host := ""
	if it.Remote != "" && !remote.IsValid() {
		host = it.Remote
		a, err := e.resolve(host)
		if err != nil {
			return e.unapplied(hidden, fmt.Sprintf("cannot resolve remote-address %s: %v", host, err)), ""
		}
		remote = a
	}
	local := it.Local
	if local.IsValid() && local.IsUnspecified() {
		local = netip.Addr{}
	}
	configuredLocal := local
	if it.kind != dataplane.SixToFour && !remote.IsValid() {
		return e.unapplied(hidden, "remote-address is required"), ""
	}
	interval, retries, err := keepaliveOf(it.Keepalive)
	if err != nil {
		return e.unapplied(hidden, err.Error()), ""
	}
	dscp := dataplane.DSCPInherit
	if it.DSCP != "" && it.DSCP != "inherit" {
		if dscp, err = strconv.Atoi(it.DSCP); err != nil || dscp < 0 || dscp > 63 {
			return e.unapplied(hidden, fmt.Sprintf("dscp %q is not 0-63 or inherit", it.DSCP)), ""
		}
	}
	// Two enabled tunnels that would take the same receive entry are one tunnel on
	// receive (the second write would take the first's packets): the first in
	// configuration order keeps it.
	key := rxKey{kind: it.kind, remote: remote, local: configuredLocal}
	if it.kind == dataplane.EoIP {
		key.id = it.TunnelID
	}
	if !it.Disabled {
		if other, taken := ps.rx[key]; taken {
			return e.unapplied(hidden, fmt.Sprintf("%s has the same %s: received packets could reach only one of them", other, key)), ""
		}
		ps.rx[key] = it.Name
	}

	// The underlay: where the remote (or, for 6to4 without one, the 6to4 relay anycast
	// address) is routed; its MTU sizes auto mtu.
	target := remote
	if !target.IsValid() {
		target = netip.MustParseAddr("192.88.99.1")
	}
	ulName, ulIdx, ulMTU, src := e.underlay(ps, target)
	if !local.IsValid() {
		local = src
	}
	// Cleartext is refused from the moment the tunnel exists: with an ipsec-secret before
	// its policy is even generated, and where a configured policy covers the endpoints.
	protected := it.IPsecSecret != "" || (local.IsValid() && remote.IsValid() && e.protected(remote, local, outerProto(it.kind)))
	espName, espIdx, espMTU := e.espDevice(ps, protected)
	if espMTU > 0 && (ulMTU == 0 || espMTU < ulMTU) {
		ulMTU = espMTU
	}

	mtu, why := tunnelMTU(it, ulMTU)
	if why != "" {
		return e.unapplied(hidden, why), ""
	}

	vis, hid, err := e.ensureLinks(ps, it, hidden, mtu)
	if err != nil {
		return invalid(err.Error()), ""
	}
	if it.Disabled {
		var errs []error
		if vis.Attrs().Flags&net.FlagUp != 0 {
			if err := e.k.LinkSetDown(vis); err != nil {
				errs = append(errs, fmt.Errorf("setting %s down: %w", it.Name, err))
			}
		}
		if _, err := e.dp.Stats(hid.Attrs().Index); err == nil { // in the maps
			if err := e.dp.Delete(hid.Attrs().Index); err != nil {
				errs = append(errs, fmt.Errorf("dataplane: %w", err))
			}
		}
		e.forget(hidden)
		_, _ = e.setLoopGuard(hidden, nil) // stopping cannot fail
		st := control.ItemState{Props: map[string]string{"actual-mtu": strconv.Itoa(mtu)}}
		if err := errors.Join(errs...); err != nil {
			st.Invalid, st.Status = true, err.Error()
		}
		return st, ""
	}

	tn := dataplane.Tunnel{Kind: it.kind, Local: configuredLocal, Remote: remote, TunnelID: key.id,
		DSCP: dscp, DFInherit: it.DontFragment == "inherit", TTL: 64, ClampMSS: it.ClampMSS,
		MSS4: uint16(mtu - 40), MSS6: uint16(mtu - 60), Hidden: hid.Attrs().Index,
		VisibleMAC: vis.Attrs().HardwareAddr, HiddenMAC: hid.Attrs().HardwareAddr,
		// allow-fast-path; a tunnel with an ipsec-secret must not skip the IPsec policies,
		// and a bridged EoIP tunnel's frames are the bridge's (it learns from them, and its
		// ports' states, VLANs and horizons apply, none of which XDP can see).
		Visible: vis.Attrs().Index, FastPath: it.AllowFastPath && it.IPsecSecret == "" &&
			(it.kind != dataplane.EoIP || vis.Attrs().MasterIndex == 0)}
	if it.IPsecSecret != "" {
		tn.IPsecTable = ipsecTable()
	}
	tn.IPsec = protected
	// Without local-address the source follows the route, per packet
	// (bpf_fib_lookup), and receive matches any local address.
	// Set scans the maps; a pass that finds the tunnel as wanted leaves them alone.
	if !e.dp.Applied(tn) {
		if err := e.dp.Set(tn); err != nil {
			return invalid("dataplane: " + err.Error()), ""
		}
		e.mapWrites.Add(1)
	}
	e.mu.Lock()
	attached := e.encapAt[hidden] == hid.Attrs().Index
	e.mu.Unlock()
	if !attached {
		if err := e.dp.AttachEncap(hid.Attrs().Index, hidden); err != nil {
			return invalid(err.Error()), ""
		}
		e.mu.Lock()
		e.encapAt[hidden] = hid.Attrs().Index
		e.mu.Unlock()
	}
	st := control.ItemState{Props: map[string]string{"actual-mtu": strconv.Itoa(mtu), "pinned": "no"}}
	if host != "" {
		st.Props["actual-remote-address"] = remote.String()
	}
	e.mu.Lock()
	if e.pinned && e.pinErr == nil {
		st.Props["pinned"] = "yes"
	}
	e.mu.Unlock()
	var loopErr error
	if it.kind == dataplane.EoIP {
		st.Props["loop-protect-status"], loopErr = e.setLoopGuard(hidden, loopGuardOf(it, vis))
	}
	var hook dataplane.Hook
	if ulIdx == 0 {
		st.Status = e.noRouteStatus(target)
		// A route that went away for a moment (link down) must not take the
		// decapsulator with it: keep the last underlay attached.
		e.mu.Lock()
		if t := e.live[hidden]; t != nil && t.underlay != "" {
			ulName, hook = t.underlay, t.hook
			st.Props["hook"] = string(hook)
		}
		e.mu.Unlock()
	} else if hook, err = e.attachDecap(ulIdx, ulName); err != nil {
		return invalid(err.Error()), ""
	} else {
		st.Props["hook"] = string(hook)
	}
	if espIdx != 0 {
		e.espIndex.Store(int32(espIdx))
		if _, err := e.attachDecap(espIdx, espName); err != nil {
			return invalid(err.Error()), ""
		}
		ps.esp = espName
	}

	if !remote.IsValid() { // 6to4 without remote-address: no peer to ask
		interval = 0
	}
	e.mu.Lock()
	t := e.live[hidden]
	if t == nil || t.kind != it.kind || t.remote != remote || t.tunnelID != key.id {
		t = &tunnel{}
		e.live[hidden] = t
	}
	if !local.IsValid() {
		// No route to the remote just now: keepalives keep their last source (and go
		// unanswered, which is what the running flag is for).
		local = t.local
	}
	*t = tunnel{path: it.path, name: it.Name, hidden: hidden, id: it.id, kind: it.kind,
		hiddenIdx: hid.Attrs().Index, visibleIdx: vis.Attrs().Index, visibleMAC: vis.Attrs().HardwareAddr,
		hiddenMAC: hid.Attrs().HardwareAddr, viaEncap: tn.IPsecTable != 0,
		local: local, remote: remote, tunnelID: key.id,
		kaInterval: interval, kaRetries: retries, lastSent: t.lastSent, lastKaRx: t.lastKaRx,
		sent: t.sent, misses: t.misses, up: true, noRoute: ulIdx == 0, hook: hook, underlay: ulName, actualMTU: mtu}
	st.Running = t.running() && !e.tripped(hidden)
	if loopErr != nil {
		st.Invalid, st.Status = true, loopErr.Error()
	}
	e.fillStats(&st, hid.Attrs().Index)
	t.state = st
	e.mu.Unlock()
	return st, ulName
}

// tunnelMTU is the MTU of a tunnel's links over an underlay of MTU ulMTU (0: unknown),
// or why there is none.
func tunnelMTU(it *item, ulMTU int) (int, string) {
	mtu := 0
	if it.MTU != "" && it.MTU != "auto" {
		var err error
		if mtu, err = strconv.Atoi(it.MTU); err != nil {
			return 0, fmt.Sprintf("mtu %q is not a number or auto", it.MTU)
		}
	}
	if mtu == 0 {
		base := ulMTU
		if base == 0 {
			base = 1500
		}
		mtu = base - it.kind.Overhead()
	}
	// A set mtu is the tunnel's, as in RouterOS: an outer packet it makes too big for the
	// underlay is fragmented (dont-fragment=no, or an inner packet without DF) or dropped
	// as frag-needed (bpf/tunnel.c encap_too_big), and the far end reassembles it
	// (reassembly.go); EoIP with mtu 1500 so carries full frames over a 1500-byte
	// underlay. IPIP alone keeps to the underlay: its default of 1500 becomes 1480 on a
	// 1500 underlay, as the manual's IPIP example prints.
	if it.kind == dataplane.IPIP && ulMTU > 0 && mtu > ulMTU-it.kind.Overhead() {
		mtu = ulMTU - it.kind.Overhead()
	}
	if mtu < 68 {
		return 0, fmt.Sprintf("mtu %d is below the IPv4 minimum of 68", mtu)
	}
	return mtu, ""
}

// visibleAttrs are the visible end's attributes for the RTM_NEWLINK that makes a
// tunnel's pair: made up already (one request fewer per tunnel) unless the tunnel is
// disabled or loop protect holds it down; its carrier follows the hidden end, which
// ensureLinks sets up. An EoIP interface is made with its MAC address: set after the
// link appeared, whatever read the link in between (a netlink reader, `ip link`) had
// the kernel's random address (the CI failure of test/fastpath TestDecapForwardRig,
// which read eoip1's address as soon as the link was there: its frames to that
// address were dropped).
func (e *Engine) visibleAttrs(it *item, kname, hidden string, mtu int) netlink.LinkAttrs {
	la := netlink.LinkAttrs{Name: kname, MTU: mtu}
	if hw := e.eoipMAC(it); validUnicast(hw) {
		// One the kernel would refuse is set by ensureLinks, which says why it fails.
		la.HardwareAddr = hw
	}
	if !it.Disabled && !e.loopTripped(hidden) {
		la.Flags = net.FlagUp
	}
	return la
}

// precreate adds the veth pairs of the new tunnels among the items a pass applies, all
// of them before any is configured and set up, then reads the links again: `ip -batch`
// makes a thousand pairs about three times faster so than pair by pair with each set up
// in between (docs/perf.md). What cannot be made here (a name
// taken, a remote-address that is a host name, an item apply refuses) is left to
// apply, which makes it or says why not.
func (e *Engine) precreate(ps *passState, items []item, pre []bool) {
	if ps.byName == nil {
		return
	}
	made := 0
	for i := range items {
		it := &items[i]
		if !pre[i] || it.bad != "" || link.CheckName(it.Name) != nil {
			continue
		}
		if _, _, err := keepaliveOf(it.Keepalive); err != nil {
			continue
		}
		if d, err := strconv.Atoi(it.DSCP); it.DSCP != "" && it.DSCP != "inherit" && (err != nil || d < 0 || d > 63) {
			continue
		}
		hidden, kname := it.hiddenName(), e.names.Kernel(it.Name)
		if ps.byName[hidden] != nil || ps.byName[kname] != nil {
			continue
		}
		target, err := netip.ParseAddr(it.Remote)
		if err != nil {
			if it.kind != dataplane.SixToFour || it.Remote != "" {
				continue
			}
			target = netip.MustParseAddr("192.88.99.1")
		}
		_, _, ulMTU, _ := e.underlay(ps, target)
		mtu, why := tunnelMTU(it, ulMTU)
		if why != "" {
			continue
		}
		if e.k.LinkAdd(&netlink.Veth{LinkAttrs: e.visibleAttrs(it, kname, hidden, mtu), PeerName: hidden}) == nil {
			made++
		}
	}
	if made == 0 {
		return
	}
	links, err := e.k.LinkList()
	if err != nil {
		ps.byName, ps.byIndex = nil, nil // look up one by one
		return
	}
	ps.byName, ps.byIndex = make(map[string]netlink.Link, len(links)), make(map[int]netlink.Link, len(links))
	for _, l := range links {
		ps.byName[l.Attrs().Name], ps.byIndex[l.Attrs().Index] = l, l
	}
}

// attachDecap runs the decapsulator on an underlay unless this process already did on
// that interface.
func (e *Engine) attachDecap(idx int, name string) (dataplane.Hook, error) {
	e.mu.Lock()
	at, ok := e.decapAt[name]
	e.mu.Unlock()
	if ok && at.index == idx {
		return at.hook, nil
	}
	hook, err := e.dp.AttachDecap(idx, name, e.force)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	e.decapAt[name] = decapAttachment{index: idx, hook: hook}
	e.mu.Unlock()
	return hook, nil
}

func (t *tunnel) running() bool {
	return t.up && !t.noRoute && (t.kaInterval == 0 || t.kaRetries == 0 || t.misses < t.kaRetries)
}

func (e *Engine) forget(hidden string) {
	e.mu.Lock()
	delete(e.live, hidden)
	e.mu.Unlock()
}

// remove takes a tunnel out of the kernel (its item stays, invalid).
func (e *Engine) remove(hidden string) error {
	e.forget(hidden)
	_, _ = e.setLoopGuard(hidden, nil) // stopping cannot fail
	e.mu.Lock()
	delete(e.encapAt, hidden)
	e.mu.Unlock()
	l, err := e.k.LinkByName(hidden)
	if err != nil {
		return nil // not there: nothing to remove
	}
	var errs []error
	if _, err := e.dp.Stats(l.Attrs().Index); err == nil {
		if err := e.dp.Delete(l.Attrs().Index); err != nil {
			errs = append(errs, fmt.Errorf("dataplane: %w", err))
		}
	}
	if err := e.dp.DetachEncap(hidden); err != nil {
		errs = append(errs, fmt.Errorf("detaching the encapsulator from %s: %w", hidden, err))
	}
	e.reasm.forget(l.Attrs().Index)
	if err := e.k.LinkDel(l); err != nil {
		errs = append(errs, fmt.Errorf("deleting %s: %w", hidden, err))
	}
	return errors.Join(errs...)
}

// underlay finds the interface, its MTU and the source address of the route to dst
// (once per pass and destination).
func (e *Engine) underlay(ps *passState, dst netip.Addr) (name string, index, mtu int, src netip.Addr) {
	if u, ok := ps.ul[dst]; ok {
		return u.name, u.index, u.mtu, u.src
	}
	name, index, mtu, src = e.lookupUnderlay(ps, dst)
	if ps.ul == nil {
		ps.ul = map[netip.Addr]ulRoute{}
	}
	ps.ul[dst] = ulRoute{name, index, mtu, src}
	return name, index, mtu, src
}

// ulRoute is what underlay found for a destination.
type ulRoute struct {
	name       string
	index, mtu int
	src        netip.Addr
}

// noRouteStatus says why a tunnel has no underlay: its remote is this router's own
// address (a route of the local table), or no route leads there.
func (e *Engine) noRouteStatus(target netip.Addr) string {
	if rs, err := e.k.RouteGet(net.IP(target.AsSlice())); err == nil && len(rs) > 0 && rs[0].Type == unix.RTN_LOCAL {
		return fmt.Sprintf("remote-address %s is an address of this router", target)
	}
	return fmt.Sprintf("no route to %s", target)
}

func (e *Engine) lookupUnderlay(ps *passState, dst netip.Addr) (name string, index, mtu int, src netip.Addr) {
	rs, err := e.k.RouteGet(net.IP(dst.AsSlice()))
	if err != nil || len(rs) == 0 || rs[0].LinkIndex == 0 {
		return "", 0, 0, netip.Addr{}
	}
	l, err := e.linkByIndex(ps, rs[0].LinkIndex)
	if err != nil || l.Attrs().Flags&net.FlagLoopback != 0 || isHidden(l.Attrs().Name) {
		return "", 0, 0, netip.Addr{}
	}
	if a, ok := netip.AddrFromSlice(rs[0].Src); ok {
		src = a.Unmap()
	}
	return l.Attrs().Name, l.Attrs().Index, l.Attrs().MTU, src
}

// ensureLinks creates or updates the veth pair of a tunnel, changing only what is not
// as wanted. What it changes it also changes in the links it returns, instead of reading
// them back (two requests per new tunnel that were a quarter of the engine's time while
// a thousand tunnels were made); a rename is read back.
func (e *Engine) ensureLinks(ps *passState, it *item, hidden string, mtu int) (vis, hid netlink.Link, err error) {
	hid, err = e.linkByName(ps, hidden)
	if err == nil {
		veth, ok := hid.(*netlink.Veth)
		var perr error = errors.New("not a veth")
		if ok {
			// A veth's IFLA_LINK is its peer (in the same namespace); ask ethtool only
			// when the dump did not say.
			peer := veth.ParentIndex
			if peer == 0 {
				peer, perr = e.k.VethPeerIndex(veth)
			} else {
				perr = nil
			}
			if perr == nil {
				vis, perr = e.linkByIndex(ps, peer)
			}
		}
		if perr != nil {
			if err := e.k.LinkDel(hid); err != nil {
				return nil, nil, fmt.Errorf("deleting broken %s: %w", hidden, err)
			}
			hid = nil
		}
	} else {
		hid = nil
	}
	// The visible end's kernel name is the RouterOS name, or one derived from it when it
	// is too long for a link name (then the RouterOS name is its alternative name).
	kname := e.names.Kernel(it.Name)
	if hid == nil {
		if _, err := e.k.LinkByName(kname); err == nil { // now: the dump may predate a delete
			return nil, nil, fmt.Errorf("interface %s already exists and is not this tunnel's", it.Name)
		}
		if err := e.k.LinkAdd(&netlink.Veth{LinkAttrs: e.visibleAttrs(it, kname, hidden, mtu), PeerName: hidden}); err != nil {
			return nil, nil, fmt.Errorf("creating %s: %w", it.Name, err)
		}
		if hid, err = e.k.LinkByName(hidden); err != nil {
			return nil, nil, err
		}
		if vis, err = e.k.LinkByName(kname); err != nil {
			return nil, nil, err
		}
	}
	if vis.Attrs().Name != kname {
		// Renamed: the kernel renames only links that are down.
		if _, err := e.k.LinkByName(kname); err == nil {
			return nil, nil, fmt.Errorf("interface %s already exists and is not this tunnel's", it.Name)
		}
		if err := e.k.LinkSetDown(vis); err != nil {
			return nil, nil, fmt.Errorf("setting %s down to rename it: %w", vis.Attrs().Name, err)
		}
		if err := e.k.LinkSetName(vis, kname); err != nil {
			return nil, nil, fmt.Errorf("renaming %s to %s: %w", vis.Attrs().Name, it.Name, err)
		}
		for _, alt := range vis.Attrs().AltNames {
			if alt != it.Name && link.KernelName(alt) == vis.Attrs().Name {
				// The old RouterOS name: left, it would keep the name from a new tunnel.
				if err := e.k.LinkDelAltName(vis, alt); err != nil && !errors.Is(err, unix.ENOENT) {
					return nil, nil, fmt.Errorf("removing the old name %s of %s: %w", alt, kname, err)
				}
			}
		}
		if vis, err = e.k.LinkByIndex(vis.Attrs().Index); err != nil {
			return nil, nil, err
		}
	}
	if kname != it.Name && link.AltNameOK(it.Name) && !slices.Contains(vis.Attrs().AltNames, it.Name) {
		if err := e.k.LinkAddAltName(vis, it.Name); err != nil {
			return nil, nil, fmt.Errorf("cannot set alternative name %s on %s: %w", it.Name, kname, err)
		}
		vis.Attrs().AltNames = append(vis.Attrs().AltNames, it.Name)
	}
	// The hidden end sees only this tunnel's packets: no IPv6 autoconfiguration
	// chatter on it, and forwarding on so that bpf_fib_lookup answers from it.
	if err := e.setSysctl("net/ipv6/conf/"+hidden+"/disable_ipv6", "1"); err != nil {
		return nil, nil, err
	}
	if err := e.setSysctl("net/ipv4/conf/"+hidden+"/forwarding", "1"); err != nil {
		return nil, nil, err
	}
	// An outer packet too big for the underlay comes back in on the hidden end for the
	// stack to forward and fragment (encap_too_big): its source is one of this host's
	// addresses, which the stack takes from that interface only with accept_local, and
	// without a reverse-path check of its own there.
	if err := e.setSysctl("net/ipv4/conf/"+hidden+"/accept_local", "1"); err != nil {
		return nil, nil, err
	}
	if err := e.setSysctl("net/ipv4/conf/"+hidden+"/rp_filter", "0"); err != nil {
		return nil, nil, err
	}
	for _, l := range []netlink.Link{vis, hid} {
		if l.Attrs().MTU != mtu {
			if err := e.k.LinkSetMTU(l, mtu); err != nil {
				return nil, nil, fmt.Errorf("mtu %d on %s: %w", mtu, l.Attrs().Name, err)
			}
			l.Attrs().MTU = mtu
		}
	}
	if it.kind == dataplane.EoIP {
		if hw := e.eoipMAC(it); hw != nil && vis.Attrs().HardwareAddr.String() != hw.String() {
			if err := e.k.LinkSetHardwareAddr(vis, hw); err != nil {
				return nil, nil, fmt.Errorf("mac-address on %s: %w", it.Name, err)
			}
			vis.Attrs().HardwareAddr = hw
		}
		if err := e.applyARP(kname, vis, it.ARP, it.ARPTimeout); err != nil {
			return nil, nil, err
		}
		// The EoIP header carries the payload length: every frame must fit one packet,
		// so the visible end segments before handing frames over.
		if err := e.setOffload(kname, ethtoolGTSO, ethtoolSTSO, false); err != nil {
			return nil, nil, err
		}
		if err := e.setOffload(kname, ethtoolGGSO, ethtoolSGSO, false); err != nil {
			return nil, nil, err
		}
	} else if err := e.setARP(vis, false); err != nil {
		// Point-to-point L3: nothing answers ARP or ND behind the visible end.
		return nil, nil, err
	}
	// XDP_REDIRECT into the hidden end delivers on the visible end only when that end
	// runs NAPI, which GRO turns on; GRO also rebuilds large TCP segments there.
	if err := e.setOffload(kname, ethtoolGGRO, ethtoolSGRO, true); err != nil {
		return nil, nil, fmt.Errorf("enabling GRO (decapsulated packets would be dropped): %w", err)
	}
	tripped := e.loopTripped(hidden)
	for _, l := range []netlink.Link{hid, vis} {
		if (it.Disabled || tripped) && l == vis || l.Attrs().Flags&net.FlagUp != 0 {
			continue
		}
		if err := e.k.LinkSetUp(l); err != nil {
			return nil, nil, fmt.Errorf("setting %s up: %w", l.Attrs().Name, err)
		}
		l.Attrs().Flags |= net.FlagUp
		l.Attrs().RawFlags |= unix.IFF_UP
	}
	return vis, hid, nil
}

// setARP turns ARP on or off on a link unless it already is.
func (e *Engine) setARP(l netlink.Link, on bool) error {
	if (l.Attrs().RawFlags&unix.IFF_NOARP == 0) == on {
		return nil
	}
	if err := e.k.LinkSetARP(l, on); err != nil {
		return fmt.Errorf("arp on %s: %w", l.Attrs().Name, err)
	}
	if on {
		l.Attrs().RawFlags &^= unix.IFF_NOARP
	} else {
		l.Attrs().RawFlags |= unix.IFF_NOARP
	}
	return nil
}

// applyARP sets an EoIP interface's ARP mode and timeout as the link engine does for
// ports, bridges and VLANs (link.ARPSysctls says what each mode means).
func (e *Engine) applyARP(ifname string, vis netlink.Link, mode, timeout string) error {
	if err := e.setARP(vis, link.ARPOn(mode)); err != nil {
		return err
	}
	for _, s := range link.ARPSysctls(ifname, mode, timeout) {
		if err := e.setSysctl(s[0], s[1]); err != nil {
			return err
		}
	}
	return nil
}

// eoipMAC is the MAC address of an EoIP tunnel's interface: its mac-address, or the one
// generated for it (generateMAC); nil for other kinds and an address that does not parse.
func (e *Engine) eoipMAC(it *item) net.HardwareAddr {
	if it.kind != dataplane.EoIP {
		return nil
	}
	mac := it.MAC
	if mac == "" {
		mac = e.generateMAC(it)
	} else {
		e.mu.Lock()
		delete(e.genMACs, it.hiddenName()) // the item holds it now
		e.mu.Unlock()
	}
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return nil
	}
	return hw
}

// validUnicast reports whether the kernel takes hw as an Ethernet interface's address
// (is_valid_ether_addr: neither multicast nor all zeros).
func validUnicast(hw net.HardwareAddr) bool {
	return len(hw) == 6 && hw[0]&1 == 0 && !slices.Equal(hw, make(net.HardwareAddr, 6))
}

// generateMAC makes a random locally administered address for an EoIP tunnel without
// one and stores it in the item, so that it stays across restarts and in exports. Until
// the item holds it, every pass gets the same address (genMACs); a write that failed is
// asked for again by the next pass.
func (e *Engine) generateMAC(it *item) string {
	h := it.hiddenName()
	e.mu.Lock()
	g, ok := e.genMACs[h]
	if !ok {
		b := make([]byte, 6)
		rand.Read(b)
		b[0] = 0xFE // locally administered, unicast: RouterOS's auto EoIP addresses look so
		g.mac = strings.ToUpper(net.HardwareAddr(b).String())
	}
	ask := !g.storing
	g.storing = true
	e.genMACs[h] = g
	e.mu.Unlock()
	if ask {
		e.storeMAC(it.path, it.id, it.Name, h, g.mac)
	}
	return g.mac
}

// storeGenerated writes a generated mac-address into its item (hidden is the tunnel's
// hidden name), through the executor on a goroutine of its own: the change notifies
// watchers, and the pass that asks must not wait for its own kick.
func (e *Engine) storeGenerated(path string, id uint64, name, hidden, mac string) {
	e.eh.Go(e.life, func(context.Context) {
		_, err := e.ex.Exec(context.Background(), nil, &control.Sentence{Path: path, Cmd: "set",
			Args: []control.Arg{{Name: ".id", Value: control.FormatID(id)}, {Name: "mac-address", Value: mac}}})
		if err == nil || errors.Is(err, store.ErrNotFound) {
			return // stored, or the item went (prune forgets the address)
		}
		slog.Warn("tunnel: storing generated mac-address", "name", name, "err", err)
		e.mu.Lock()
		if g, ok := e.genMACs[hidden]; ok && g.mac == mac {
			g.storing = false
			e.genMACs[hidden] = g
		}
		e.mu.Unlock()
	})
}

// keepalive sends due keepalives and updates the running flags.
func (e *Engine) keepalive(now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			slog.Error("tunnel engine: keepalive panicked", "panic", r)
		}
	}()
	var changed []*tunnel
	for _, t := range e.live {
		if t.kaInterval <= 0 || now.Sub(t.lastSent) < t.kaInterval {
			continue
		}
		st, err := e.dp.Stats(t.hiddenIdx)
		if err != nil {
			continue
		}
		was := t.running()
		if t.sent {
			if st.KeepaliveRx != t.lastKaRx {
				t.misses = 0
			} else {
				t.misses++
			}
		}
		t.lastKaRx = st.KeepaliveRx
		if !t.local.IsValid() || !t.remote.Is4() {
			// Nothing to send from; the miss still counts.
		} else if pkt := keepalivePacket(t.kind, t.local, t.remote, t.tunnelID); pkt != nil {
			if err := e.sendKeepalive(t, pkt); err != nil {
				slog.Debug("tunnel: keepalive", "name", t.name, "err", err)
			}
		}
		t.sent = true
		t.lastSent = now
		if was != t.running() {
			changed = append(changed, t)
		}
	}
	// The running flag as print shows it, where it changed. Counters are read when
	// they are shown (refresh, the /interface overlay, metrics): publishing every tunnel
	// every second cost two map lookups per tunnel per second with nobody looking.
	for _, t := range changed {
		e.publish(t)
	}
	if len(changed) > 0 {
		e.Kick()
	}
}

// publish reports a tunnel's state with fresh counters and running flag; e.mu is held.
func (e *Engine) publish(t *tunnel) {
	if t.state.Props == nil {
		return
	}
	st := t.state
	st.Props = make(map[string]string, len(t.state.Props))
	for k, v := range t.state.Props {
		st.Props[k] = v
	}
	st.Running = t.running() && !e.tripped(t.hidden)
	if g := e.loops[t.hidden]; g != nil {
		st.Props["loop-protect-status"] = g.status()
	}
	e.fillStats(&st, t.hiddenIdx)
	t.state = st
	e.ex.State.Set(t.path, t.id, st)
}

// refresh is the source of a tunnel menu: it adds no rows, and brings the counters of
// the menu's tunnels up to date just before print reads them.
func (e *Engine) refresh(path string) control.Source {
	return func(context.Context, *control.Session) ([]control.Row, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, t := range e.live {
			if t.path == path {
				e.publish(t)
			}
		}
		return nil, nil
	}
}

func (e *Engine) fillStats(st *control.ItemState, hidden int) {
	s, err := e.stats(hidden)
	if err != nil {
		return
	}
	for k, v := range counterProps(s) {
		st.Props[k] = v
	}
}

// counterProps names a tunnel's counters as the tunnel menus' stats columns do: rx is
// what was decapsulated onto the tunnel interface, tx what was encapsulated from it; each
// drop reason of the dataplane is <reason>-drop, and rx-drop and tx-drop sum them by
// direction (malformed packets are a receive drop, the rest are met on the way out;
// payloads a tunnel does not carry are counted for both directions together).
func counterProps(s dataplane.Stats) map[string]string {
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	p := map[string]string{"rx-packet": u(s.RxPackets), "rx-byte": u(s.RxBytes),
		"tx-packet": u(s.TxPackets), "tx-byte": u(s.TxBytes), "tx-fragmented": u(s.TxFragmented),
		"rx-reassembled": u(s.RxReassembled)}
	var rxDrop, txDrop uint64
	for i, reason := range dataplane.DropReasons {
		if i >= len(s.Drops) {
			break
		}
		d := s.Drops[i]
		p[reason+"-drop"] = u(d)
		if reason == "malformed" || reason == "cleartext" {
			rxDrop += d
		} else {
			txDrop += d
		}
	}
	p["rx-drop"], p["tx-drop"] = u(rxDrop), u(txDrop)
	return p
}
