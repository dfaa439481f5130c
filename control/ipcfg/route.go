package ipcfg

import (
	"errors"
	"fmt"
	"log/slog"
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
)

// gateway is a parsed gateway= value: an address, an interface, or address%interface.
type gateway struct {
	ip    netip.Addr
	iface string
}

func parseGateway(s string) (gateway, error) {
	if s == "" {
		return gateway{}, nil
	}
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
}

// desiredRoute builds the kernel route of an item, or says why it cannot be built.
func desiredRoute(it routeItem, v int, byName map[string]netlink.Link) (*netlink.Route, error) {
	dst, err := netip.ParsePrefix(dstOf(it, v))
	if err != nil {
		return nil, fmt.Errorf("bad dst-address: %w", err)
	}
	dst = dst.Masked()
	r := &netlink.Route{
		Dst:      &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), dst.Addr().BitLen())},
		Priority: it.Distance,
		Table:    tableID(it.RoutingTable),
		Protocol: Proto,
		Family:   family(v),
	}
	if it.Blackhole {
		r.Type = unix.RTN_BLACKHOLE
		return r, nil
	}
	gw, err := parseGateway(it.Gateway)
	if err != nil {
		return nil, fmt.Errorf("bad gateway: %w", err)
	}
	if !gw.ip.IsValid() && gw.iface == "" {
		return nil, errors.New("no gateway")
	}
	if gw.iface != "" {
		l, ok := byName[gw.iface]
		if !ok {
			return nil, fmt.Errorf("interface %s not present", gw.iface)
		}
		r.LinkIndex = l.Attrs().Index
	}
	if gw.ip.IsValid() {
		r.Gw = gw.ip.AsSlice()
	} else {
		r.Scope = netlink.SCOPE_LINK
	}
	if s := it.PrefSrc; s != "" {
		r.Src = net.ParseIP(s)
	}
	return r, nil
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
	return routeType(k.Type) == routeType(d.Type) && k.Gw.Equal(d.Gw) && (d.LinkIndex == 0 || k.LinkIndex == d.LinkIndex) &&
		k.Src.Equal(d.Src)
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

// applyRoutes converges the routes of one family.
func (e *Engine) applyRoutes(v int, byIndex map[int]netlink.Link, byName map[string]netlink.Link) error {
	path := routePath(v)
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
	want := map[routeKey]bool{}
	type applied struct {
		id  uint64
		key routeKey
	}
	var active []applied
	var jobs []replaceJob
	m, _ := e.ex.Tree.Get(path)
	for _, si := range items {
		var it routeItem
		if err := engine.Decode(m, si, &it); err != nil {
			e.routeState(path, si.ID, false, err.Error(), "")
			continue
		}
		if it.Disabled {
			e.ex.State.Set(path, si.ID, control.ItemState{Props: map[string]string{"static": "yes"}})
			continue
		}
		if t := it.RoutingTable; t != "" && t != "main" {
			id, err := routing.TableID(e.ex, t)
			if err != nil {
				e.routeState(path, si.ID, false, err.Error(), "")
				continue
			}
			it.RoutingTable = strconv.Itoa(id)
		}
		d, err := desiredRoute(it, v, byName)
		if err != nil {
			e.routeState(path, si.ID, false, err.Error(), "")
			continue
		}
		k := keyOf(d)
		if want[k] {
			e.routeState(path, si.ID, false, "another route has the same dst-address, distance and routing-table", "")
			continue
		}
		want[k] = true
		if cur, ok := have[k]; !ok || !sameRoute(cur, d) {
			jobs = append(jobs, replaceJob{id: si.ID, key: k, route: d})
			continue
		}
		active = append(active, applied{si.ID, k})
	}
	changed := len(jobs) > 0
	for _, j := range e.replaceRoutes(jobs) {
		if j.err != nil {
			delete(want, j.key)
			e.routeState(path, j.id, false, routeError(j.err), "")
			continue
		}
		active = append(active, applied{j.id, j.key})
	}
	if changed {
		// One more dump tells which interface each installed route resolved to.
		if kern, err = e.listRoutes(v); err == nil {
			for i := range kern {
				if kern[i].Protocol == Proto {
					have[keyOf(&kern[i])] = &kern[i]
				}
			}
		}
	}
	for _, a := range active {
		gwIf := ""
		if r := have[a.key]; r != nil {
			if l := byIndex[r.LinkIndex]; l != nil {
				gwIf = e.names.Of(l.Attrs())
			}
		}
		e.routeState(path, a.id, true, "", gwIf)
	}
	for k, r := range have {
		if !want[k] {
			if err := e.h.RouteDel(r); err != nil && !errors.Is(err, syscall.ESRCH) {
				slog.Warn("ipcfg: removing route", "dst", k.dst, "err", err)
			}
		}
	}
	return nil
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

func (e *Engine) routeState(path string, id uint64, active bool, reason, gwIf string) {
	p := map[string]string{"static": "yes"}
	if gwIf != "" {
		p["immediate-gw"] = gwIf
	}
	e.ex.State.Set(path, id, control.ItemState{Active: active, Invalid: reason != "", Status: reason, Props: p})
}

// routeRows lists the kernel routes routerd did not install (connected, kernel, other
// daemons), as dynamic rows; the local table is left out as RouterOS does.
func (e *Engine) routeRows(v int) ([]control.Row, error) {
	kern, err := e.listRoutes(v)
	if err != nil {
		return nil, control.Failure("cannot list routes: %v", err)
	}
	byIndex, _ := e.linkNames()
	var rows []control.Row
	for i := range kern {
		r := &kern[i]
		if r.Protocol == Proto || r.Table == unix.RT_TABLE_LOCAL || (r.Type != unix.RTN_UNICAST && r.Type != unix.RTN_BLACKHOLE) {
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
		fl := "AD"
		if connect {
			p["connect"] = "yes"
			p["distance"] = "0"
			fl += "C"
		}
		if r.Type == unix.RTN_BLACKHOLE {
			p["blackhole"] = "yes"
			fl += "B"
		}
		rows = append(rows, control.Row{ID: e.dynID(fmt.Sprintf("r%d/%d/%s/%d", v, k.table, k.dst, k.metric)), Props: p, Flags: fl})
	}
	return rows, nil
}

type replaceJob struct {
	id    uint64
	key   routeKey
	route *netlink.Route
	err   error
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
