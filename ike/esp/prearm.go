package esp

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

// PrearmBackstops installs the backstops of the policies ps on the userspace path, and
// the ip rules that lead to their tables, without opening the data path (no TUN device,
// no steering routes), in the calling thread's network namespace. A host that boots has
// nothing of them in the kernel, and the owner applies addresses and routes before its
// IPsec engine opens the data path: calling this first, with the stored policies, drops
// their traffic from the first moment instead of routing it in the clear. It only adds:
// what an earlier run left stays (policies generated at run time, a tunnel's, are not
// among ps), Open adopts it all, and the data path's first policies remove what they do
// not want. Where Probe picks the kernel path (and Force does not say otherwise) there
// is nothing to do.
//
// local are the host's addresses as configured (with their prefix lengths), which a host
// that boots has not applied yet: where a full tunnel's src-address holds one, the host's
// own traffic is held too (ownRules), and BackstopTable gets the throws of their
// networks, so that what the engines send to the connected networks before the data
// path's first policies (which make the throws of the addresses then applied) is not
// dropped. ps may hold none policies (only those): where one comes before the full
// tunnels and its src-address holds the host's source, the host's own traffic to its
// destination passes (ownRules), as it will once the data path runs; where one has a
// src-address and no earlier encrypt policy overlaps it, its sources' traffic passes too
// (noneRules).
func PrearmBackstops(cfg Config, ps []Policy, local []netip.Prefix) error {
	cfg = cfg.withDefaults()
	var ours []Policy
	for _, p := range ps {
		if p.Dir == DirOut && p.Action == ActionEncrypt && p.Level != LevelUse && (p.Dst.Bits() > 0 || fullTunnel(&p)) {
			ours = append(ours, p)
		}
	}
	if len(ours) == 0 {
		return nil
	}
	if k := cfg.Force; k == KindKernel || k == "" && Probe().Kind != KindUserspace {
		return nil
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("esp: netlink: %w", err)
	}
	defer h.Close()
	u := &userspace{cfg: cfg, nl: h}
	// As on the data path: the routes before the rules that lead to them.
	var errs error
	var rules []*netlink.Rule
	tables := map[int]bool{}
	for i := range ours {
		p := &ours[i]
		dst, table := p.Dst.Masked(), u.policyTable(p)
		var r *netlink.Rule
		switch {
		case fullTunnel(p):
			table, r = cfg.BackstopTable(), u.backstopRule(p)
		case selects(p):
			r = u.selectorRule(p)
		}
		bs := backstop(dst, table)
		if err := u.nl.RouteReplace(&bs); err != nil {
			errs = errors.Join(errs, fmt.Errorf("esp: backstop %s: %w", routeKey(table, dst), err))
			continue
		}
		tables[table] = true
		if r != nil {
			rules = append(rules, r)
		}
	}
	if tables[cfg.BackstopTable()] {
		// Those addresses the kernel has already (routerd restarted, not a boot) too.
		if addrs, err := nldump.Retry(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) }); err == nil {
			for _, a := range addrs {
				if ip, ok := netip.AddrFromSlice(a.IP); ok && a.IPNet != nil {
					ones, _ := a.Mask.Size()
					local = append(local, netip.PrefixFrom(ip.Unmap(), ones))
				}
			}
		}
		var v4, v6 bool
		for i := range ours {
			if p := &ours[i]; fullTunnel(p) {
				v4, v6 = v4 || p.Dst.Addr().Is4(), v6 || p.Dst.Addr().Is6()
			}
		}
		// No hold route (hold6.go): its source is not applied yet at a cold start, and
		// an earlier run's stays with its skips.
		own := u.ownRules(ps, local, false)
		for _, a := range local {
			if a.Addr().IsLoopback() || !(a.Addr().Is4() && v4 || a.Addr().Is6() && v6) {
				continue
			}
			th := netlink.Route{Dst: prefixNet(a.Masked()), Table: cfg.BackstopTable(), Type: unix.RTN_THROW, Protocol: 4}
			if err := h.RouteReplace(&th); err != nil {
				errs = errors.Join(errs, fmt.Errorf("esp: throw %s: %w", routeKey(th.Table, a.Masked()), err))
			}
		}
		// The gotos' target first, then the skips, then the holds (byRank).
		for _, k := range byRank(own, false) {
			rules = append(rules, own[k])
		}
	}
	// The none policies' exceptions (nonerules.go): the nops first.
	none := noneRules(ps)
	for _, k := range byRank(none, false) {
		rules = append(rules, none[k])
	}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		if tables[cfg.Table] {
			rules = append(rules, u.rule(fam))
		}
		if tables[cfg.SelectorTable()] {
			rules = append(rules, u.bypassRule(fam))
		}
	}
	for _, r := range rules {
		if err := u.addRule(r); err != nil {
			errs = errors.Join(errs, fmt.Errorf("esp: ip rule %s: %w", r, err))
		}
	}
	return errs
}

// ClearBackstops removes what the userspace path leaves in the calling thread's network
// namespace when it closes or crashes (the backstops, a full tunnel's throws, the rules
// to their tables, the bypass rules) and what PrearmBackstops installed, for an owner
// whose data path does not open (no peer): nothing else would, and the destinations of
// policies that no longer apply would stay unreachable. Open is not to run at the same
// time. With nothing there it costs a dump of the rules and of three tables.
func ClearBackstops(cfg Config) error {
	cfg = cfg.withDefaults()
	if cfg.IKEPorts == nil {
		cfg.IKEPorts = DefaultConfig().IKEPorts
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return fmt.Errorf("esp: netlink: %w", err)
	}
	defer h.Close()
	u := &userspace{cfg: cfg, nl: h, routes: map[string]netlink.Route{}}
	if err := u.adoptBackstops(); err != nil {
		return err
	}
	if err := u.adoptRules(); err != nil {
		return err
	}
	// The rules before the routes they lead to.
	errs := errors.Join(u.closeSelectorRules(), u.closeRules(u.bsRules), u.closeRules(u.nRules), u.delBypassRules())
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		errs = errors.Join(errs, u.delRule(u.rule(fam)))
	}
	for k, r := range u.routes {
		if err := u.nl.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = errors.Join(errs, fmt.Errorf("esp: removing route %s: %w", k, err))
		}
	}
	return errors.Join(errs, u.delHoldLink())
}

// withDefaults fills what cfg leaves unset from DefaultConfig for the device, the
// steering tables, rules and mark.
func (c Config) withDefaults() Config {
	def := DefaultConfig()
	if c.TunName == "" {
		c.TunName = def.TunName
	}
	if c.MTU == 0 {
		c.MTU = def.MTU
	}
	if c.Table == 0 {
		c.Table = def.Table
	}
	if c.RulePriority == 0 {
		c.RulePriority = def.RulePriority
	}
	if c.BypassMark == 0 {
		c.BypassMark = def.BypassMark
	}
	return c
}
