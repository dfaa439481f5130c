package esp

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A full tunnel (an encrypt policy of level require or unique to 0.0.0.0/0 or ::/0) cannot
// have its backstop in Table: the catch-all rule sends every packet of the host there,
// whatever its source, so a blackhole default would take the traffic of no policy too
// (the router's own ssh replies, forwarding between other LANs) whenever the steering
// route is missing, and all of it while routerd is down. Its packets are told apart by
// their source instead:
//
//	RulePriority-1: from src lookup BackstopTable   (one per source of such a policy)
//
// BackstopTable holds the policy's steering route (the same as in Table), a blackhole
// default of the lowest preference beneath it (the backstop), and a copy of Table's
// throw routes (the connected networks, the IKE peer, none policies). While the steering
// route is there, the policy's packets go where Table would send them; while it is
// missing (routerd stopped, crashed or starting, the device deleted) they are dropped,
// except what Table would throw back to the main lookup anyway. Other sources never
// meet the blackhole. The rule lies in the steering rules' span, which marked packets
// (RulePriority-2) and outer ones (bypassrules.go) jump over. The host's own unbound
// packets, looked up from 0.0.0.0, match no such rule: see ownRules below.
// Like the other backstops, the table's blackholes and throws and the rules to it
// outlive the process and are adopted by the next Open.
//
// A full tunnel that selects a protocol or ports (dst-address=0.0.0.0/0 protocol=tcp
// dst-port=443) is one too: its rule here carries the same ipproto, sport and dport as
// its selector rule, so only its sources' packets of that protocol and port meet the
// blackhole. Its selector rule (selrules.go) cannot take the backstop instead: it leaves
// out the source where that holds a host address, and SelectorTable's blackhole default
// would then drop every packet of the protocol and port the host sends or forwards,
// whatever its source, while routerd is down. Both rules lead to the steering route while
// routerd runs; while it is not, SelectorTable has no route for the packet and the lookup
// goes on to this rule.

// BackstopTable is the routing table of the full tunnels' backstops.
func (c Config) BackstopTable() int {
	if c.Table == 0 {
		return DefaultConfig().Table + 2
	}
	return c.Table + 2
}

// fullTunnel says whether p, an outbound policy, needs the source-conditioned backstop.
func fullTunnel(p *Policy) bool {
	return p.Dir == DirOut && p.Action == ActionEncrypt && p.Level != LevelUse && p.Dst.Bits() == 0
}

// backstopRule is the rule that sends a full tunnel's packets (those from p.Src, of its
// protocol and ports) to BackstopTable (fullTunnel(p) holds).
func (u *userspace) backstopRule(p *Policy) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = ipFamily(p.Dst.Addr().Is4())
	r.Priority = u.cfg.RulePriority - 1
	r.Table = u.cfg.BackstopTable()
	if p.Src.Bits() > 0 && p.Src.Addr().Is6() == p.Dst.Addr().Is6() {
		r.Src = prefixNet(p.Src.Masked())
	}
	ruleSelectors(r, p)
	return r
}

// mirrorThrows copies want's throw routes in Table into BackstopTable for the families
// that have a full tunnel's backstop there (v4, v6): a packet thrown there goes on to
// Table's rule, where it meets the same throw and so the main lookup.
func (u *userspace) mirrorThrows(want map[string]netlink.Route, v4, v6 bool) {
	bt := u.cfg.BackstopTable()
	var add []netlink.Route
	for _, r := range want {
		if r.Table != u.cfg.Table || r.Type != unix.RTN_THROW || r.Dst == nil {
			continue
		}
		if is4 := r.Dst.IP.To4() != nil; (is4 && v4) || (!is4 && v6) {
			add = append(add, r)
		}
	}
	for _, r := range add {
		if p, ok := netPrefix(r.Dst); ok {
			r.Table = bt
			want[routeKey(bt, p)] = r
		}
	}
}

// netPrefix is n as a prefix (IPv4 unmapped).
func netPrefix(n *net.IPNet) (netip.Prefix, bool) {
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}

// The rule above holds a full tunnel's packets by their source, which the host's own
// packets have not got yet: a socket that is not bound is routed from 0.0.0.0 (::), and
// the source comes from the route found. While routerd runs that is the catch-all's
// steering route, whose source is the host's address inside the policy's src-address
// (steeringRoute), so the host's own traffic goes into the tunnel, a routing-marked
// socket's too (the catch-all only lets the bypass mark by); while routerd is down or
// starting the steering route is missing and the main table's default (or the routing
// mark's table, rule 2000) would give it the WAN address and send it in the clear. So
// where a full tunnel's src-address holds an address of the host, more rules, after the
// catch-all and the bypass rules' target:
//
//	222: fwmark BypassMark/BypassMark goto 224          outer packets, the bypass socket
//	222: from 0.0.0.0/32 to <dst> [proto/ports] goto 224 a none policy the host's own traffic
//	                                                     meets first (IPv6: iif lo to <dst>)
//	222: from ::/1 goto 224, from 8000::/1 goto 224      IPv6 lookups with a source, where
//	                                                     the hold route is in place (hold6.go)
//	223: from 0.0.0.0/32 [proto/ports] lookup BackstopTable   IPv4, one per full tunnel
//	223: iif lo [proto/ports] lookup BackstopTable            IPv6
//	224: nop
//
// They meet only what table 220 let through (its throws, or everything while its
// steering route is missing), so a more specific policy's route or throw there wins as
// before. In BackstopTable the host's own lookups find the steering route while routerd
// runs, the throws (connected networks, the peer, none policies without a source) and,
// while the steering route is missing, the blackhole.
//
// IPv4 selects the lookups without a source, which are the host's own (a forwarded
// packet with source 0.0.0.0 is a martian, dropped before any rule); a socket bound to
// an address (the WAN address's replies, IKE with a local-address) is looked up from it
// and never meets the rule. IPv6 cannot: an IPv6 rule with a source never matches a
// lookup without one, and where the lookup without a source ends in an error (the
// blackhole) the kernel picks a source among all of the host's addresses, whatever the
// route's (ip6_dst_lookup_tail), and looks up again with it: from the WAN address, as a
// bound socket's lookup. So IPv6 holds all of the host's own lookups (iif lo selects the
// locally generated ones), and where BackstopTable has the hold route (hold6.go: a route
// that drops, with the LAN source, which is no error) the lookups with a source skip the
// hold: while routerd is down the WAN address's own IPv6 passes, the unbound sockets' is
// dropped with the LAN source. Without the hold route (a cold start before the LAN
// address is applied, no IFB in the kernel) the host's IPv6 from any address of its own
// reaches only the connected networks, the peer and none policies' destinations while
// routerd is down. While routerd runs nothing changes: the catch-all took them before.
//
// A routing mark does not skip the hold (it did before, fwmark 0/0xfff00000): while
// routerd runs the catch-all sends the routing-marked socket's traffic into the tunnel
// like any other, with the policy's source, so it must not leave in the clear by its
// routing table while routerd is down. The bypass mark skips it by the first rule.
//
// A none policy before the full tunnels (an exception carved out of the tunnel: src the
// LAN, dst one network) whose src-address holds the host's source passes the host's own
// traffic to its destination while routerd runs (into the device, matched, sent on in
// the clear); its rule at 222 does the same while routerd is down. A throw in
// BackstopTable could not: every source of the full tunnels meets it.
const (
	ownSkipPriority = 222
	ownPriority     = 223
	ownEndPriority  = 224
)

// ownKey keys the rules above among the backstop rules (bsRules), apart from ruleKey's;
// a rule made here and the same rule listed by the kernel have one key.
func ownKey(r *netlink.Rule) string {
	var mask uint32
	if r.Mask != nil {
		mask = *r.Mask
	}
	table := max(r.Table, 0)
	return fmt.Sprintf("own %d %d goto %d table %d iif %q mark %#x/%#x %s", r.Priority, r.Family, r.Goto, table, r.IifName,
		r.Mark, mask, ruleKey(r))
}

// isOwnRule says whether r, listed by the kernel in family fam, is one of the rules above
// (or the one rule 222 of an earlier version: from 0.0.0.0 fwmark 0/BypassMark lookup
// BackstopTable, which the first sync removes).
func (u *userspace) isOwnRule(r *netlink.Rule) bool {
	switch r.Priority {
	case ownSkipPriority:
		return r.Goto == ownEndPriority || r.Table == u.cfg.BackstopTable()
	case ownPriority:
		return r.Table == u.cfg.BackstopTable()
	case ownEndPriority:
		return r.Table <= 0 && r.Goto < 0 && r.Src == nil && r.Dst == nil && r.IifName == "" && r.Mark == 0
	}
	return false
}

// ownSelect makes r select the host's own lookups of its family: IPv4's without a source,
// all of IPv6's (see above).
func ownSelect(r *netlink.Rule, v4 bool) {
	r.Family = ipFamily(v4)
	if v4 {
		r.Src = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(32, 32)}
		return
	}
	r.IifName = "lo"
}

// ownRules are the rules above for the policies ps (in their order) and the host's
// addresses local (those applied, or, before they are, those stored), by ownKey.
// With hold6 (the hold route is in place, hold6.go) the host's IPv6 lookups with a source
// skip the hold.
func (u *userspace) ownRules(ps []Policy, local []netip.Prefix, hold6 bool) map[string]*netlink.Rule {
	out := map[string]*netlink.Rule{}
	add := func(r *netlink.Rule) { out[ownKey(r)] = r }
	for _, v4 := range []bool{true, false} {
		// src: the host's own traffic's source while routerd runs, the first holding full
		// tunnel's (the steering route is the first full tunnel's).
		var src netip.Addr
		for i := range ps {
			p := &ps[i]
			if p.Dst.Addr().Is4() != v4 {
				continue
			}
			if a, ok := ownSource(p, local); ok {
				if !src.IsValid() {
					src = a
				}
				r := netlink.NewRule()
				r.Priority, r.Table = ownPriority, u.cfg.BackstopTable()
				ownSelect(r, v4)
				ruleSelectors(r, p)
				add(r)
			}
		}
		if !src.IsValid() {
			continue
		}
		skip := netlink.NewRule()
		skip.Priority, skip.Goto = ownSkipPriority, ownEndPriority
		skip.Family = ipFamily(v4)
		m := u.cfg.BypassMark
		skip.Mark, skip.Mask = m, &m
		add(skip)
		end := netlink.NewRule()
		end.Family, end.Priority, end.Type, end.Table = skip.Family, ownEndPriority, unix.FR_ACT_NOP, -1
		add(end)
		if !v4 && hold6 {
			for _, r := range holdSkips() {
				add(r)
			}
		}
		for i := range ps {
			p := &ps[i]
			if p.Dir != DirOut || p.Dst.Addr().Is4() != v4 || !p.Src.Contains(src) {
				continue
			}
			if p.Action == ActionEncrypt && p.Dst.Bits() == 0 && p.Protocol == 0 && p.SrcPort == 0 && p.DstPort == 0 {
				break // a full tunnel takes all of the host's own traffic from here on
			}
			if p.Action == ActionNone {
				r := netlink.NewRule()
				r.Priority, r.Goto = ownSkipPriority, ownEndPriority
				ownSelect(r, v4)
				if p.Dst.Bits() > 0 {
					r.Dst = prefixNet(p.Dst.Masked())
				}
				ruleSelectors(r, p)
				add(r)
			}
		}
	}
	return out
}

// ownSrc is the host's own traffic's source in the family of v4 while routerd runs (the
// first holding full tunnel's), if one holds it.
func ownSrc(ps []Policy, local []netip.Prefix, v4 bool) netip.Addr {
	for i := range ps {
		if ps[i].Dst.Addr().Is4() == v4 {
			if a, ok := ownSource(&ps[i], local); ok {
				return a
			}
		}
	}
	return netip.Addr{}
}

// ownSource is the host's address (of local) inside p's src-address where p is a full
// tunnel that holds the host's own traffic.
func ownSource(p *Policy, local []netip.Prefix) (netip.Addr, bool) {
	if !fullTunnel(p) || p.Src.Addr().Is4() != p.Dst.Addr().Is4() {
		return netip.Addr{}, false
	}
	for _, a := range local {
		if ip := a.Addr().Unmap(); !ip.IsLoopback() && p.Src.Contains(ip) {
			return ip, true
		}
	}
	return netip.Addr{}, false
}
