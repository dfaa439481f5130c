package ipcfg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
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
	h  *netlink.Handle

	// Pools hands out addresses of /ip pool to other subsystems.
	Pools *Pools

	mu     sync.Mutex
	dynIDs map[string]uint64 // stable ids of dynamic rows, by key, for the process' life

	// addrs caches the kernel's addresses per family for the checks of add and set, so an
	// import of thousands of routes does not dump them once per line; address events
	// clear it.
	addrMu sync.Mutex
	addrs  map[int][]kaddr
}

// localAddrs returns the kernel's addresses of a family, from the cache when it is fresh.
func (e *Engine) localAddrs(fam int) ([]kaddr, error) {
	e.addrMu.Lock()
	defer e.addrMu.Unlock()
	if a, ok := e.addrs[fam]; ok {
		return a, nil
	}
	a, err := addrDump(fam)
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
	addr4Path    = "/ip/address"
	addr6Path    = "/ipv6/address"
	route4Path   = "/ip/route"
	route6Path   = "/ipv6/route"
	poolPath     = "/ip/pool"
	poolUsedPath = "/ip/pool/used"
	dnsPath      = "/ip/dns"
)

// New returns the engine of addresses, routes, pools and /ip dns, for an engine host to
// run.
func New() *Engine {
	return &Engine{dynIDs: map[string]uint64{}}
}

// Spec declares the menus the engine applies. Addresses follow /interface (a link
// renamed or created), routes /routing/table; kernel link, address and route events kick it, so it needs no
// periodic pass.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "ipcfg",
		Menus:  []string{addr4Path, addr6Path, route4Path, route6Path, poolPath, poolUsedPath, dnsPath},
		Watch:  []string{"/interface", "/routing/table"},
		Resync: engine.Never}
}

// Start registers the IP menus' sources and commands, offers the pools (*Pools) to the
// engines after it, and follows kernel links, addresses and routes until ctx ends.
func (e *Engine) Start(ctx context.Context, eh *engine.Handle) error {
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotSupported, err)
	}
	ex := eh.Ex
	e.ex, e.h = ex, h
	e.Pools = newPools(ex)
	engine.Offer(eh, e.Pools)
	ex.Provide(addr4Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.addrRows(4) })
	ex.Provide(addr6Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.addrRows(6) })
	ex.Provide(route4Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.routeRows(4) })
	ex.Provide(route6Path, func(context.Context, *control.Session) ([]control.Row, error) { return e.routeRows(6) })
	ex.Provide(poolUsedPath, e.Pools.usedRows)
	e.registerChecks()
	registerPing(ex)

	lu := make(chan netlink.LinkUpdate, 256)
	au := make(chan netlink.AddrUpdate, 256)
	ru := make(chan netlink.RouteUpdate, 1024)
	onErr := func(err error) { slog.Warn("ipcfg: netlink subscription", "err", err); eh.Kick() }
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
	eh.Go(ctx, func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-lu:
				eh.Kick()
			case <-au:
				e.forgetAddrs()
				eh.Kick()
			case u := <-ru:
				// Our own route installs echo back; only others' changes (a connected
				// route appearing) can make an invalid item applicable.
				if u.Protocol != Proto {
					eh.Kick()
				}
			}
		}
	})
	return nil
}

// Close releases the netlink handle once the engine's goroutines have ended.
func (e *Engine) Close() error {
	e.h.Close()
	return nil
}

// Reconcile converges addresses and routes to the configuration.
func (e *Engine) Reconcile(context.Context) error {
	e.forgetAddrs()
	e.applyAddrs(4)
	e.applyAddrs(6)
	e.applyRoutes(4)
	e.applyRoutes(6)
	return nil
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
		return "/ipv6/address"
	}
	return "/ip/address"
}

func routePath(v int) string {
	if v == 6 {
		return "/ipv6/route"
	}
	return "/ip/route"
}

// linkNames maps link indexes to names and back.
func (e *Engine) linkNames() (byIndex map[int]netlink.Link, byName map[string]netlink.Link) {
	ls, err := e.h.LinkList()
	if err != nil {
		slog.Warn("ipcfg: listing links", "err", err)
	}
	byIndex, byName = map[int]netlink.Link{}, map[string]netlink.Link{}
	for _, l := range ls {
		byIndex[l.Attrs().Index] = l
		byName[l.Attrs().Name] = l
	}
	return byIndex, byName
}

// itemAddr is the prefix an address item installs on link l.
func itemAddr(it store.Item, v int, l netlink.Link) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(it.Props["address"])
	if err != nil {
		return p, err
	}
	if v == 6 && it.Props["eui-64"] == "yes" && l != nil {
		q, ok := eui64(p, l.Attrs().HardwareAddr)
		if !ok {
			return p, errors.New("eui-64 needs a /64 or shorter prefix and a MAC address")
		}
		p = q
	}
	return p, nil
}

// applyAddrs converges the addresses of one family.
func (e *Engine) applyAddrs(v int) {
	path := addrPath(v)
	items, err := e.ex.Items(path)
	if err != nil {
		return
	}
	byIndex, byName := e.linkNames()
	kern, err := addrDump(family(v))
	if err != nil {
		slog.Warn("ipcfg: listing addresses", "err", err)
		return
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
	for _, it := range items {
		if it.Props["disabled"] == "yes" {
			e.ex.State.Set(path, it.ID, control.ItemState{Props: addrProps(it, "")})
			continue
		}
		if pool := it.Props["from-pool"]; pool != "" {
			e.invalid(path, it, "address from pool "+pool+": no IPv6 pools here, not installed")
			continue
		}
		l, ok := byName[it.Props["interface"]]
		if !ok {
			e.invalid(path, it, "interface "+it.Props["interface"]+" not present")
			continue
		}
		p, err := itemAddr(it, v, l)
		if err != nil {
			e.invalid(path, it, err.Error())
			continue
		}
		k := key{l.Attrs().Index, p}
		want[k] = true
		// network= naming another address on a /32 makes a point-to-point address, as
		// RouterOS exports them (address=10.0.0.1 network=10.0.0.2).
		var peer netip.Addr
		n := it.Props["network"]
		if na, err := netip.ParseAddr(n); err == nil && v == 4 && p.Bits() == 32 && na != p.Addr() {
			peer = na
		}
		cur, ok := have[k]
		if ok && cur.proto == Proto && cur.peer != peer {
			if err := addrDel(k.index, k.p); err != nil {
				e.invalid(path, it, "cannot change peer: "+err.Error())
				continue
			}
			ok = false
		}
		if ok {
			if cur.proto != Proto {
				e.invalid(path, it, "address already present on "+l.Attrs().Name+", not installed by routerd")
				continue
			}
		} else if err := addrAdd(k.index, p, it.Props["no-dad"] == "yes", peer); err != nil {
			e.invalid(path, it, "cannot add address: "+err.Error())
			continue
		}
		st := control.ItemState{Props: addrProps(it, l.Attrs().Name)}
		if v == 4 && n != "" && !peer.IsValid() && n != p.Masked().Addr().String() {
			st.Status = "network " + n + " is not the prefix's network: kept, not applied (a peer address needs a /32)"
		}
		e.ex.State.Set(path, it.ID, st)
	}
	for k, cur := range have {
		if cur.proto == Proto && !want[k] {
			if err := addrDel(k.index, k.p); err != nil && byIndex[k.index] != nil {
				slog.Warn("ipcfg: removing address", "address", k.p, "err", err)
			}
		}
	}
}

func addrProps(it store.Item, actual string) map[string]string {
	p := map[string]string{"actual-interface": actual}
	if pf, err := netip.ParsePrefix(it.Props["address"]); err == nil && pf.Addr().Is4() && it.Props["network"] == "" {
		p["network"] = pf.Masked().Addr().String()
	}
	return p
}

func (e *Engine) invalid(path string, it store.Item, reason string) {
	st := control.ItemState{Invalid: true, Status: reason}
	if strings.HasSuffix(path, "address") {
		st.Props = addrProps(it, "")
	}
	e.ex.State.Set(path, it.ID, st)
}

// addrRows lists kernel addresses routerd did not install, as dynamic rows.
func (e *Engine) addrRows(v int) ([]control.Row, error) {
	kern, err := addrDump(family(v))
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	byIndex, _ := e.linkNames()
	var rows []control.Row
	for _, k := range kern {
		if k.proto == Proto {
			continue
		}
		name := ""
		if l := byIndex[k.index]; l != nil {
			name = l.Attrs().Name
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
