package ipcfg

import (
	"context"
	"net/netip"
	"regexp"
	"strings"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/store"
)

// LookupHost resolves a host name as RouterOS does for the names it accepts in place of
// an address (/ping, tunnel remote-address, IPsec peer address): enabled /ip dns static
// entries first (A or AAAA as network asks: "ip", "ip4" or "ip6"), then the /ip dns
// servers (Resolver).
func LookupHost(ctx context.Context, ex *control.Executor, network, host string) ([]netip.Addr, error) {
	if a, ok := lookupStatic(ex, network, host); ok {
		return []netip.Addr{a}, nil
	}
	return Resolver(ex).LookupNetIP(ctx, network, host)
}

// lookupStatic answers from /ip dns static: the first enabled entry, in order, whose
// name (or, with match-subdomain, a parent name) or regexp matches and whose type fits.
func lookupStatic(ex *control.Executor, network, host string) (netip.Addr, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	var out netip.Addr
	ex.Store.View(func(tx *store.Tx) error {
		items, err := tx.List(dns.StaticPath)
		if err != nil {
			return nil
		}
		for _, it := range items {
			p := it.Props
			if p["disabled"] == "yes" {
				continue
			}
			typ := p["type"]
			if typ == "" {
				typ = "A"
			}
			if !(typ == "A" && network != "ip6" || typ == "AAAA" && network != "ip4") {
				continue
			}
			if !staticMatch(p, host) {
				continue
			}
			a, err := netip.ParseAddr(p["address"])
			if err == nil && (a.Is4() == (typ == "A")) {
				out = a
				return nil
			}
		}
		return nil
	})
	return out, out.IsValid()
}

func staticMatch(p map[string]string, host string) bool {
	if re := p["regexp"]; re != "" {
		r, err := regexp.Compile(re)
		return err == nil && r.MatchString(host)
	}
	name := strings.ToLower(strings.TrimSuffix(p["name"], "."))
	if name == "" {
		return false
	}
	return host == name || p["match-subdomain"] == "yes" && strings.HasSuffix(host, "."+name)
}
