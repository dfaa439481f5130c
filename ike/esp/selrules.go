package esp

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

// Policies with selectors beyond the destination: their routes cannot go into Table,
// which the catch-all rule opens to every packet of the host. A tunnel's ipsec-secret
// transport policy (protocol gre between the two endpoints) would then put a /32 to the
// peer there, and everything to the peer, the kernel's own resolution of a gateway
// included, would go into the TUN device: a static route via that peer became "via
// peer dev ipsec0" and was blackholed. XFRM only touches packets a policy selects, so
// these policies get rules that select as they do:
//
//	RulePriority-2: fwmark BypassMark/BypassMark goto RulePriority (outer packets skip)
//	RulePriority-1: to dst [from src] ipproto P [sport S] [dport D] lookup SelectorTable
//	                (one per outbound encrypt policy with a protocol or a port)
//	RulePriority:   not fwmark BypassMark/BypassMark lookup Table (the catch-all)
//
// from is left out where src holds an address of this host (the route then carries it
// as the source hint), so that the host's own unbound packets, looked up from 0.0.0.0,
// are matched. The tunnel encapsulator looks its outer packets up with their protocol
// (bpf/tunnel.c route_out), and an ipsec-secret tunnel looks up SelectorTable alone.

// SelectorTable is the routing table of the policies that select by protocol or port.
func (c Config) SelectorTable() int {
	if c.Table == 0 {
		return DefaultConfig().Table + 1
	}
	return c.Table + 1
}

// selects says whether an outbound encrypt policy needs a rule of its own.
func selects(p *Policy) bool {
	return p.Dir == DirOut && p.Action == ActionEncrypt && (p.Protocol != 0 || p.SrcPort != 0 || p.DstPort != 0)
}

// policyTable is the table of an outbound policy's route.
func (u *userspace) policyTable(p *Policy) int {
	if selects(p) {
		return u.cfg.SelectorTable()
	}
	return u.cfg.Table
}

// bypassRule skips the selector rules for packets with the bypass mark.
func (u *userspace) bypassRule(fam int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = fam
	r.Priority = u.cfg.RulePriority - 2
	r.Mark = u.cfg.BypassMark
	m := u.cfg.BypassMark
	r.Mask = &m
	r.Goto = u.cfg.RulePriority
	return r
}

// selectorRule is p's rule (selects(p) holds).
func (u *userspace) selectorRule(p *Policy) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = ipFamily(p.Dst.Addr().Is4())
	r.Priority = u.cfg.RulePriority - 1
	r.Table = u.cfg.SelectorTable()
	if p.Dst.Bits() > 0 {
		r.Dst = prefixNet(p.Dst.Masked())
	}
	if _, local := u.localAddrIn(p.Src); !local && p.Src.Bits() > 0 {
		r.Src = prefixNet(p.Src.Masked())
	}
	ruleSelectors(r, p)
	return r
}

// ruleSelectors makes r select p's protocol and ports.
func ruleSelectors(r *netlink.Rule, p *Policy) {
	r.IPProto = int(p.Protocol)
	if p.SrcPort != 0 {
		r.Sport = netlink.NewRulePortRange(p.SrcPort, p.SrcPort)
	}
	if p.DstPort != 0 {
		r.Dport = netlink.NewRulePortRange(p.DstPort, p.DstPort)
	}
}

func ruleKey(r *netlink.Rule) string {
	k := fmt.Sprintf("%d %v %v %d", r.Family, r.Src, r.Dst, r.IPProto)
	if r.Sport != nil {
		k += fmt.Sprintf(" sport %d", r.Sport.Start)
	}
	if r.Dport != nil {
		k += fmt.Sprintf(" dport %d", r.Dport.Start)
	}
	return k
}

// syncSelectorRules makes the selector rules those of ps (u.polMu held).
func (u *userspace) syncSelectorRules(ps []Policy) error {
	want := map[string]*netlink.Rule{}
	for i := range ps {
		if selects(&ps[i]) {
			r := u.selectorRule(&ps[i])
			want[ruleKey(r)] = r
		}
	}
	return u.syncRules(u.selRules, want)
}

// syncRules makes the rules have (selRules or bsRules, u.polMu held) those of want. New
// rules go in before the old leave (make before break): a packet of a policy being
// replaced meets one rule or the other, never neither (it would fall through to the main
// table and leave in the clear).
func (u *userspace) syncRules(have, want map[string]*netlink.Rule) error {
	var errs error
	for _, k := range byRank(want, false) {
		r := want[k]
		if _, ok := have[k]; ok {
			continue
		}
		if err := u.nl.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = errors.Join(errs, fmt.Errorf("esp: ip rule %s: %w", k, err))
			continue
		}
		have[k] = r
	}
	for _, k := range byRank(have, true) {
		r := have[k]
		if _, ok := want[k]; !ok {
			if err := u.nl.RuleDel(r); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = errors.Join(errs, fmt.Errorf("esp: ip rule %s: %w", k, err))
				continue
			}
			delete(have, k)
		}
	}
	return errs
}

// byRank are rs's keys in the order to add them (rev: to remove them): a goto's target
// (ownEndPriority's nop) before the gotos, and the gotos (the bypass mark's skip) before
// the lookups they skip, so that a rule never jumps nowhere (an unresolved goto is passed
// over) and an outer packet never meets a hold without its skip.
func byRank(rs map[string]*netlink.Rule, rev bool) []string {
	rank := func(r *netlink.Rule) int {
		switch {
		case r.Priority == ownEndPriority, r.Priority == noneEndPriority:
			return 0
		case r.Goto >= 0:
			return 1
		}
		return 2
	}
	ks := slices.Collect(maps.Keys(rs))
	slices.SortFunc(ks, func(a, b string) int {
		if rev {
			a, b = b, a
		}
		return cmp.Or(cmp.Compare(rank(rs[a]), rank(rs[b])), strings.Compare(a, b))
	})
	return ks
}

// openSelectorRules adopts the selector rules and the full tunnels' backstop rules an
// earlier run left (closeAll keeps them while their table holds backstops, so that a
// policy's packets are dropped, not sent in the clear, until this run's first policies;
// that first sync removes those no longer wanted) and adds the bypass rule.
func (u *userspace) openSelectorRules() error {
	if err := u.adoptRules(); err != nil {
		return err
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		if err := u.addRule(u.bypassRule(fam)); err != nil {
			return fmt.Errorf("esp: ip rule: %w", err)
		}
	}
	return nil
}

// adoptRules takes the selector rules and the full tunnels' backstop rules (ownRule's too)
// and the none policies' exceptions (nonerules.go) in the kernel as this run's.
func (u *userspace) adoptRules() error {
	u.selRules = map[string]*netlink.Rule{}
	u.bsRules = map[string]*netlink.Rule{}
	u.nRules = map[string]*netlink.Rule{}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rs, err := nldump.Retry(func() ([]netlink.Rule, error) { return u.nl.RuleList(fam) })
		if err != nil {
			return fmt.Errorf("esp: ip rules: %w", err)
		}
		for i := range rs {
			r := &rs[i]
			if u.isOwnRule(r) {
				r.Family = fam
				u.bsRules[ownKey(r)] = r
				continue
			}
			if isNoneRule(r) {
				r.Family = fam
				u.nRules[noneKey(r)] = r
				continue
			}
			if r.Priority != u.cfg.RulePriority-1 {
				continue
			}
			switch r.Table {
			case u.cfg.SelectorTable():
				r.Family = fam
				u.selRules[ruleKey(r)] = r
			case u.cfg.BackstopTable():
				r.Family = fam
				u.bsRules[ruleKey(r)] = r
			}
		}
	}
	return nil
}

// closeRules removes the rules rs (u.polMu held); it returns those the kernel refused
// to remove.
func (u *userspace) closeRules(rs map[string]*netlink.Rule) error {
	var errs error
	for _, k := range byRank(rs, true) {
		errs = errors.Join(errs, u.delRule(rs[k]))
	}
	return errs
}

// closeSelectorRules removes the selector rules and the bypass rule (u.polMu held); it
// returns those the kernel refused to remove.
func (u *userspace) closeSelectorRules() error {
	errs := u.closeRules(u.selRules)
	u.selRules = nil
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		errs = errors.Join(errs, u.delRule(u.bypassRule(fam)))
	}
	return errs
}

// delRule removes r; a rule that is not there (ENOENT) is no error.
func (u *userspace) delRule(r *netlink.Rule) error {
	if err := u.nl.RuleDel(r); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("esp: removing ip rule %s: %w", r, err)
	}
	return nil
}

// addRule adds r; a copy already there (an earlier run's) is no error.
func (u *userspace) addRule(r *netlink.Rule) error {
	if err := u.nl.RuleAdd(r); err != nil && !errors.Is(err, unix.EEXIST) {
		return err
	}
	return nil
}

// replaceRule adds r after removing an earlier run's copy: a copy the kernel refuses to
// remove is the error (the add would only say the rule exists).
func (u *userspace) replaceRule(r *netlink.Rule) error {
	if err := u.delRule(r); err != nil {
		return err
	}
	return u.nl.RuleAdd(r)
}

// rtnl is the routing netlink the userspace path uses: a *netlink.Handle, or in tests
// one that refuses what the test wants refused.
type rtnl interface {
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	LinkByIndex(index int) (netlink.Link, error)
	LinkByName(name string) (netlink.Link, error)
	LinkAdd(link netlink.Link) error
	LinkDel(link netlink.Link) error
	LinkSetIP6AddrGenMode(link netlink.Link, mode int) error
	LinkSetMTU(link netlink.Link, mtu int) error
	LinkSetUp(link netlink.Link) error
	RouteDel(route *netlink.Route) error
	RouteGetWithOptions(destination net.IP, options *netlink.RouteGetOptions) ([]netlink.Route, error)
	RouteListFiltered(family int, filter *netlink.Route, filterMask uint64) ([]netlink.Route, error)
	RouteReplace(route *netlink.Route) error
	RuleAdd(rule *netlink.Rule) error
	RuleDel(rule *netlink.Rule) error
	RuleList(family int) ([]netlink.Rule, error)
	Close()
}

// routeKey keys a route of the userspace path by table and destination.
func routeKey(table int, dst netip.Prefix) string { return fmt.Sprintf("%d %s", table, dst) }
