package esp

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// refusingNL is the routing netlink of a kernel that refuses to remove some rules and
// routes (rootless: nothing reaches a kernel). Rules and routes not refused are "not
// there" (ENOENT, ESRCH), which is no error for a removal.
type refusingNL struct {
	refuseRule  func(*netlink.Rule) bool
	refuseRoute bool
	leftovers   []netlink.Rule
	added       []*netlink.Rule
}

func (f *refusingNL) AddrList(netlink.Link, int) ([]netlink.Addr, error) { return nil, nil }
func (f *refusingNL) LinkByIndex(int) (netlink.Link, error)              { return nil, unix.ENODEV }
func (f *refusingNL) LinkByName(string) (netlink.Link, error)            { return nil, unix.ENODEV }
func (f *refusingNL) LinkAdd(netlink.Link) error                         { return unix.EPERM }
func (f *refusingNL) LinkDel(netlink.Link) error                         { return nil }
func (f *refusingNL) LinkSetIP6AddrGenMode(netlink.Link, int) error      { return nil }
func (f *refusingNL) LinkSetMTU(netlink.Link, int) error                 { return nil }
func (f *refusingNL) LinkSetUp(netlink.Link) error                       { return nil }
func (f *refusingNL) RouteGetWithOptions(net.IP, *netlink.RouteGetOptions) ([]netlink.Route, error) {
	return nil, unix.ENETUNREACH
}
func (f *refusingNL) RouteReplace(*netlink.Route) error { return nil }
func (f *refusingNL) RouteListFiltered(int, *netlink.Route, uint64) ([]netlink.Route, error) {
	return nil, nil
}
func (f *refusingNL) RouteDel(*netlink.Route) error {
	if f.refuseRoute {
		return unix.EBUSY
	}
	return unix.ESRCH
}
func (f *refusingNL) RuleAdd(r *netlink.Rule) error { f.added = append(f.added, r); return nil }
func (f *refusingNL) RuleDel(r *netlink.Rule) error {
	if f.refuseRule != nil && f.refuseRule(r) {
		return unix.EPERM
	}
	return unix.ENOENT
}
func (f *refusingNL) RuleList(fam int) ([]netlink.Rule, error) {
	var out []netlink.Rule
	for _, r := range f.leftovers {
		if r.Family == fam {
			out = append(out, r)
		}
	}
	return out, nil
}
func (f *refusingNL) Close() {}

// TestTeardownRefused: a steering route or rule the kernel refuses to remove at Close
// is Close's error (issue 10: none dropped; was `_ =`), so the ipsec engine's Close
// reports it; rules and routes already gone are no error.
func TestTeardownRefused(t *testing.T) {
	cfg := DefaultConfig()
	open := func(nl rtnl) *userspace {
		u := testUserspace()
		u.cfg, u.nl = cfg, nl
		u.routes = map[string]netlink.Route{"220 198.19.7.0/24": {Table: cfg.Table}}
		u.selRules = map[string]*netlink.Rule{}
		return u
	}
	if err := open(&refusingNL{}).Close(); err != nil {
		t.Fatalf("nothing refused, all gone already: %v", err)
	}
	err := open(&refusingNL{refuseRoute: true}).Close()
	if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), "198.19.7.0/24") {
		t.Fatalf("refused route removal: %v", err)
	}
	catchAll := func(r *netlink.Rule) bool { return r.Priority == cfg.RulePriority && r.Invert }
	err = open(&refusingNL{refuseRule: catchAll}).Close()
	if !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "ip rule") {
		t.Fatalf("refused catch-all rule removal: %v", err)
	}
	bypass := func(r *netlink.Rule) bool { return r.Priority == bypassLocal }
	if err := open(&refusingNL{refuseRule: bypass}).Close(); !errors.Is(err, unix.EPERM) {
		t.Fatalf("refused bypass rule removal: %v", err)
	}
}

// TestLeftoverRuleRefused: an earlier run's selector rule is adopted at open, not
// removed (it leads to the backstops a stop leaves, TestBackstopsOutliveClose), and the
// first policies without it remove it: a removal the kernel refuses is that sync's error
// instead of the rule staying unknown to this run; a rule replaced at open whose old copy
// cannot go is the error, not the add's "exists".
func TestLeftoverRuleRefused(t *testing.T) {
	cfg := DefaultConfig()
	left := netlink.NewRule()
	left.Family, left.Priority, left.Table = netlink.FAMILY_V4, cfg.RulePriority-1, cfg.SelectorTable()
	left.Dst = &net.IPNet{IP: net.IP{198, 18, 5, 1}, Mask: net.CIDRMask(32, 32)}
	refuse := func(r *netlink.Rule) bool { return r.Priority == cfg.RulePriority-1 }
	u := testUserspace()
	u.cfg = cfg
	u.nl = &refusingNL{leftovers: []netlink.Rule{*left}, refuseRule: refuse}
	if err := u.openSelectorRules(); err != nil {
		t.Fatalf("open with a leftover selector rule: %v", err)
	}
	if len(u.selRules) != 1 {
		t.Fatalf("leftover selector rule not adopted: %v", u.selRules)
	}
	if err := u.syncSelectorRules(nil); !errors.Is(err, unix.EPERM) || len(u.selRules) != 1 {
		t.Fatalf("refused removal of the adopted rule: %v, %d kept", err, len(u.selRules))
	}
	u.nl = &refusingNL{}
	if err := u.syncSelectorRules(nil); err != nil || len(u.selRules) != 0 {
		t.Fatalf("adopted rule not removed by the first policies: %v, %v", err, u.selRules)
	}
	f := &refusingNL{refuseRule: func(r *netlink.Rule) bool { return r.Priority == bypassPriority }}
	u.nl = f
	if err := u.addBypassRules(); !errors.Is(err, unix.EPERM) {
		t.Fatalf("old bypass rule refused: %v", err)
	}
	for _, r := range f.added {
		if r.Priority == bypassPriority {
			t.Fatalf("rule added over a copy that could not be removed: %v", r)
		}
	}
}
