package ipcfg

import (
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouterOS's scopes: a connected route has scope 10, a static one 30 unless set; a
// route's gateway is looked up among the active routes of the main table (or of the
// table gateway=X@table names, RouterOS 7) whose scope is at most the route's target-scope (10 unless set), so by default only a connected
// network resolves a gateway and a recursive route (gateway=8.8.8.8 target-scope=11 over
// dst-address=8.8.8.8 scope=10) is asked for. The kernel resolves a gateway on a link
// only; a recursive route is installed via the next hop resolved here (immediate-gw).
const (
	scopeConnected = 10
	scopeStatic    = 30
	// maxRounds bounds the rounds of resolution (a route resolving through a route that
	// resolves through another ...); RouterOS resolves a few levels deep.
	maxRounds = 16
)

// wantRoute is an enabled route item of one family, decoded, with its table resolved.
type wantRoute struct {
	id    uint64
	it    routeItem
	gw    gateway
	table int
	// via is the table the gateway is resolved in: main, or gateway=X@table's.
	via int
	dst netip.Prefix
	// link is the index of gw.iface (0: none named); linkDown: that link is down.
	link     int
	linkDown bool
}

// resolution is how a route reaches its gateway.
type resolution struct {
	ok bool
	// nh is the next hop the kernel route goes via (the gateway itself, or for a
	// recursive route the resolving route's next hop); invalid for an interface route.
	nh netip.Addr
	// link is the interface the route leaves by (0: unknown, the kernel chooses).
	link int
	// pin: the kernel route names link (an interface gateway, address%interface, a
	// gateway on a connected network or a recursive next hop); otherwise (an IPv6
	// link-local gateway without interface) the kernel resolves the gateway on its own.
	pin       bool
	recursive bool
	// down: reachable, but check-gateway found the gateway dead.
	down bool
}

// ribRoute is an active candidate for resolving gateways: a route of ours or the
// kernel's (connected networks, other daemons) in table.
type ribRoute struct {
	table    int
	dst      netip.Prefix
	scope    int
	distance int
	nh       netip.Addr // invalid: the destination is on link
	link     int
	self     int // index in the wanted routes, -1 for the kernel's
}

// kernelCandidates are the routes of the kernel's tables not installed by routerd, as
// resolution candidates: a route without gateway is a connected network (scope 10),
// one with a gateway is as a static route (scope 30).
func kernelCandidates(kern []netlink.Route) []ribRoute {
	var out []ribRoute
	for i := range kern {
		r := &kern[i]
		if r.Protocol == Proto || r.Table == unix.RT_TABLE_LOCAL || routeType(r.Type) != unix.RTN_UNICAST {
			continue
		}
		c := ribRoute{table: r.Table, dst: keyOf(r).dst, scope: scopeStatic, distance: r.Priority, link: r.LinkIndex, self: -1}
		if r.Gw == nil {
			c.scope, c.distance = scopeConnected, 0
		} else if a, ok := netip.AddrFromSlice(r.Gw); ok {
			c.nh = a.Unmap()
		}
		out = append(out, c)
	}
	return out
}

// resolveRoutes resolves the gateways of ws over the kernel's candidates; down reports
// whether check-gateway found a route's gateway dead (given its resolution). It runs in
// rounds until nothing changes: each round looks gateways up among the routes active
// after the previous one, so a route resolving through a recursive route is found a
// round later.
func resolveRoutes(ws []wantRoute, kern []ribRoute, down func(i int, r resolution) bool) []resolution {
	res := make([]resolution, len(ws))
	for round := 0; round < maxRounds; round++ {
		cands := append([]ribRoute(nil), kern...)
		for _, i := range activeOf(ws, res) {
			w := ws[i]
			if w.it.Blackhole {
				continue
			}
			cands = append(cands, ribRoute{table: w.table, dst: w.dst, scope: w.it.Scope, distance: w.it.Distance,
				nh: res[i].nh, link: res[i].link, self: i})
		}
		next := make([]resolution, len(ws))
		for i, w := range ws {
			next[i] = resolveOne(i, w, cands)
			if next[i].ok && down != nil {
				next[i].down = down(i, next[i])
			}
		}
		same := true
		for i := range next {
			if next[i] != res[i] {
				same = false
			}
		}
		res = next
		if same {
			break
		}
	}
	return res
}

// activeOf lists the routes that are active: resolved, up, and the lowest distance of
// their table and destination (the first such item on a tie).
func activeOf(ws []wantRoute, res []resolution) []int {
	type key struct {
		table int
		dst   netip.Prefix
	}
	best := map[key]int{}
	var order []key
	for i, w := range ws {
		if !res[i].ok || res[i].down {
			continue
		}
		k := key{w.table, w.dst}
		j, ok := best[k]
		if !ok {
			order = append(order, k)
		}
		if !ok || w.it.Distance < ws[j].it.Distance {
			best[k] = i
		}
	}
	out := make([]int, 0, len(order))
	for _, k := range order {
		out = append(out, best[k])
	}
	return out
}

// resolveOne resolves one route over the active candidates.
func resolveOne(i int, w wantRoute, cands []ribRoute) resolution {
	switch {
	case w.it.Blackhole:
		return resolution{ok: true}
	case w.linkDown:
		return resolution{}
	case !w.gw.ip.IsValid(): // an interface
		return resolution{ok: true, link: w.link, pin: true}
	case w.gw.iface != "": // address%interface: on that link, no lookup
		return resolution{ok: true, nh: w.gw.ip, link: w.link, pin: true}
	}
	best := -1
	for j, c := range cands {
		if c.self == i || c.table != w.via || c.scope > w.it.TargetScope || !c.dst.Contains(w.gw.ip) {
			continue
		}
		if best < 0 || c.dst.Bits() > cands[best].dst.Bits() ||
			c.dst.Bits() == cands[best].dst.Bits() && c.distance < cands[best].distance {
			best = j
		}
	}
	if best < 0 {
		return resolution{}
	}
	c := cands[best]
	if !c.nh.IsValid() {
		// On a connected network (or an interface route): the gateway is the next hop,
		// on that network's link, which the kernel route names as RouterOS installs it
		// ("reachable via ether1"). Left to the kernel, an IPv4 gateway is looked up
		// through the routing rules, where a rule before main's may answer first: a full
		// IPsec tunnel's 220 (default dev ipsec0, issue 12) took it whenever the
		// network's throw route was not there yet, or never is (a point-to-point peer).
		// Named, the lookup takes only routes out of that link, and the kernel still
		// refuses a gateway it does not reach there (ENETUNREACH). An IPv6 link-local
		// gateway is not pinned: every link has fe80::/64, so it must name its
		// interface (fe80::1%ether1), and without one the kernel refuses it.
		pin := c.link != 0 && !(w.gw.ip.Is6() && w.gw.ip.IsLinkLocalUnicast())
		return resolution{ok: true, nh: w.gw.ip, link: c.link, pin: pin}
	}
	return resolution{ok: true, nh: c.nh, link: c.link, pin: c.link != 0, recursive: true}
}

// gatewayStatus is RouterOS 6's gateway-status of a route: how its gateway is reached.
func gatewayStatus(w wantRoute, r resolution, linkName func(int) string) string {
	if w.it.Blackhole {
		return ""
	}
	gw := w.gw.ip.String()
	if !w.gw.ip.IsValid() {
		gw = w.gw.iface
	}
	switch {
	case !r.ok:
		return gw + " unreachable"
	case r.down:
		return gw + " unreachable (check-gateway " + w.it.CheckGateway + ")"
	case r.recursive:
		return fmt.Sprintf("%s recursive via %s %s", gw, r.nh, linkName(r.link))
	case !w.gw.ip.IsValid():
		return gw + " reachable"
	}
	return gw + " reachable via " + linkName(r.link)
}

// immediateGw is RouterOS 7's immediate-gw: the next hop and its interface
// (198.18.1.1%ether1), or the interface alone.
func immediateGw(r resolution, linkName func(int) string) string {
	if !r.ok {
		return ""
	}
	n := linkName(r.link)
	if !r.nh.IsValid() {
		return n
	}
	if n == "" {
		return r.nh.String()
	}
	return r.nh.String() + "%" + n
}
