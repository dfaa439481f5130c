package ipcfg

import (
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
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
