package ipcfg

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestLinkEvents: a link event needs a pass when an address or route names the link
// (by any of its names, gateway address%interface included) or an earlier event of that
// link did; a tunnel's interface no item names needs none; before the first pass all do.
func TestLinkEvents(t *testing.T) {
	attrs := func(index int, name string, alts ...string) *netlink.LinkAttrs {
		return &netlink.LinkAttrs{Index: index, Name: name, AltNames: alts}
	}
	var f linkEvents
	if !f.needsPass(attrs(4, "g1"), "g1") {
		t.Error("before the first pass an event needs no pass")
	}
	f.setNames([]map[string]string{
		{"address": "198.18.0.1/24", "interface": "ether1"},
		{"dst-address": "198.19.0.0/16", "gateway": "198.18.0.254%ether2"},
		{"dst-address": "198.20.0.0/16", "gateway": "gre5"},
	})
	for _, c := range []struct {
		a    *netlink.LinkAttrs
		ros  string
		want bool
	}{
		{attrs(4, "g1"), "g1", false},
		{attrs(2, "ether1"), "ether1", true},
		{attrs(3, "ether2"), "ether2", true},
		{attrs(5, "gre5"), "gre5", true},
		{attrs(6, "x6", "ether1"), "ether1", true},
		{attrs(2, "wan"), "wan", true}, // renamed away: index 2 mattered
	} {
		if got := f.needsPass(c.a, c.ros); got != c.want {
			t.Errorf("%s: needs a pass %v, want %v", c.ros, got, c.want)
		}
	}
}

// TestAddrRouteEvents: the IPv6 link-local address and the local-table, link-local and
// multicast routes the kernel makes with a new interface need no pass unless an item
// names the interface; other addresses and routes do.
func TestAddrRouteEvents(t *testing.T) {
	var f linkEvents
	f.setNames([]map[string]string{{"address": "198.18.0.1/24", "interface": "ether1"}})
	f.needsPass(&netlink.LinkAttrs{Index: 2, Name: "ether1"}, "ether1")
	addr := func(index int, cidr string) netlink.AddrUpdate {
		ip, n, _ := net.ParseCIDR(cidr)
		n.IP = ip
		return netlink.AddrUpdate{LinkIndex: index, LinkAddress: *n}
	}
	route := func(index, table int, cidr string) netlink.RouteUpdate {
		_, n, _ := net.ParseCIDR(cidr)
		return netlink.RouteUpdate{Route: netlink.Route{LinkIndex: index, Table: table, Dst: n}}
	}
	for _, c := range []struct {
		what string
		got  bool
		want bool
	}{
		{"link-local address on a tunnel", f.addrNeedsPass(addr(9, "fe80::1/64")), false},
		{"link-local address on ether1", f.addrNeedsPass(addr(2, "fe80::1/64")), true},
		{"IPv4 address anywhere", f.addrNeedsPass(addr(9, "198.18.5.1/24")), true},
		{"global IPv6 address", f.addrNeedsPass(addr(9, "2001:db8::1/64")), true},
		{"fe80::/64 route on a tunnel", f.routeNeedsPass(route(9, unix.RT_TABLE_MAIN, "fe80::/64")), false},
		{"local table route on a tunnel", f.routeNeedsPass(route(9, unix.RT_TABLE_LOCAL, "198.18.5.1/32")), false},
		{"multicast route on a tunnel", f.routeNeedsPass(route(9, unix.RT_TABLE_LOCAL, "ff00::/8")), false},
		{"connected route", f.routeNeedsPass(route(9, unix.RT_TABLE_MAIN, "198.18.5.0/24")), true},
		{"local route on ether1", f.routeNeedsPass(route(2, unix.RT_TABLE_LOCAL, "198.18.0.1/32")), true},
	} {
		if c.got != c.want {
			t.Errorf("%s: needs a pass %v, want %v", c.what, c.got, c.want)
		}
	}
}
