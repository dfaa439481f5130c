package ipcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/control/store"
)

// ErrNotSupported is returned by Start when netlink cannot be used.
var ErrNotSupported = errors.New("ipcfg: netlink not available")

// dynBase offsets the ids of dynamic rows (kernel state routerd did not install) past the
// store's ids.
const dynBase = 0x2000000

// Engine converges addresses and routes to the configuration.
type Engine struct {
	ex *control.Executor
	h  Kernel // the real kernel (NewKernel) unless a test set a fake

	// Pools hands out addresses of /ip pool to other subsystems.
	Pools *Pools

	names *link.Names // RouterOS interface names <-> kernel link names (the link engine's)

	mu     sync.Mutex
	dynIDs map[string]uint64 // stable ids of dynamic rows, by key, for the process' life

	// addrs caches the kernel's addresses per family for the checks of add and set, so an
	// import of thousands of routes does not dump them once per line; address events
	// clear it.
	addrMu sync.Mutex
	addrs  map[int][]kaddr

	// events decides which link events need a pass.
	events linkEvents

	// gw runs the routes' check-gateway.
	gw *gwChecker

	// retry asks the host for another pass soon (engine.Handle.Retry): the engine has
	// no periodic pass, and no kernel event may come when a refusal would be accepted.
	retry func()

	// hide reports links another engine hides from /interface (tunnels' hidden ends,
	// shaping IFBs): their addresses are not rows either.
	hide func(name string) bool

	// done is, per family (4, 6), what the last pass made of each address item, by id
	// (passes only); nil until a full pass of the family succeeded, which a kicked pass
	// then needs.
	done map[int]map[uint64]addrRec
	// own are the addresses routerd installed, so their kernel events need no full
	// pass; addrFull says an event did (addrEvent).
	ownMu    sync.Mutex
	own      map[addrKey]bool
	addrFull atomic.Bool
	// noRoutes is, per family, whether the last route pass found no route item and no
	// route of routerd's in the kernel: a kicked pass then skips the route dump (an
	// address import onto a router without static routes dumped the kernel's 10,000
	// local and connected routes per commit).
	noRoutes map[int]bool
}

// localAddrs returns the kernel's addresses of a family, from the cache when it is fresh.
func (e *Engine) localAddrs(fam int) ([]kaddr, error) {
	e.addrMu.Lock()
	defer e.addrMu.Unlock()
	if a, ok := e.addrs[fam]; ok {
		return a, nil
	}
	a, err := e.h.AddrList(fam)
	if err != nil {
		return nil, err
	}
	if e.addrs == nil {
		e.addrs = map[int][]kaddr{}
	}
	e.addrs[fam] = a
	return a, nil
}

func (e *Engine) forgetAddrs() {
	e.addrMu.Lock()
	e.addrs = nil
	e.addrMu.Unlock()
}

// Menus this engine applies.
const (
	Addr4Path    = menu.Address4Path
	Addr6Path    = menu.Address6Path
	Route4Path   = menu.Route4Path
	Route6Path   = menu.Route6Path
	PoolPath     = menu.PoolPath
	poolUsedPath = menu.PoolUsedPath
	dnsPath      = dns.SettingsPath
)

// New returns the engine of addresses, routes, pools and /ip dns, for an engine host to
// run.
func New() *Engine {
	return &Engine{dynIDs: map[string]uint64{}, gw: newGwChecker(),
		done: map[int]map[uint64]addrRec{}, own: map[addrKey]bool{}, noRoutes: map[int]bool{}}
}

// Spec declares the menus the engine applies. Addresses follow /interface (a link
// renamed or created), routes /routing/table; kernel link, address and route events kick
// it, so it needs no periodic pass: a pass the kernel refused something in asks for a
// retry instead (refused).
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "ipcfg",
		Menus:  []string{Addr4Path, Addr6Path, Route4Path, Route6Path, PoolPath, poolUsedPath, dnsPath},
		Watch:  []string{link.IfacePath, routing.TablePath},
		Resync: engine.Never}
}

// Start registers the IP menus' sources and commands, offers the pools (*Pools) to the
// engines after it, and follows kernel links, addresses and routes until ctx ends.
func (e *Engine) Start(ctx context.Context, eh *engine.Handle) error {
	h, err := NewKernel()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	ex := eh.Ex
	e.ex, e.h = ex, h
	e.names, _ = engine.Lookup[*link.Names](eh)
	e.hide = func(name string) bool { return hidden(eh, name) }
	e.retry = eh.Retry
	e.Pools = newPools(ex)
	engine.Offer(eh, e.Pools)
	ex.Provide(Addr4Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.addrRows(4) })
	ex.Provide(Addr6Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.addrRows(6) })
	ex.Provide(Route4Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.routeRows(4) })
	ex.Provide(Route6Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.routeRows(6) })
	ex.Provide(poolUsedPath, e.Pools.usedRows)
	e.registerChecks()
	registerPing(ex, e.names, hostname.Of(eh))

	subs, err := e.subscribe(ctx, eh)
	if err != nil {
		h.Close()
		return err
	}
	eh.Go(ctx, func(ctx context.Context) { e.gw.run(ctx, eh.Go, eh.Kick) })
	eh.Go(ctx, func(ctx context.Context) {
		e.keepFollowing(ctx, eh, subs, func() (subscriptions, error) { return e.subscribe(ctx, eh) })
	})
	return nil
}

// keepFollowing follows the events of subs until ctx ends, and those of new ones
// (subscribe) when the library ends a subscription: it does so when a socket overflowed
// (ENOBUFS: an import of thousands of addresses sends events faster than they are read),
// by closing its channel. What was missed is unknown, so the next pass is a full one;
// and again once the new sockets are there: a change between the first full pass and
// the new subscription sends no event that is read (routerd's address deleted then
// would stay deleted, as kicked passes do not look at the kernel's addresses).
func (e *Engine) keepFollowing(ctx context.Context, eh *engine.Handle, subs subscriptions, subscribe func() (subscriptions, error)) {
	for {
		lost := e.follow(ctx, eh, subs)
		if ctx.Err() != nil {
			return
		}
		slog.Warn("ipcfg: netlink subscription ended; subscribing again", "subscription", lost)
		subs.cancel()
		e.addrFull.Store(true)
		eh.Kick()
		for {
			var err error
			if subs, err = subscribe(); err == nil {
				break
			}
			slog.Warn("ipcfg: netlink subscription", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		e.addrFull.Store(true)
		eh.Kick()
	}
}

// eventBuffer is the receive buffer of the event sockets: the kernel's default
// (about 200 KB) overflows within a second of a 10,000-address import.
const eventBuffer = 4 << 20

// subscriptions are the link, address and route event channels of one set of sockets,
// which cancel closes.
type subscriptions struct {
	lu     chan netlink.LinkUpdate
	au     chan netlink.AddrUpdate
	ru     chan netlink.RouteUpdate
	cancel func()
}

// subscribe opens the event sockets, closed when ctx ends or the returned cancel is
// called. Their receive buffers are forced to eventBuffer where routerd may (it runs
// with CAP_NET_ADMIN); elsewhere they keep the system's size.
func (e *Engine) subscribe(ctx context.Context, eh *engine.Handle) (subscriptions, error) {
	s, err := e.subscribeBuf(ctx, eh, eventBuffer)
	if err != nil {
		s, err = e.subscribeBuf(ctx, eh, 0)
	}
	return s, err
}

func (e *Engine) subscribeBuf(ctx context.Context, eh *engine.Handle, buf int) (subscriptions, error) {
	sctx, cancel := context.WithCancel(ctx)
	s := subscriptions{lu: make(chan netlink.LinkUpdate, 256), au: make(chan netlink.AddrUpdate, 1024),
		ru: make(chan netlink.RouteUpdate, 1024), cancel: cancel}
	onErr := func(err error) {
		if sctx.Err() != nil {
			return // closing the sockets at shutdown is no error
		}
		slog.Warn("ipcfg: netlink subscription", "err", err)
		eh.Kick()
	}
	force := buf > 0
	if err := netlink.LinkSubscribeWithOptions(s.lu, sctx.Done(), netlink.LinkSubscribeOptions{ErrorCallback: onErr,
		ReceiveBufferSize: buf, ReceiveBufferForceSize: force}); err != nil {
		cancel()
		return s, fmt.Errorf("ipcfg: subscribe links: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(s.au, sctx.Done(), netlink.AddrSubscribeOptions{ErrorCallback: onErr,
		ReceiveBufferSize: buf, ReceiveBufferForceSize: force}); err != nil {
		cancel()
		return s, fmt.Errorf("ipcfg: subscribe addresses: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(s.ru, sctx.Done(), netlink.RouteSubscribeOptions{ErrorCallback: onErr,
		ReceiveBufferSize: buf, ReceiveBufferForceSize: force}); err != nil {
		cancel()
		return s, fmt.Errorf("ipcfg: subscribe routes: %w", err)
	}
	return s, nil
}

// follow kicks passes on the events that need one, until ctx ends or a subscription
// ends (its name is returned): a closed channel would otherwise answer at once,
// forever, with an empty event.
func (e *Engine) follow(ctx context.Context, eh *engine.Handle, s subscriptions) string {
	for {
		select {
		case <-ctx.Done():
			return ""
		case u, ok := <-s.lu:
			if !ok {
				return "links"
			}
			a := u.Link.Attrs()
			ros := a.Name
			if e.names != nil {
				ros = e.names.Of(a)
			}
			// A tunnel's hidden end carries no addresses or routes of ours; other
			// links matter when an item names them.
			if !hidden(eh, a.Name) && e.events.needsPass(a, ros) {
				eh.Kick()
			}
		case u, ok := <-s.au:
			if !ok {
				return "addresses"
			}
			e.forgetAddrs()
			if e.events.addrNeedsPass(u) {
				e.addrEvent(u)
				eh.Kick()
			}
		case u, ok := <-s.ru:
			if !ok {
				return "routes"
			}
			// Our own route installs echo back and need no pass; others' changes (a
			// connected route appearing) can make an invalid item applicable, and
			// one of our routes deleted behind our back must be put back.
			if (u.Protocol != Proto || u.Type == unix.RTM_DELROUTE) && e.events.routeNeedsPass(u) {
				eh.Kick()
			}
		}
	}
}

// hidden reports whether an engine offering a link.Hider (the tunnel engine) hides that
// link from /interface.
func hidden(eh *engine.Handle, name string) bool {
	for _, h := range engine.All[link.Hider](eh) {
		if h(name) {
			return true
		}
	}
	return false
}

// Close releases the netlink handle once the engine's goroutines have ended.
func (e *Engine) Close() error {
	e.h.Close()
	return nil
}

// Reconcile converges addresses and routes to the configuration. A kicked pass
// (engine.Kicked) applies only the address items that changed (applyAddrs) and skips
// a family's routes while it has no route items and the kernel none of routerd's.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.forgetAddrs()
	// An address event not of routerd's own doing since the last pass began: this
	// pass compares every address with the kernel.
	flagged := e.addrFull.Swap(false)
	kicked := engine.Kicked(ctx) && !flagged
	// A family whose state cannot be read is an error of the pass: the host shows it
	// on every item until a pass succeeds.
	// One dump of the links per pass: with thousands of links (tunnels), a dump per
	// family and menu was most of the pass.
	items := map[string][]store.Item{}
	for _, p := range []string{Addr4Path, Addr6Path, Route4Path, Route6Path} {
		its, err := e.ex.SharedItems(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		items[p] = its
	}
	var values []map[string]string
	for _, p := range []string{Addr4Path, Addr6Path, Route4Path, Route6Path} {
		for _, it := range items[p] {
			values = append(values, it.Props)
		}
	}
	e.events.setNames(values)
	byIndex, byName, err := e.linkNames()
	if err != nil {
		// Without the links every address and route would look orphaned or
		// unresolvable: nothing is applied or removed on that view.
		return err
	}
	var errs []error
	for _, v := range []int{4, 6} {
		if !kicked {
			e.done[v] = nil // until this full pass succeeds
		}
		errs = append(errs, e.applyAddrs(v, items[addrPath(v)], kicked, byIndex, byName))
	}
	for _, v := range []int{4, 6} {
		if kicked && e.noRoutes[v] && len(items[routePath(v)]) == 0 {
			continue
		}
		errs = append(errs, e.applyRoutes(v, byIndex, byName))
	}
	return errors.Join(errs...)
}

// refused records that the kernel refused what an item asked for: the item shows why,
// and another pass comes (the kernel may accept it later without an event saying so).
func (e *Engine) refused() {
	if e.retry != nil {
		e.retry()
	}
}

// dynID returns a stable id for a dynamic row.
func (e *Engine) dynID(key string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.dynIDs[key]
	if !ok {
		id = dynBase + uint64(len(e.dynIDs))
		e.dynIDs[key] = id
	}
	return id
}

func family(v int) int {
	if v == 6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

func addrPath(v int) string {
	if v == 6 {
		return Addr6Path
	}
	return Addr4Path
}

func routePath(v int) string {
	if v == 6 {
		return Route6Path
	}
	return Route4Path
}

// linkNames maps link indexes to links, and RouterOS names to links.
func (e *Engine) linkNames() (byIndex map[int]netlink.Link, byName map[string]netlink.Link, err error) {
	ls, err := e.h.LinkList()
	if err != nil {
		return nil, nil, fmt.Errorf("listing links: %w", err)
	}
	byIndex, byName = map[int]netlink.Link{}, map[string]netlink.Link{}
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l
		byName[e.names.Of(l.Attrs())] = l
	}
	return byIndex, byName, nil
}

// addr4Item and addr6Item are what /ip address and /ipv6 address items decode into
// (engine.Decode); addrItem is either, as the engine applies it. The address is kept
// as written (host bits included), so it is read as text and parsed here.
type addr4Item struct {
	Address   string `prop:"address"`
	Network   string `prop:"network"`
	Interface string `prop:"interface"`
	Disabled  bool   `prop:"disabled"`
}

type addr6Item struct {
	Address   string `prop:"address"`
	Interface string `prop:"interface"`
	EUI64     bool   `prop:"eui-64"`
	NoDAD     bool   `prop:"no-dad"`
	Disabled  bool   `prop:"disabled"`
}

type addrItem struct {
	id                      uint64
	address, network, iface string
	eui64, noDAD, disabled  bool
	bad                     string // why the item does not decode
}

// TypedItems names the structs the menus' items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{addrPath(4): addr4Item{}, addrPath(6): addr6Item{},
		routePath(4): routeItem{}, routePath(6): routeItem{}}
}

// decodeAddr reads an address item of family v through the menu's schema.
func (e *Engine) decodeAddr(v int, it store.Item) addrItem {
	a := addrItem{id: it.ID}
	m, ok := e.ex.Tree.Get(addrPath(v))
	if !ok {
		a.bad = "no menu " + addrPath(v)
		return a
	}
	if v == 4 {
		var d addr4Item
		if err := engine.Decode(m, it, &d); err != nil {
			a.bad = err.Error()
		}
		a.address, a.network, a.iface, a.disabled = d.Address, d.Network, d.Interface, d.Disabled
		return a
	}
	var d addr6Item
	if err := engine.Decode(m, it, &d); err != nil {
		a.bad = err.Error()
	}
	a.address, a.iface, a.eui64, a.noDAD, a.disabled = d.Address, d.Interface, d.EUI64, d.NoDAD, d.Disabled
	return a
}

// itemAddr is the prefix an address item installs on link l.
func itemAddr(it addrItem, v int, l netlink.Link) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(it.address)
	if err != nil {
		return p, err
	}
	if v == 6 && it.eui64 && l != nil {
		q, ok := eui64(p, l.Attrs().HardwareAddr)
		if !ok {
			return p, errors.New("eui-64 needs a /64 or shorter prefix and a MAC address")
		}
		p = q
	}
	return p, nil
}

// addrKey is one kernel address: its link and prefix.
type addrKey struct {
	index int
	p     netip.Prefix
}

// addrRec is what the last pass made of an address item: the stored properties it read
// (the store's shared map: an unchanged item comes back as the same map), the link its
// interface named (0: none), and the address it installed (key.index 0: none).
type addrRec struct {
	props map[string]string
	iface string
	link  int
	eui64 bool
	key   addrKey
	peer  netip.Addr
	dup   bool // refused as another item's address
}

// sameMap reports whether a and b are one map (store.Tx.ListShared).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// errFullPass: a kicked pass met what only a pass over the kernel's addresses decides
// (an address already there, one item's address another's); the family gets a full pass.
var errFullPass = errors.New("full pass needed")

// applyAddrs converges the addresses of one family. A full pass reads the kernel's
// addresses and adds or removes only what differs. A kicked pass (engine.Kicked) after
// a full one applies only the items whose stored properties or link changed since the
// last pass, and takes out the addresses of items removed: an import of 10,000
// addresses commits a batch every 20 ms, and a dump and decode of every address and
// item per commit made the import quadratic (issue 15). What the kernel changed behind
// routerd's back arrives as an event, which makes the next pass a full one (addrEvent).
func (e *Engine) applyAddrs(v int, items []store.Item, kicked bool, byIndex map[int]netlink.Link, byName map[string]netlink.Link) error {
	if kicked && e.done[v] != nil {
		changed, err := e.applyAddrsChanged(v, items, byName)
		if !errors.Is(err, errFullPass) {
			return err
		}
		slog.Debug("ipcfg: kicked pass needs the kernel's addresses", "family", v, "changed", changed)
	}
	return e.applyAddrsFull(v, items, byIndex, byName)
}

// wantAddr decodes an address item and says what it asks of the kernel: rec.key.index
// 0 with why "" is a disabled item; why says why the item cannot be applied.
func (e *Engine) wantAddr(v int, si store.Item, byName map[string]netlink.Link) (it addrItem, rec addrRec, why string) {
	it = e.decodeAddr(v, si)
	rec = addrRec{props: si.Props, iface: it.iface, eui64: it.eui64}
	l, ok := byName[it.iface]
	if ok {
		rec.link = l.Attrs().Index
	}
	if it.bad != "" {
		return it, rec, it.bad
	}
	if it.disabled {
		return it, rec, ""
	}
	if !ok {
		return it, rec, "interface " + it.iface + " not present"
	}
	p, err := itemAddr(it, v, l)
	if err != nil {
		return it, rec, err.Error()
	}
	rec.key = addrKey{rec.link, p}
	// network= naming another address on a /32 makes a point-to-point address, as
	// RouterOS exports them (address=10.0.0.1 network=10.0.0.2).
	if na, err := netip.ParseAddr(it.network); err == nil && v == 4 && p.Bits() == 32 && na != p.Addr() {
		rec.peer = na
	}
	return it, rec, ""
}

// addrState is the state of an applied (or disabled) address item.
func (e *Engine) addrState(v int, it addrItem, rec addrRec, l netlink.Link) control.ItemState {
	if rec.key.index == 0 {
		return control.ItemState{Props: addrProps(it, "")}
	}
	st := control.ItemState{Props: addrProps(it, e.names.Of(l.Attrs()))}
	if n := it.network; v == 4 && n != "" && !rec.peer.IsValid() && n != rec.key.p.Masked().Addr().String() {
		st.Status = "network " + n + " is not the prefix's network: kept, not applied (a peer address needs a /32)"
	}
	return st
}

// addFailed says why the kernel refused an address.
func (e *Engine) addFailed(v int, l netlink.Link, err error) string {
	if mtu := l.Attrs().MTU; v == 6 && mtu < 1280 {
		// The kernel turns IPv6 off on a link below the minimum MTU and says only
		// "invalid argument".
		return fmt.Sprintf("IPv6 needs an mtu of at least 1280 on %s (it has %d)", e.names.Of(l.Attrs()), mtu)
	}
	return "cannot add address: " + err.Error()
}

// applyAddrsFull converges the addresses of one family with the kernel's, and records
// what it made of each item (e.done) and which addresses are routerd's (e.own).
func (e *Engine) applyAddrsFull(v int, items []store.Item, byIndex map[int]netlink.Link, byName map[string]netlink.Link) error {
	path := addrPath(v)
	kern, err := e.h.AddrList(family(v))
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	have := map[addrKey]kaddr{}
	for _, k := range kern {
		have[addrKey{k.index, k.prefix}] = k
	}
	done := make(map[uint64]addrRec, len(items))
	want := map[addrKey]bool{}
	for _, si := range items {
		it, rec, why := e.wantAddr(v, si, byName)
		k := rec.key
		if why != "" || k.index == 0 {
			e.notApplied(v, path, it, rec, why, done)
			continue
		}
		l := byName[it.iface]
		if want[k] { // a disabled duplicate enabled later: RouterOS refuses the enable
			rec.key, rec.dup = addrKey{}, true
			done[it.id] = rec
			e.invalidAddr(path, it, "already have such address")
			continue
		}
		want[k] = true
		rec.key = addrKey{}
		done[it.id] = rec // until installed: no address of its own
		cur, ok := have[k]
		if ok && cur.proto == Proto && cur.peer != rec.peer {
			e.disown(k)
			if err := e.h.AddrDel(k.index, k.p); err != nil {
				e.refused()
				e.invalidAddr(path, it, "cannot change peer: "+err.Error())
				continue
			}
			ok = false
		}
		e.claim(k)
		if ok {
			if cur.proto != Proto {
				// The OS configured it before routerd (ifupdown, netplan): the item takes it
				// over in place, as a static item does a dynamic one on RouterOS, without a
				// moment where the address and its routes are gone.
				if err := e.h.AddrAdopt(k.index, k.p, it.noDAD, rec.peer); err != nil {
					e.refused()
					e.invalidAddr(path, it, "address already present on "+e.names.Of(l.Attrs())+", cannot take it over: "+err.Error())
					continue
				}
				slog.Info("ipcfg: address present before routerd now belongs to its item", "address", k.p, "interface", it.iface)
			}
		} else if err := e.h.AddrAdd(k.index, k.p, it.noDAD, rec.peer); err != nil {
			e.disown(k)
			e.refused()
			e.invalidAddr(path, it, e.addFailed(v, l, err))
			continue
		}
		rec.key = k
		done[it.id] = rec
		e.ex.State.Set(path, it.id, e.addrState(v, it, rec, l))
	}
	// As for routes: an address no item wants that the kernel keeps is the pass's error
	// (one whose link is gone went with it).
	var errs []error
	for k, cur := range have {
		if cur.proto == Proto && !want[k] {
			e.disown(k)
			if err := e.h.AddrDel(k.index, k.p); err != nil && byIndex[k.index] != nil {
				errs = append(errs, fmt.Errorf("removing address %s: %w", k.p, err))
			}
		}
	}
	e.done[v] = done
	// What earlier passes owned and this one does not (an address that went with its
	// link) is no longer routerd's.
	e.ownMu.Lock()
	for k := range e.own {
		if k.p.Addr().Is4() == (v == 4) && !want[k] {
			delete(e.own, k)
		}
	}
	e.ownMu.Unlock()
	return errors.Join(errs...)
}

// applyAddrsChanged applies the items that differ from what the last pass made of them
// and takes out the addresses of removed items, or returns errFullPass (with what it had
// applied: a full pass goes on from the kernel as it is). It returns how many items it
// looked at.
func (e *Engine) applyAddrsChanged(v int, items []store.Item, byName map[string]netlink.Link) (int, error) {
	path := addrPath(v)
	done := e.done[v]
	seen := make(map[uint64]bool, len(items))
	var changed []store.Item
	dups := false
	for _, si := range items {
		seen[si.ID] = true
		rec, ok := done[si.ID]
		if ok && sameMap(rec.props, si.Props) && !rec.eui64 && rec.link == linkIndex(byName, rec.iface) {
			dups = dups || rec.dup
			continue
		}
		changed = append(changed, si)
	}
	var gone []uint64
	for id := range done {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	if len(changed) == 0 && len(gone) == 0 {
		return 0, nil
	}
	if dups {
		// An item refused as another's duplicate may take the address now.
		return len(changed) + len(gone), errFullPass
	}
	owner := make(map[addrKey]uint64, len(done))
	for id, rec := range done {
		if rec.key.index != 0 {
			owner[rec.key] = id
		}
	}
	// unapply takes out what an item installed.
	unapply := func(id uint64, rec addrRec) error {
		if rec.key.index == 0 || owner[rec.key] != id {
			return nil
		}
		delete(owner, rec.key)
		e.disown(rec.key)
		if err := e.h.AddrDel(rec.key.index, rec.key.p); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) && !errors.Is(err, unix.ENODEV) {
			return errFullPass
		}
		return nil
	}
	for _, id := range gone {
		if err := unapply(id, done[id]); err != nil {
			return len(changed) + len(gone), err
		}
		delete(done, id)
	}
	for _, si := range changed {
		it, rec, why := e.wantAddr(v, si, byName)
		old := done[si.ID]
		if rec.key == old.key && rec.peer == old.peer && why == "" && rec.key.index != 0 && owner[rec.key] == si.ID {
			// The address stays (a comment changed, or the link's events): its state only.
			done[si.ID] = rec
			e.ex.State.Set(path, it.id, e.addrState(v, it, rec, byName[it.iface]))
			continue
		}
		if err := unapply(si.ID, old); err != nil {
			return len(changed) + len(gone), err
		}
		if why != "" || rec.key.index == 0 {
			e.notApplied(v, path, it, rec, why, done)
			continue
		}
		k := rec.key
		if _, taken := owner[k]; taken {
			return len(changed) + len(gone), errFullPass
		}
		l := byName[it.iface]
		e.claim(k)
		if err := e.h.AddrAdd(k.index, k.p, it.noDAD, rec.peer); err != nil {
			e.disown(k)
			if errors.Is(err, unix.EEXIST) {
				// Someone's (or an earlier routerd's) address: the full pass takes it over.
				return len(changed) + len(gone), errFullPass
			}
			rec.key = addrKey{}
			done[si.ID] = rec
			e.refused()
			e.invalidAddr(path, it, e.addFailed(v, l, err))
			continue
		}
		owner[k] = si.ID
		done[si.ID] = rec
		e.ex.State.Set(path, it.id, e.addrState(v, it, rec, l))
	}
	return len(changed) + len(gone), nil
}

// linkIndex is the index of the link named name, 0 when there is none.
func linkIndex(byName map[string]netlink.Link, name string) int {
	if l, ok := byName[name]; ok {
		return l.Attrs().Index
	}
	return 0
}

// notApplied records an item that has no address in the kernel: refused (why says
// why) or waiting for its interface, which leaves it valid.
func (e *Engine) notApplied(v int, path string, it addrItem, rec addrRec, why string, done map[uint64]addrRec) {
	rec.key = addrKey{}
	done[it.id] = rec
	if why != "" {
		e.invalidAddr(path, it, why)
		return
	}
	e.ex.State.Set(path, it.id, e.addrState(v, it, rec, nil))
}

// claim records that routerd is about to install (or take over) an address, before it
// does: the kernel's event of it then needs no pass. disown is the reverse, before
// routerd removes one (or after an install failed).
func (e *Engine) claim(k addrKey) {
	e.ownMu.Lock()
	e.own[k] = true
	e.ownMu.Unlock()
}

func (e *Engine) disown(k addrKey) {
	e.ownMu.Lock()
	delete(e.own, k)
	e.ownMu.Unlock()
}

// addrEvent reports whether an address event is routerd's own doing (the echo of an
// address a pass installed or removed): any other, an address of routerd's removed or
// an address it does not own added, makes the next pass a full one, which compares with
// the kernel (routerd's address deleted with ip addr del is put back).
func (e *Engine) addrEvent(u netlink.AddrUpdate) {
	ip, ok := netip.AddrFromSlice(u.LinkAddress.IP)
	if !ok {
		e.addrFull.Store(true)
		return
	}
	ones, _ := u.LinkAddress.Mask.Size()
	k := addrKey{u.LinkIndex, netip.PrefixFrom(ip.Unmap(), ones)}
	e.ownMu.Lock()
	own := e.own[k]
	e.ownMu.Unlock()
	if own != u.NewAddr {
		e.addrFull.Store(true)
	}
}

func addrProps(it addrItem, actual string) map[string]string {
	p := map[string]string{"actual-interface": actual}
	if pf, err := netip.ParsePrefix(it.address); err == nil && pf.Addr().Is4() && it.network == "" {
		p["network"] = pf.Masked().Addr().String()
	}
	return p
}

func (e *Engine) invalidAddr(path string, it addrItem, reason string) {
	e.ex.State.Set(path, it.id, control.ItemState{Invalid: true, Status: reason, Props: addrProps(it, "")})
}

// addrRows lists kernel addresses routerd did not install, as dynamic rows.
func (e *Engine) addrRows(v int) ([]control.Row, error) {
	kern, err := e.h.AddrList(family(v))
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	byIndex, _, err := e.linkNames()
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	var rows []control.Row
	for _, k := range kern {
		if k.proto == Proto {
			continue
		}
		name := ""
		if l := byIndex[k.index]; l != nil {
			name = e.names.Of(l.Attrs())
		}
		if name != "" && e.hide != nil && e.hide(name) {
			continue
		}
		p := map[string]string{"address": k.prefix.String(), "interface": name, "actual-interface": name,
			"disabled": "no", "dynamic": "yes"}
		if v == 4 {
			p["network"] = k.prefix.Masked().Addr().String()
		} else {
			p["advertise"], p["eui-64"], p["no-dad"] = "no", "no", "no"
		}
		rows = append(rows, control.Row{ID: e.dynID(fmt.Sprintf("a%d/%s/%d", v, k.prefix, k.index)), Props: p, Flags: "D"})
	}
	return rows, nil
}
