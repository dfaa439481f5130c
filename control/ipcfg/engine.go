package ipcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"

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
	return &Engine{dynIDs: map[string]uint64{}, gw: newGwChecker()}
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

	lu := make(chan netlink.LinkUpdate, 256)
	au := make(chan netlink.AddrUpdate, 256)
	ru := make(chan netlink.RouteUpdate, 1024)
	onErr := func(err error) {
		if ctx.Err() != nil {
			return // closing the sockets at shutdown is no error
		}
		slog.Warn("ipcfg: netlink subscription", "err", err)
		eh.Kick()
	}
	if err := netlink.LinkSubscribeWithOptions(lu, ctx.Done(), netlink.LinkSubscribeOptions{ErrorCallback: onErr}); err != nil {
		h.Close()
		return fmt.Errorf("ipcfg: subscribe links: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(au, ctx.Done(), netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		h.Close()
		return fmt.Errorf("ipcfg: subscribe addresses: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(ru, ctx.Done(), netlink.RouteSubscribeOptions{ErrorCallback: onErr}); err != nil {
		h.Close()
		return fmt.Errorf("ipcfg: subscribe routes: %w", err)
	}
	eh.Go(ctx, func(ctx context.Context) { e.gw.run(ctx, eh.Go, eh.Kick) })
	eh.Go(ctx, func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case u := <-lu:
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
			case u := <-au:
				e.forgetAddrs()
				if e.events.addrNeedsPass(u) {
					eh.Kick()
				}
			case u := <-ru:
				// Our own route installs echo back and need no pass; others' changes (a
				// connected route appearing) can make an invalid item applicable, and
				// one of our routes deleted behind our back must be put back.
				if (u.Protocol != Proto || u.Type == unix.RTM_DELROUTE) && e.events.routeNeedsPass(u) {
					eh.Kick()
				}
			}
		}
	})
	return nil
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

// Reconcile converges addresses and routes to the configuration.
func (e *Engine) Reconcile(context.Context) error {
	e.forgetAddrs()
	// A family whose state cannot be read is an error of the pass: the host shows it
	// on every item until a pass succeeds.
	// One dump of the links per pass: with thousands of links (tunnels), a dump per
	// family and menu was most of the pass.
	var values []map[string]string
	for _, p := range []string{Addr4Path, Addr6Path, Route4Path, Route6Path} {
		its, err := e.ex.Items(p)
		if err != nil {
			return fmt.Errorf("reading %s: %w", p, err)
		}
		for _, it := range its {
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
	return errors.Join(e.applyAddrs(4, byIndex, byName), e.applyAddrs(6, byIndex, byName),
		e.applyRoutes(4, byIndex, byName), e.applyRoutes(6, byIndex, byName))
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

// applyAddrs converges the addresses of one family: it reads the kernel's addresses and
// adds or removes only what differs.
func (e *Engine) applyAddrs(v int, byIndex map[int]netlink.Link, byName map[string]netlink.Link) error {
	path := addrPath(v)
	items, err := e.ex.Items(path)
	if err != nil {
		return err
	}
	kern, err := e.h.AddrList(family(v))
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	type key struct {
		index int
		p     netip.Prefix
	}
	have := map[key]kaddr{}
	for _, k := range kern {
		have[key{k.index, k.prefix}] = k
	}
	want := map[key]bool{}
	for _, si := range items {
		it := e.decodeAddr(v, si)
		if it.bad != "" {
			e.invalidAddr(path, it, it.bad)
			continue
		}
		if it.disabled {
			e.ex.State.Set(path, it.id, control.ItemState{Props: addrProps(it, "")})
			continue
		}
		l, ok := byName[it.iface]
		if !ok {
			e.invalidAddr(path, it, "interface "+it.iface+" not present")
			continue
		}
		p, err := itemAddr(it, v, l)
		if err != nil {
			e.invalidAddr(path, it, err.Error())
			continue
		}
		k := key{l.Attrs().Index, p}
		if want[k] { // a disabled duplicate enabled later: RouterOS refuses the enable
			e.invalidAddr(path, it, "already have such address")
			continue
		}
		want[k] = true
		// network= naming another address on a /32 makes a point-to-point address, as
		// RouterOS exports them (address=10.0.0.1 network=10.0.0.2).
		var peer netip.Addr
		n := it.network
		if na, err := netip.ParseAddr(n); err == nil && v == 4 && p.Bits() == 32 && na != p.Addr() {
			peer = na
		}
		cur, ok := have[k]
		if ok && cur.proto == Proto && cur.peer != peer {
			if err := e.h.AddrDel(k.index, k.p); err != nil {
				e.refused()
				e.invalidAddr(path, it, "cannot change peer: "+err.Error())
				continue
			}
			ok = false
		}
		if ok {
			if cur.proto != Proto {
				// The OS configured it before routerd (ifupdown, netplan): the item takes it
				// over in place, as a static item does a dynamic one on RouterOS, without a
				// moment where the address and its routes are gone.
				if err := e.h.AddrAdopt(k.index, p, it.noDAD, peer); err != nil {
					e.refused()
					e.invalidAddr(path, it, "address already present on "+e.names.Of(l.Attrs())+", cannot take it over: "+err.Error())
					continue
				}
				slog.Info("ipcfg: address present before routerd now belongs to its item", "address", p, "interface", it.iface)
			}
		} else if err := e.h.AddrAdd(k.index, p, it.noDAD, peer); err != nil {
			why := "cannot add address: " + err.Error()
			if mtu := l.Attrs().MTU; v == 6 && mtu < 1280 {
				// The kernel turns IPv6 off on a link below the minimum MTU and says
				// only "invalid argument".
				why = fmt.Sprintf("IPv6 needs an mtu of at least 1280 on %s (it has %d)", e.names.Of(l.Attrs()), mtu)
			}
			e.refused()
			e.invalidAddr(path, it, why)
			continue
		}
		st := control.ItemState{Props: addrProps(it, e.names.Of(l.Attrs()))}
		if v == 4 && n != "" && !peer.IsValid() && n != p.Masked().Addr().String() {
			st.Status = "network " + n + " is not the prefix's network: kept, not applied (a peer address needs a /32)"
		}
		e.ex.State.Set(path, it.id, st)
	}
	// As for routes: an address no item wants that the kernel keeps is the pass's error
	// (one whose link is gone went with it).
	var errs []error
	for k, cur := range have {
		if cur.proto == Proto && !want[k] {
			if err := e.h.AddrDel(k.index, k.p); err != nil && byIndex[k.index] != nil {
				errs = append(errs, fmt.Errorf("removing address %s: %w", k.p, err))
			}
		}
	}
	return errors.Join(errs...)
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
