package ipcfg

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/ike/esp"
)

// gateway is a parsed gateway= value: an address, an interface, or address%interface,
// each optionally followed by @table (RouterOS 7: the table the gateway is resolved in,
// main unless given).
type gateway struct {
	ip    netip.Addr
	iface string
	table string // "" for main
}

func parseGateway(s string) (gateway, error) {
	if s == "" {
		return gateway{}, nil
	}
	var table string
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		if s, table = s[:i], s[i+1:]; table == "" || s == "" || strings.ContainsAny(table, " ,%@") {
			return gateway{}, errors.New("bad @table")
		}
		if table == "main" {
			table = ""
		}
	}
	g, err := parseHop(s)
	g.table = table
	return g, err
}

func parseHop(s string) (gateway, error) {
	a, ifc, pct := strings.Cut(s, "%")
	if ip, err := netip.ParseAddr(a); err == nil {
		if pct && ifc == "" {
			return gateway{}, errors.New("empty interface after %")
		}
		return gateway{ip: ip.Unmap(), iface: ifc}, nil
	}
	if pct || strings.ContainsAny(s, " /,") {
		return gateway{}, errors.New("not an address or interface")
	}
	return gateway{iface: s}, nil
}

func tableID(s string) int {
	if s == "" || s == "main" {
		return unix.RT_TABLE_MAIN
	}
	n, _ := strconv.Atoi(s)
	return n
}

func tableName(n int) string {
	if n == unix.RT_TABLE_MAIN {
		return "main"
	}
	return strconv.Itoa(n)
}

// routeKey identifies a kernel route as the kernel does: table, destination, metric.
type routeKey struct {
	table  int
	dst    netip.Prefix
	metric int
}

// routeItem is what /ip route and /ipv6 route items decode into (engine.Decode).
type routeItem struct {
	DstAddress   string `prop:"dst-address"` // the menu's default: the default route
	Gateway      string `prop:"gateway"`     // an address, an interface, or address%interface
	PrefSrc      string `prop:"pref-src"`
	Distance     int    `prop:"distance"`
	RoutingTable string `prop:"routing-table"` // main, a /routing table name, or its kernel number
	Blackhole    bool   `prop:"blackhole"`
	Disabled     bool   `prop:"disabled"`
	Scope        int    `prop:"scope"`
	TargetScope  int    `prop:"target-scope"`
	CheckGateway string `prop:"check-gateway"`
}

// wanted decodes what a route item asks for (before its gateway is resolved), or says
// why it cannot be built.
func wanted(id uint64, it routeItem, v int, byName map[string]netlink.Link) (wantRoute, error) {
	w := wantRoute{id: id, it: it, table: tableID(it.RoutingTable), via: unix.RT_TABLE_MAIN}
	dst, err := netip.ParsePrefix(dstOf(it, v))
	if err != nil {
		return w, fmt.Errorf("bad dst-address: %w", err)
	}
	w.dst = dst.Masked()
	if it.Blackhole {
		return w, nil
	}
	if w.gw, err = parseGateway(it.Gateway); err != nil {
		return w, fmt.Errorf("bad gateway: %w", err)
	}
	if !w.gw.ip.IsValid() && w.gw.iface == "" {
		return w, errors.New("no gateway")
	}
	if w.gw.iface != "" {
		l, ok := byName[w.gw.iface]
		if !ok {
			return w, fmt.Errorf("interface %s not present", w.gw.iface)
		}
		w.link = l.Attrs().Index
		// A link that is down (disabled) reaches no gateway: the route is not active,
		// and gateway-status says unreachable, as RouterOS shows it.
		w.linkDown = l.Attrs().Flags&net.FlagUp == 0
	}
	return w, nil
}

// desiredRoute builds the kernel route of a resolved item.
func desiredRoute(w wantRoute, r resolution, v int) *netlink.Route {
	d := &netlink.Route{
		Dst:      &net.IPNet{IP: w.dst.Addr().AsSlice(), Mask: net.CIDRMask(w.dst.Bits(), w.dst.Addr().BitLen())},
		Priority: w.it.Distance,
		Table:    w.table,
		Protocol: Proto,
		Family:   family(v),
	}
	if w.it.Blackhole {
		d.Type = unix.RTN_BLACKHOLE
		return d
	}
	if r.pin {
		d.LinkIndex = r.link
	}
	if r.nh.IsValid() {
		d.Gw = r.nh.AsSlice()
	} else {
		d.Scope = netlink.SCOPE_LINK
	}
	if s := w.it.PrefSrc; s != "" {
		d.Src = net.ParseIP(s)
	}
	return d
}

func dstOf(it routeItem, v int) string {
	if d := it.DstAddress; d != "" {
		return d
	}
	if v == 6 {
		return "::/0"
	}
	return "0.0.0.0/0"
}

func keyOf(r *netlink.Route) routeKey {
	var dst netip.Prefix
	if r.Dst != nil {
		a, _ := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		dst = netip.PrefixFrom(a.Unmap(), ones)
	} else if r.Family == unix.AF_INET6 {
		dst = netip.MustParsePrefix("::/0")
	} else {
		dst = netip.MustParsePrefix("0.0.0.0/0")
	}
	return routeKey{r.Table, dst, r.Priority}
}

// sameRoute reports whether the kernel's route already is what the item asks for.
func sameRoute(k, d *netlink.Route) bool {
	if len(k.MultiPath) != len(d.MultiPath) {
		return false
	}
	for i, n := range d.MultiPath {
		if !k.MultiPath[i].Gw.Equal(n.Gw) || n.LinkIndex != 0 && k.MultiPath[i].LinkIndex != n.LinkIndex {
			return false
		}
	}
	return routeType(k.Type) == routeType(d.Type) && k.Gw.Equal(d.Gw) && (d.LinkIndex == 0 || k.LinkIndex == d.LinkIndex) &&
		k.Src.Equal(d.Src)
}

// multipath is the kernel route of equal-cost routes (members, in item order): one
// next hop each.
func multipath(first *netlink.Route, members []int, res []resolution) *netlink.Route {
	d := *first
	d.Gw, d.LinkIndex, d.Scope = nil, 0, 0
	for _, i := range members {
		r := res[i]
		nh := &netlink.NexthopInfo{}
		if r.pin || !r.nh.IsValid() {
			nh.LinkIndex = r.link
		}
		if r.nh.IsValid() {
			nh.Gw = r.nh.AsSlice()
		}
		d.MultiPath = append(d.MultiPath, nh)
	}
	return &d
}

// routeType is a route's type as the kernel answers it: a route asked for without one
// is unicast (comparing 0 with the dump's RTN_UNICAST replaced every route on every pass).
func routeType(t int) int {
	if t == 0 {
		return unix.RTN_UNICAST
	}
	return t
}

// listRoutes lists every route of a family in every table.
func (e *Engine) listRoutes(v int) ([]netlink.Route, error) {
	return e.h.RouteList(family(v))
}

// applyRoutes converges the routes of one family: it resolves each route's gateway as
// RouterOS does (resolve.go), takes out the routes whose gateway check-gateway found
// dead, and installs or removes only what differs from the kernel.
func (e *Engine) applyRoutes(v int, byIndex map[int]netlink.Link, byName map[string]netlink.Link) error {
	path := routePath(v)
	e.noRoutes[v] = false
	items, err := e.ex.Items(path)
	if err != nil {
		return err
	}
	kern, err := e.listRoutes(v)
	if err != nil {
		return fmt.Errorf("listing routes: %w", err)
	}
	have := map[routeKey]*netlink.Route{}
	for i := range kern {
		if kern[i].Protocol == Proto {
			have[keyOf(&kern[i])] = &kern[i]
		}
	}
	// Nothing to install or remove: kicked passes skip the dump until a route item
	// comes (one of routerd's added behind its back is removed by the next full pass).
	e.noRoutes[v] = len(items) == 0 && len(have) == 0
	m, _ := e.ex.Tree.Get(path)
	var ws []wantRoute
	for _, si := range items {
		var it routeItem
		if err := engine.Decode(m, si, &it); err != nil {
			e.routeState(path, si.ID, routeView{reason: err.Error()})
			continue
		}
		if it.Disabled {
			e.ex.State.Set(path, si.ID, control.ItemState{Props: map[string]string{"static": "yes"}})
			continue
		}
		if t := it.RoutingTable; t != "" && t != "main" {
			id, err := routing.TableID(e.ex, t)
			if err != nil {
				e.routeState(path, si.ID, routeView{reason: err.Error()})
				continue
			}
			it.RoutingTable = strconv.Itoa(id)
		}
		w, err := wanted(si.ID, it, v, byName)
		if err == nil && w.gw.table != "" {
			w.via, err = routing.TableID(e.ex, w.gw.table)
		}
		if err != nil {
			e.routeState(path, si.ID, routeView{reason: err.Error()})
			continue
		}
		ws = append(ws, w)
	}
	checks := map[gwKey]bool{}
	res := resolveRoutes(ws, kernelCandidates(kern), func(i int, r resolution) bool {
		k, ok := e.checkKey(ws[i], r)
		return ok && e.gw.down(k)
	})
	for i, w := range ws {
		if k, ok := e.checkKey(w, res[i]); ok {
			checks[k] = true
		}
	}
	e.gw.setTargets(v, checks)
	isActive := map[int]bool{}
	for _, i := range activeOf(ws, res) {
		isActive[i] = true
	}
	linkName := func(index int) string {
		if l := byIndex[index]; l != nil {
			return e.names.Of(l.Attrs())
		}
		return ""
	}
	want := map[routeKey]bool{}
	type applied struct {
		members []int
		key     routeKey
	}
	var done []applied
	var jobs []replaceJob
	// Routes of one table, destination and distance are one kernel route: routes with
	// gateways are equal-cost paths (ECMP) of one multipath route, as RouterOS 7 makes
	// them active together; any other repeats only the first.
	groups := map[routeKey][]int{}
	var order []routeKey
	routes := make([]*netlink.Route, len(ws))
	for i, w := range ws {
		r := res[i]
		view := routeView{gwStatus: gatewayStatus(w, r, linkName), note: checkNote(w, v)}
		if !r.ok || r.down {
			// Not installed, and not invalid either: RouterOS shows a route whose
			// gateway it cannot reach (none of its networks has it, its interface is
			// disabled, check-gateway failed) inactive, and takes it again once it can.
			view.note = "gateway unreachable"
			if r.down {
				view.note += " (check-gateway=" + w.it.CheckGateway + ")"
			}
			e.routeState(path, w.id, view)
			continue
		}
		if s := w.it.PrefSrc; s != "" && !e.isLocal(v, s) {
			// The kernel answers "invalid argument", which reads as a bad gateway.
			view.reason = "pref-src " + s + " is not an address of this router"
			e.routeState(path, w.id, view)
			continue
		}
		routes[i] = desiredRoute(w, r, v)
		k := keyOf(routes[i])
		if g := groups[k]; len(g) > 0 && (w.it.Blackhole || ws[g[0]].it.Blackhole) {
			view.reason = "another route has the same dst-address, distance and routing-table"
			e.routeState(path, w.id, view)
			continue
		}
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		g := groups[k]
		d := routes[g[0]]
		if len(g) > 1 {
			d = multipath(d, g, res)
		}
		want[k] = true
		if cur, ok := have[k]; !ok || !sameRoute(cur, d) {
			jobs = append(jobs, replaceJob{members: g, key: k, route: d})
			continue
		}
		done = append(done, applied{g, k})
	}
	changed := len(jobs) > 0
	unreachable, installed := false, false
	for _, j := range e.replaceRoutes(jobs) {
		if j.err != nil {
			// A gateway the kernel finds unreachable is a steady state, not a passing
			// refusal: the route stays inactive until a link, address or route changes,
			// whose events kick a pass (RouterOS: inactive until the gateway is
			// reachable). Polling for it would ask the kernel every 5 s forever.
			if errors.Is(j.err, syscall.ENETUNREACH) {
				unreachable = true
			} else {
				e.refused()
			}
			delete(want, j.key)
			for _, i := range j.members {
				e.routeState(path, ws[i].id, routeView{reason: routeError(j.err), gwStatus: gatewayStatus(ws[i], res[i], linkName)})
			}
			continue
		}
		installed = true
		done = append(done, applied{j.members, j.key})
	}
	if unreachable && installed {
		// A route this pass installed may be what reaches the gateway, and the events
		// of our own routes kick no pass: one more pass tries again.
		e.refused()
	}
	if changed {
		// One more dump tells which interface a route the kernel resolved took.
		if kern, err = e.listRoutes(v); err == nil {
			for i := range kern {
				if kern[i].Protocol == Proto {
					have[keyOf(&kern[i])] = &kern[i]
				}
			}
		}
	}
	for _, a := range done {
		for _, i := range a.members {
			w, r := ws[i], res[i]
			if k := have[a.key]; r.link == 0 && !w.it.Blackhole && k != nil {
				r.link = k.LinkIndex
				for _, nh := range k.MultiPath {
					if g, ok := netip.AddrFromSlice(nh.Gw); ok && g.Unmap() == r.nh {
						r.link = nh.LinkIndex
					}
				}
			}
			e.routeState(path, w.id, routeView{active: isActive[i] || len(a.members) > 1, ecmp: len(a.members) > 1,
				immediate: immediateGw(r, linkName), gwStatus: gatewayStatus(w, r, linkName), note: checkNote(w, v)})
		}
	}
	// A route no item wants any more that the kernel keeps has no item to show it on:
	// it is the pass's error, tried again next pass.
	var errs []error
	for k, r := range have {
		if !want[k] {
			if err := e.h.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) && !errors.Is(err, syscall.ENODEV) {
				errs = append(errs, fmt.Errorf("removing route %s: %w", k.dst, err))
			}
		}
	}
	return errors.Join(errs...)
}

// isLocal reports whether addr is an address of this router (of any interface): the
// kernel takes no other as a route's pref-src. When the addresses cannot be read, the
// kernel decides.
func (e *Engine) isLocal(v int, addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return true
	}
	kern, err := e.localAddrs(family(v))
	if err != nil {
		return true
	}
	for _, a := range kern {
		if a.prefix.Addr() == ip.Unmap() {
			return true
		}
	}
	return false
}

// checkKey is the gateway check a route asks for (false: none): ping pings the gateway
// out of the interface the route resolved to; arp asks for the next hop there.
func (e *Engine) checkKey(w wantRoute, r resolution) (gwKey, bool) {
	if !r.ok || w.it.Blackhole {
		return gwKey{}, false
	}
	switch w.it.CheckGateway {
	case "ping":
		if !w.gw.ip.IsValid() {
			return gwKey{}, false // an interface gateway has no address to ping
		}
		return gwKey{kind: "ping", addr: w.gw.ip, link: r.link}, true
	case "arp":
		if !r.nh.Is4() || r.link == 0 {
			return gwKey{}, false
		}
		k := gwKey{kind: "arp", addr: r.nh, link: r.link}
		if kern, err := e.localAddrs(unix.AF_INET); err == nil {
			for _, a := range kern {
				if a.index == r.link && a.prefix.Masked().Contains(r.nh) {
					k.src = a.prefix.Addr()
					break
				}
			}
		}
		return k, true
	}
	return gwKey{}, false
}

// checkNote is the status of a check-gateway this engine does not run.
func checkNote(w wantRoute, v int) string {
	switch c := w.it.CheckGateway; {
	case c == "bfd" || c == "bfd-multihop":
		return "check-gateway=" + c + ": no BFD here, the gateway is not checked"
	case c == "arp" && v == 6:
		return "check-gateway=arp: IPv6 has no ARP, the gateway is not checked (use ping)"
	case c == "ping" && !w.gw.ip.IsValid() && !w.it.Blackhole:
		return "check-gateway=ping: an interface gateway has no address to ping, not checked"
	}
	return ""
}

func routeError(err error) string {
	switch {
	case errors.Is(err, syscall.ENETUNREACH):
		return "gateway unreachable"
	case errors.Is(err, syscall.EINVAL):
		return "kernel refused the route (invalid gateway?): " + err.Error()
	}
	return "cannot install route: " + err.Error()
}

// routeView is what print shows of a route of ours beside its configuration.
type routeView struct {
	active    bool
	ecmp      bool   // one of several equal-cost paths
	reason    string // why it is not installed (invalid)
	immediate string // immediate-gw
	gwStatus  string // gateway-status
	note      string // a status beside an applied route
}

func (e *Engine) routeState(path string, id uint64, v routeView) {
	p := map[string]string{"static": "yes"}
	if v.immediate != "" {
		p["immediate-gw"] = v.immediate
	}
	if v.gwStatus != "" {
		p["gateway-status"] = v.gwStatus
	}
	if v.ecmp {
		p["ecmp"] = "yes"
	}
	if v.reason != "" {
		p["inactive"] = "yes" // the I flag; invalid stays set for what reads item state
	}
	st := control.ItemState{Active: v.active, Invalid: v.reason != "", Status: v.reason, Props: p}
	if st.Status == "" {
		st.Status = v.note
	}
	e.ex.State.Set(path, id, st)
}

// routeRows lists the kernel routes routerd did not install (connected, kernel, other
// daemons), as dynamic rows; the local table is left out as RouterOS does.
func (e *Engine) routeRows(v int) ([]control.Row, error) {
	kern, err := e.listRoutes(v)
	if err != nil {
		return nil, control.Failure("cannot list routes: %v", err)
	}
	byIndex, _, err := e.linkNames()
	if err != nil {
		return nil, control.Failure("cannot list routes: %v", err)
	}
	var rows []control.Row
	ipsec := ipsecTables()
	for i := range kern {
		r := &kern[i]
		if r.Protocol == Proto || r.Table == unix.RT_TABLE_LOCAL || (r.Type != unix.RTN_UNICAST && r.Type != unix.RTN_BLACKHOLE) {
			continue
		}
		if ipsec[r.Table] {
			continue
		}
		if v == 6 && r.Dst != nil && r.Dst.IP.IsMulticast() {
			continue
		}
		k := keyOf(r)
		ifName := ""
		if l := byIndex[r.LinkIndex]; l != nil {
			ifName = e.names.Of(l.Attrs())
		}
		gw := ifName
		if r.Gw != nil {
			gw = r.Gw.String()
		}
		connect := r.Protocol == unix.RTPROT_KERNEL && r.Gw == nil
		p := map[string]string{"dst-address": k.dst.String(), "gateway": gw, "distance": strconv.Itoa(r.Priority),
			"routing-table": tableName(r.Table), "immediate-gw": ifName, "dynamic": "yes", "disabled": "no",
			"blackhole": "no", "scope": strconv.Itoa(int(r.Scope)), "target-scope": "10"}
		if r.Src != nil {
			p["pref-src"] = r.Src.String()
		}
		fl := "DA" // in the menu's order, as RouterOS 7 prints DAc
		if connect {
			p["connect"] = "yes"
			p["distance"] = "0"
			fl += "c"
		}
		if r.Type == unix.RTN_BLACKHOLE {
			p["blackhole"] = "yes"
			fl += "B"
		}
		rows = append(rows, control.Row{ID: e.dynID(fmt.Sprintf("r%d/%d/%s/%d", v, k.table, k.dst, k.metric)), Props: p, Flags: fl})
	}
	return rows, nil
}

// ipsecTables are the userspace IPsec data path's own routing tables (ike/esp: steering
// routes, selector routes, blackhole and throw backstops; 220-222). RouterOS's IPsec adds
// no routes: they are its mechanism, not the operator's routes, so /ip route and /ipv6
// route (print, count-only, export, the API, REST) do not list them, and nothing can
// remove or set them there (QA: they printed as active dynamic routes). Taken once per
// listing: esp.DefaultConfig builds a whole configuration.
func ipsecTables() map[int]bool {
	c := esp.DefaultConfig()
	return map[int]bool{c.Table: true, c.SelectorTable(): true, c.BackstopTable(): true}
}

type replaceJob struct {
	members []int // the route items the kernel route is made of
	key     routeKey
	route   *netlink.Route
	err     error
}

// replaceRoutes installs the routes of jobs and returns the jobs with their errors.
func (e *Engine) replaceRoutes(jobs []replaceJob) []replaceJob {
	rs := make([]*netlink.Route, len(jobs))
	for i := range jobs {
		rs[i] = jobs[i].route
	}
	for i, err := range e.h.RoutesReplace(rs) {
		jobs[i].err = err
	}
	return jobs
}
