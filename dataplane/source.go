package dataplane

import (
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/nldump"
)

// The kernel drops a forwarded IPv4 packet whose source fib_validate_source refuses: one
// of the router's own addresses (unless accept_local), and, with rp_filter on the input
// interface (or custom routing rules), a source the route back to which is not unicast or,
// for strict rp_filter, leaves by another interface. The fast path is told which
// interfaces check what and which addresses are ours, and leaves such packets to the
// stack.

// LocalAddrs lists the namespace's IPv4 addresses (every interface's, as
// inet_lookup_ifaddr_rcu searches them).
func LocalAddrs() ([]netip.Addr, error) {
	as, err := nldump.Retry(func() ([]netlink.Addr, error) { return netlink.AddrList(nil, netlink.FAMILY_V4) })
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range as {
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			out = append(out, ip)
		}
	}
	return out, nil
}

// confInt reads /proc/sys/net/ipv4/conf/<dev>/<name> (0 when unreadable).
func confInt(dev, name string) int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + dev + "/" + name)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// customRules reports whether IPv4 policy routing has rules beyond the kernel's three
// (local, main, default), with which the kernel always looks the route back up
// (fib4_has_custom_rules).
func customRules() bool {
	rs, err := nldump.Retry(func() ([]netlink.Rule, error) { return netlink.RuleList(netlink.FAMILY_V4) })
	if err != nil {
		return true
	}
	for _, r := range rs {
		switch {
		case r.Priority == 0 && r.Table == unix.RT_TABLE_LOCAL,
			r.Priority == 32766 && r.Table == unix.RT_TABLE_MAIN,
			r.Priority == 32767 && r.Table == unix.RT_TABLE_DEFAULT:
			continue
		}
		return true
	}
	return false
}

// SourceChecks computes each interface's source validation as the kernel applies it:
// rp_filter is the larger of all's and the interface's, accept_local either's. The
// result is for SetSourceChecks. Interfaces skip says yes to (nil: none) are left out:
// no packet the fast path forwards arrives on them (a tunnel's hidden end), and their
// two sysctl files each were half of a pass with a thousand tunnels.
func SourceChecks(skip func(name string) bool) (map[int]uint32, error) {
	links, err := nldump.Retry(netlink.LinkList)
	if err != nil {
		return nil, err
	}
	allRP, allLocal := confInt("all", "rp_filter"), confInt("all", "accept_local")
	full := customRules()
	out := map[int]uint32{}
	for _, l := range links {
		a := l.Attrs()
		if skip != nil && skip(a.Name) {
			continue
		}
		var m uint32
		switch max(allRP, confInt(a.Name, "rp_filter")) {
		case 0:
		case 1:
			m |= SrcvStrict
		default:
			m |= SrcvLoose
		}
		if full {
			m |= SrcvFull
		}
		if allLocal != 0 || confInt(a.Name, "accept_local") != 0 {
			m |= SrcvAcceptLocal
		}
		if m != 0 {
			out[a.Index] = m
		}
	}
	return out, nil
}
