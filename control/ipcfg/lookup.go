package ipcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// LookupHost resolves a host name as RouterOS does for the names it accepts in place of
// an address (/ping, tunnel remote-address, IPsec peer address, :resolve): enabled /ip
// dns static entries first (A or AAAA as network asks: "ip", "ip4" or "ip6"), then the
// /ip dns servers and after them the dynamic-servers (what IPsec mode config learned),
// asked by routerd itself for the name as written. The machine's /etc/resolv.conf and
// /etc/hosts are never read: with neither servers nor dynamic-servers a name does not
// resolve (ErrNoServers), as on RouterOS.
func LookupHost(ctx context.Context, ex *control.Executor, network, host string) ([]netip.Addr, error) {
	if a, ok := lookupStatic(ex, network, host); ok {
		return []netip.Addr{a}, nil
	}
	cfg := resolverConfig(ctx, ex)
	if len(cfg.servers) == 0 {
		return nil, fmt.Errorf("%s: %w", host, ErrNoServers)
	}
	return cfg.lookup(ctx, network, host)
}

// ErrNoServers says a name cannot be resolved because /ip dns has no servers and has
// learned no dynamic-servers (routerd has no DHCP client; IPsec mode config is what
// fills dynamic-servers here).
var ErrNoServers = errors.New("no DNS servers: /ip dns servers and dynamic-servers are empty")

// ErrNotFound says the servers answered that the name has no address of the kind asked.
var ErrNotFound = errors.New("no such host")

// dnsPort is the port the servers are asked on (a test's server listens elsewhere).
var dnsPort = "53"

// resolver is what LookupHost asks: the servers in order, with /ip dns's timeouts.
type resolver struct {
	servers       []netip.Addr
	serverTimeout time.Duration
	totalTimeout  time.Duration
}

// resolverConfig reads /ip dns as print shows it: servers, then dynamic-servers (the
// dns engine's), each address once.
func resolverConfig(ctx context.Context, ex *control.Executor) resolver {
	r := resolver{serverTimeout: 2 * time.Second, totalTimeout: 10 * time.Second}
	m, ok := ex.Tree.Get(dnsPath)
	if !ok {
		return r
	}
	rows, err := ex.Rows(ctx, nil, m, false)
	if err != nil || len(rows) == 0 {
		return r
	}
	p := rows[0].Props
	for _, list := range []string{p["servers"], p["dynamic-servers"]} {
		for _, s := range strings.Split(list, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(s)); err == nil && !slices.Contains(r.servers, a.Unmap()) {
				r.servers = append(r.servers, a.Unmap())
			}
		}
	}
	if d, err := value.ParseDuration(p["query-server-timeout"]); err == nil && d > 0 {
		r.serverTimeout = d
	}
	if d, err := value.ParseDuration(p["query-total-timeout"]); err == nil && d > 0 {
		r.totalTimeout = d
	}
	return r
}

// lookup asks for A (ip4), AAAA (ip6) or both (ip) records of host; a server that fails
// or refuses is passed over for the next, an answer (even "no such name") is final.
func (r resolver) lookup(ctx context.Context, network, host string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, r.totalTimeout)
	defer cancel()
	var types []uint16
	switch network {
	case "ip4":
		types = []uint16{mdns.TypeA}
	case "ip6":
		types = []uint16{mdns.TypeAAAA}
	default:
		types = []uint16{mdns.TypeA, mdns.TypeAAAA}
	}
	var out []netip.Addr
	var lastErr error
	for _, t := range types {
		addrs, err := r.ask(ctx, host, t)
		if err != nil {
			lastErr = err
			continue
		}
		out = append(out, addrs...)
	}
	if len(out) == 0 {
		if lastErr == nil {
			lastErr = ErrNotFound
		}
		return nil, fmt.Errorf("%s: %w", host, lastErr)
	}
	return out, nil
}

func (r resolver) ask(ctx context.Context, host string, qtype uint16) ([]netip.Addr, error) {
	q := new(mdns.Msg)
	q.SetQuestion(mdns.Fqdn(host), qtype)
	q.RecursionDesired = true
	err := errors.New("no answer")
	for _, srv := range r.servers {
		sctx, cancel := context.WithTimeout(ctx, r.serverTimeout)
		c := &mdns.Client{Net: "udp"}
		m, _, xerr := c.ExchangeContext(sctx, q, net.JoinHostPort(srv.String(), dnsPort))
		if xerr == nil && m.Truncated {
			c.Net = "tcp"
			m, _, xerr = c.ExchangeContext(sctx, q, net.JoinHostPort(srv.String(), dnsPort))
		}
		cancel()
		if xerr != nil {
			err = fmt.Errorf("server %s: %w", srv, xerr)
			continue
		}
		if m.Rcode == mdns.RcodeServerFailure || m.Rcode == mdns.RcodeRefused {
			err = fmt.Errorf("server %s: %s", srv, mdns.RcodeToString[m.Rcode])
			continue
		}
		var addrs []netip.Addr
		for _, rr := range m.Answer {
			switch a := rr.(type) {
			case *mdns.A:
				if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
					addrs = append(addrs, ip)
				}
			case *mdns.AAAA:
				if ip, ok := netip.AddrFromSlice(a.AAAA); ok {
					addrs = append(addrs, ip)
				}
			}
		}
		if len(addrs) == 0 {
			return nil, ErrNotFound
		}
		return addrs, nil
	}
	return nil, err
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
