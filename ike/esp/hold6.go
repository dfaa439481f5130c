package esp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The host's own IPv6 under a ::/0 full tunnel whose source holds a host address, while
// routerd is down (ownRules). An IPv6 rule cannot select a lookup without a source, and
// where that lookup ends in an error route (BackstopTable's blackhole) the kernel picks a
// source among all of the host's addresses and looks up again from it
// (ip6_dst_lookup_tail): from the WAN address, as a socket bound to it would. So without
// more, the hold (223: iif lo) takes all of the host's IPv6, the WAN address's own (replies
// to clients outside the connected networks, a socket bound to it) too. A route that is
// not an error, carries the policy's source and drops what it is sent ends the first
// lookup: the kernel keeps it, the socket gets the LAN source (as from the steering route
// while routerd runs), and a connected socket's later lookups come from that source, which
// rule 219 holds. The lookups that already have a source can then skip the hold:
//
//	BackstopTable: default dev <HoldDevice> src <LAN address> metric 4294967294
//	               (beneath the steering route, above the blackhole)
//	222: from ::/1 goto 224, 222: from 8000::/1 goto 224
//
// The device is an IFB: up with a carrier (a TUN without a reader has none, and a route
// through a link that is down is ignored where ignore_routes_with_linkdown is set), no
// neighbour resolution (NOARP), and what it is sent without a tc redirect it drops
// (counted as its rx_dropped). It outlives the process with the route, like the backstops,
// and goes with the route's last policy (and with ClearBackstops). The route needs its
// source applied and usable, which at a cold start it is not yet (PrearmBackstops adds
// neither the route nor the skips), nor while the address is tentative; nor is there a
// device where the kernel has no IFB. Without the route the skips are not made, and the
// hold takes all of the host's IPv6, as before. The skips go before the route leaves and
// come after it is there (syncRoutesAround: routes, rules, then the routes no longer
// wanted), so that an unbound lookup never meets the blackhole while a lookup with a
// source skips.

// HoldDevice is the name of the device the host's own IPv6 is dropped into while routerd
// is down (TunName and "h", at most 15 bytes).
func (c Config) HoldDevice() string {
	n := c.TunName
	if n == "" {
		n = DefaultConfig().TunName
	}
	return n[:min(len(n), unix.IFNAMSIZ-2)] + "h"
}

// holdMetric is the hold route's: beneath the steering route, above the blackhole.
const holdMetric = backstopMetric - 1

// holdKey keys the hold route among u.routes.
func (u *userspace) holdKey() string {
	return routeKey(u.cfg.BackstopTable(), netip.PrefixFrom(netip.IPv6Unspecified(), 0)) + " hold"
}

// holdRoute is the hold route with source src through the device idx.
func (u *userspace) holdRoute(src netip.Addr, idx int) netlink.Route {
	return netlink.Route{LinkIndex: idx, Dst: prefixNet(netip.PrefixFrom(netip.IPv6Unspecified(), 0)),
		Table: u.cfg.BackstopTable(), Src: src.AsSlice(), Priority: holdMetric, Type: unix.RTN_UNICAST, Protocol: 4}
}

// isHoldRoute says whether r, listed in BackstopTable, is the hold route.
func isHoldRoute(r *netlink.Route) bool {
	return r.Type == unix.RTN_UNICAST && r.Priority == holdMetric && r.Dst != nil && r.Dst.IP.To4() == nil
}

// holdLink is the hold device's index; it makes the device where it is missing.
func (u *userspace) holdLink() (int, error) {
	name := u.cfg.HoldDevice()
	l, err := u.nl.LinkByName(name)
	if errors.As(err, new(netlink.LinkNotFoundError)) {
		la := netlink.NewLinkAttrs()
		la.Name = name
		err = u.nl.LinkAdd(&netlink.Ifb{LinkAttrs: la})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("esp: hold device %s: %w", name, err)
		}
		l, err = u.nl.LinkByName(name)
	}
	if err != nil {
		return 0, fmt.Errorf("esp: hold device %s: %w", name, err)
	}
	if l.Type() != "ifb" {
		return 0, fmt.Errorf("esp: hold device %s: a %s device has the name", name, l.Type())
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		// No link-local address (addrgenmode none): the device is no interface of the
		// host's, and its address would be a candidate source. Set before every up, not
		// only after the add: a run that failed between the two left a device without it.
		if err := u.nl.LinkSetIP6AddrGenMode(l, nl.IN6_ADDR_GEN_MODE_NONE); err != nil {
			return 0, fmt.Errorf("esp: hold device %s: %w", name, err)
		}
		if err := u.nl.LinkSetUp(l); err != nil {
			return 0, fmt.Errorf("esp: hold device %s up: %w", name, err)
		}
	}
	return l.Attrs().Index, nil
}

// delHoldLink removes the hold device, if it is there (and the IFB of that name).
func (u *userspace) delHoldLink() error {
	l, err := u.nl.LinkByName(u.cfg.HoldDevice())
	if err != nil || l.Type() != "ifb" {
		return nil
	}
	if err := u.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("esp: removing hold device %s: %w", u.cfg.HoldDevice(), err)
	}
	return nil
}

// holdSkips are the rules that let the host's IPv6 lookups with a source skip the hold.
func holdSkips() []*netlink.Rule {
	var out []*netlink.Rule
	for _, half := range []string{"::/1", "8000::/1"} {
		r := netlink.NewRule()
		r.Family, r.Priority, r.Goto = netlink.FAMILY_V6, ownSkipPriority, ownEndPriority
		r.Src = prefixNet(netip.MustParsePrefix(half))
		out = append(out, r)
	}
	return out
}

// holdFailed warns that the hold route could not be made, once for each reason (polMu
// held): the host's IPv6 is held all the same, only the WAN address's is too.
func (u *userspace) holdFailed(err error) {
	if msg := err.Error(); msg != u.holdErr {
		u.holdErr = msg
		u.cfg.logger().Warn("esp: while routerd is down, all of the host's own IPv6 will be held, the WAN address's too",
			"device", u.cfg.HoldDevice(), "err", err)
	}
}
