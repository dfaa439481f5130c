package esp

import (
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
// packets, looked up from 0.0.0.0, match no such rule: see ownRule below.
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
	r.Family = netlink.FAMILY_V4
	if p.Dst.Addr().Is6() {
		r.Family = netlink.FAMILY_V6
	}
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
// packets have not got yet: a socket that is not bound is routed from 0.0.0.0, and the
// source comes from the route found. While routerd runs that is the catch-all's steering
// route, whose source is the host's address inside the policy's src-address (steeringRoute),
// so the host's own traffic goes into the tunnel; while routerd is down or starting the
// steering route is missing and the main table's default would give it the WAN address
// and send it in the clear. So where a full tunnel's src-address holds an address of the
// host, one more rule, after the catch-all and the bypass rules' target:
//
//	222: from 0.0.0.0/32 fwmark 0/BypassMark lookup BackstopTable
//
// It meets only what table 220 let through (its throws, or everything while its steering
// route is missing), so a more specific policy's route or throw there wins as before. It
// selects the lookups without a source, which are the host's own (a forwarded packet with
// source 0.0.0.0 is a martian, dropped before any rule), and without a mark in the routing
// field: outer packets carry the bypass mark, a routing mark goes on to its table (rule
// 2000, control/routing), and a socket bound to an address (the WAN address's replies,
// IKE with a local-address) is looked up from it and never meets the rule. In
// BackstopTable it finds the steering route while routerd runs, the throws (connected
// networks, the peer, none policies) and, while the steering route is missing, the
// blackhole. An IPv6 lookup without a source cannot be told apart by a rule (the kernel
// matches a rule's source against the one it would choose), so this is IPv4's.
const ownPriority = 222

// ownKey keys p's ownRule among the backstop rules (bsRules), apart from ruleKey's.
func ownKey(r *netlink.Rule) string { return "own " + ruleKey(r) }

// ownRule is the rule that sends the host's own unbound IPv4 lookups of p (a full tunnel
// for which holdsOwn holds) to BackstopTable: of its protocol and ports, as its
// backstopRule.
func (u *userspace) ownRule(p *Policy) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = netlink.FAMILY_V4
	r.Priority = ownPriority
	r.Table = u.cfg.BackstopTable()
	r.Src = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(32, 32)}
	m := u.cfg.BypassMark
	r.Mark, r.Mask = 0, &m
	ruleSelectors(r, p)
	return r
}

// holdsOwn says whether p, a full tunnel, needs ownRule: an IPv4 one whose src-address
// holds one of the host's addresses (local: those applied, or, before they are, those
// stored).
func holdsOwn(p *Policy, local []netip.Prefix) bool {
	if !fullTunnel(p) || !p.Dst.Addr().Is4() || !p.Src.Addr().Is4() {
		return false
	}
	for _, a := range local {
		if a.Addr().Is4() && !a.Addr().IsLoopback() && p.Src.Contains(a.Addr()) {
			return true
		}
	}
	return false
}
