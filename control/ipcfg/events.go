package ipcfg

import (
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkEvents decides which link events need a pass. A pass dumps every link, address
// and route; while a thousand tunnels are made their interfaces send several events
// each, and none matters here unless an address or route names the interface (an
// address waiting for its interface, a route through it). Addresses and routes the
// kernel adds or removes with a link send their own events.
type linkEvents struct {
	mu sync.Mutex
	// names are the values of the address and route items (split at commas and at the
	// % of address%interface); nil until the first pass: every event needs one.
	names map[string]bool
	// seen are the ifindexes of links whose events needed a pass (renamed away from a
	// configured name, deleted).
	seen map[int]bool
}

// setNames records the values of the items a pass applied.
func (f *linkEvents) setNames(values []map[string]string) {
	names := map[string]bool{}
	for _, props := range values {
		for _, v := range props {
			for part := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == '%' }) {
				names[part] = true
			}
		}
	}
	f.mu.Lock()
	f.names = names
	f.mu.Unlock()
}

// needsPass reports whether an event of the link a (RouterOS name ros) needs a pass.
func (f *linkEvents) needsPass(a *netlink.LinkAttrs, ros string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.names == nil || f.seen[a.Index] {
		return true
	}
	for _, n := range append([]string{ros, a.Name}, a.AltNames...) {
		if f.names[n] {
			if f.seen == nil {
				f.seen = map[int]bool{}
			}
			f.seen[a.Index] = true
			return true
		}
	}
	return false
}

// addrNeedsPass reports whether an address event needs a pass: not for the IPv6
// link-local address the kernel gives every new interface (a thousand tunnels made send a
// thousand) unless an item names its link; an address that can make a gateway
// reachable sends a route event of its own.
func (f *linkEvents) addrNeedsPass(u netlink.AddrUpdate) bool {
	if u.LinkAddress.IP.To4() != nil || !u.LinkAddress.IP.IsLinkLocalUnicast() {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names == nil || f.seen[u.LinkIndex]
}

// routeNeedsPass reports whether a route event (not of ours) needs a pass: not for the
// routes the kernel adds with every new interface, the local table's and the IPv6
// link-local and multicast ones, which reach no gateway (an IPv6 gateway on a link-local
// address names its interface, whose own events count) unless an item names the link.
func (f *linkEvents) routeNeedsPass(u netlink.RouteUpdate) bool {
	kernelOnly := u.Table == unix.RT_TABLE_LOCAL ||
		u.Dst != nil && u.Dst.IP.To4() == nil && (u.Dst.IP.IsLinkLocalUnicast() || u.Dst.IP.IsMulticast())
	if !kernelOnly {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.names == nil || f.seen[u.LinkIndex]
}
