package ipcfg

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/script"
)

// TestIPsecTablesHidden (QA issue 12): the userspace IPsec data path's routes (ike/esp:
// a steering route through ipsec0 in table 220, a selector route in 221, blackhole
// backstops in 220 and 222) are not the operator's: /ip route and /ipv6 route print,
// count-only and export do not list them, and they cannot be removed or set there.
// They printed as active dynamic routes beside the main table's.
func TestIPsecTablesHidden(t *testing.T) {
	k := newFakeKernel("ether1", "ipsec0")
	cidr := func(s string) *net.IPNet { _, n, _ := net.ParseCIDR(s); return n }
	wan, tun := k.links[1].Attrs().Index, k.links[2].Attrs().Index // links[0] is lo
	k.routes = append(k.routes,
		netlink.Route{Family: unix.AF_INET, Dst: cidr("198.18.0.0/24"), LinkIndex: wan, Protocol: unix.RTPROT_KERNEL,
			Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Scope: netlink.SCOPE_LINK},
		netlink.Route{Family: unix.AF_INET, Dst: cidr("198.19.101.0/24"), LinkIndex: tun, Protocol: 4, Table: 220,
			Type: unix.RTN_UNICAST, Scope: netlink.SCOPE_LINK},
		netlink.Route{Family: unix.AF_INET, Dst: cidr("198.19.101.0/24"), Protocol: 4, Table: 220, Priority: 4294967295,
			Type: unix.RTN_BLACKHOLE},
		netlink.Route{Family: unix.AF_INET, Dst: cidr("198.18.90.2/32"), LinkIndex: tun, Protocol: 4, Table: 221,
			Type: unix.RTN_UNICAST, Scope: netlink.SCOPE_LINK},
		netlink.Route{Family: unix.AF_INET, Dst: cidr("0.0.0.0/0"), Protocol: 4, Table: 222, Type: unix.RTN_BLACKHOLE},
		netlink.Route{Family: unix.AF_INET6, Dst: cidr("fd00:101::/64"), LinkIndex: tun, Protocol: 4, Table: 220,
			Type: unix.RTN_UNICAST},
		netlink.Route{Family: unix.AF_INET6, Dst: cidr("fd00:102::/64"), LinkIndex: wan, Protocol: unix.RTPROT_BOOT,
			Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST})
	r := newPlanRig(t, k)
	r.ex.Provide(Route4Path, func(context.Context, *control.Session) ([]control.Row, error) { return r.e.routeRows(4) })
	r.ex.Provide(Route6Path, func(context.Context, *control.Session) ([]control.Row, error) { return r.e.routeRows(6) })
	in := &script.Interp{Ex: r.ex, Globals: &script.Globals{}}
	con := &script.Console{Sess: &control.Session{User: "admin"}}
	run := func(src string) (string, error) {
		var b strings.Builder
		err := in.Run(context.Background(), con, src, &b)
		return b.String(), err
	}
	must := func(src string) string {
		t.Helper()
		out, err := run(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return out
	}
	if out := must("/ip route print count-only"); strings.TrimSpace(out) != "1" {
		t.Errorf("/ip route print count-only: %q, want 1 (the connected route alone)", out)
	}
	if out := must("/ipv6 route print count-only"); strings.TrimSpace(out) != "1" {
		t.Errorf("/ipv6 route print count-only: %q, want 1", out)
	}
	for _, cmd := range []string{"/ip route print detail", "/ipv6 route print detail", "/ip route export verbose", "/ipv6 route export verbose"} {
		out := must(cmd)
		for _, hid := range []string{"198.19.101.0/24", "198.18.90.2", "0.0.0.0/0", "fd00:101::", "ipsec0", "220", "221", "222"} {
			if strings.Contains(out, hid) {
				t.Errorf("%s shows IPsec's %s:\n%s", cmd, hid, out)
			}
		}
	}
	if out := must("/ip route print detail"); !strings.Contains(out, "198.18.0.0/24") {
		t.Errorf("the connected route is missing:\n%s", out)
	}
	// Nothing of them is found to remove or set.
	must("/ip route remove [find routing-table=220]\n/ip route remove [find gateway=ipsec0]\n/ip route set [find routing-table=222] distance=5")
	if got := len(k.routes); got != 7 {
		t.Errorf("%d kernel routes left, want 7", got)
	}
}
