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
// packets, looked up from 0.0.0.0, match no such rule and take Table's route as before.
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
