package hostname

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// lookup resolves host once, asking every time, and says for how long the answer holds:
// enabled /ip dns static entries first (A or AAAA as network asks: "ip", "ip4" or
// "ip6"; their ttl=), then the /ip dns servers and after them the dynamic-servers (what
// IPsec mode config learned), asked for the name as written (the smallest TTL of the
// answer's records, CNAMEs included). The machine's /etc/resolv.conf and /etc/hosts are
// never read: with neither servers nor dynamic-servers a name does not resolve
// (ErrNoServers), as on RouterOS.
func lookup(ctx context.Context, ex *control.Executor, network, host string) ([]netip.Addr, time.Duration, error) {
	// A static CNAME entry is followed to its target, statically or through the
	// servers, as RouterOS's resolver does (a few hops: entries may form a loop).
	ttl := MaxTTL
	for hops := 0; hops < 8; hops++ {
		addrs, d, target := lookupStatic(ex, network, host)
		ttl = min(ttl, d)
		if len(addrs) > 0 {
			return addrs, ttl, nil
		}
		if target == "" {
			break
		}
		host = target
	}
	if network != "ip" {
		// A static entry of the other family answers the name: no server is asked
		// (RouterOS's static entries shadow the servers), and the reason says so.
		other := map[string]string{"ip4": "ip6", "ip6": "ip4"}[network]
		if addrs, d, _ := lookupStatic(ex, other, host); len(addrs) > 0 {
			want, have := "A (IPv4)", "AAAA (IPv6)"
			if network == "ip6" {
				want, have = have, want
			}
			return nil, min(ttl, d), fmt.Errorf("%w: /ip dns static has no %s record for %s, only %s", ErrNotFound, want, host, have)
		}
	}
	cfg := resolverConfig(ctx, ex)
	if len(cfg.servers) == 0 {
		return nil, 0, ErrNoServers
	}
	addrs, d, err := cfg.lookup(ctx, network, host)
	return addrs, min(ttl, d), err
}

// ErrNoServers says a name cannot be resolved because /ip dns has no servers and has
// learned no dynamic-servers (routerd has no DHCP client; IPsec mode config is what
// fills dynamic-servers here).
var ErrNoServers = errors.New("no DNS servers: /ip dns servers and dynamic-servers are empty")

// ErrNotFound says the servers answered that the name has no address of the kind asked.
var ErrNotFound = errors.New("no such host")

// dnsPort is the port the servers are asked on (a test's server listens elsewhere).
var dnsPort = "53"

// servers is what lookup asks: the servers in order, with /ip dns's timeouts.
type servers struct {
	servers       []netip.Addr
	serverTimeout time.Duration
	totalTimeout  time.Duration
}

// resolverConfig reads /ip dns as print shows it: servers, then dynamic-servers (the
// dns engine's), each address once.
func resolverConfig(ctx context.Context, ex *control.Executor) servers {
	r := servers{serverTimeout: 2 * time.Second, totalTimeout: 10 * time.Second}
	m, ok := ex.Tree.Get(dns.SettingsPath)
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
// or refuses is passed over for the next, an answer (even "no such name") is final. The
// duration is the smallest TTL of the records that made the answer.
func (r servers) lookup(ctx context.Context, network, host string) ([]netip.Addr, time.Duration, error) {
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
	ttl := MaxTTL
	for _, t := range types {
		addrs, d, err := r.ask(ctx, host, t)
		if err != nil {
			lastErr = err
			continue
		}
		out = append(out, addrs...)
		ttl = min(ttl, d)
	}
	if len(out) == 0 {
		if lastErr == nil {
			lastErr = ErrNotFound
		}
		return nil, 0, lastErr
	}
	return out, ttl, nil
}

func (r servers) ask(ctx context.Context, host string, qtype uint16) ([]netip.Addr, time.Duration, error) {
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
		addrs, ttl := answerOf(m, q.Question[0].Name, qtype)
		if len(addrs) == 0 {
			// The two answers an operator acts on differently: the name is unknown,
			// or it has only the other family's records (an AAAA-only name given to
			// an IPv4 tunnel).
			if m.Rcode == mdns.RcodeNameError {
				return nil, 0, fmt.Errorf("%w: server %s: %s does not exist", ErrNotFound, srv, host)
			}
			want := "A (IPv4)"
			if qtype == mdns.TypeAAAA {
				want = "AAAA (IPv6)"
			}
			return nil, 0, fmt.Errorf("%w: server %s has no %s record for %s", ErrNotFound, srv, want, host)
		}
		return addrs, ttl, nil
	}
	return nil, 0, err
}

// answerOf follows the answer section from name through its CNAMEs to the records of
// qtype, as a stub resolver does: only records of the chain count (a server's extra
// records for other names do not), and the answer lasts as long as its shortest TTL.
func answerOf(m *mdns.Msg, name string, qtype uint16) ([]netip.Addr, time.Duration) {
	ttl := uint32(math.MaxUint32)
	cur := strings.ToLower(name)
	for hops := 0; hops < 8; hops++ {
		var next string
		for _, rr := range m.Answer {
			h := rr.Header()
			if strings.ToLower(h.Name) != cur {
				continue
			}
			if c, ok := rr.(*mdns.CNAME); ok && next == "" {
				next = strings.ToLower(c.Target)
				ttl = min(ttl, h.Ttl)
			}
		}
		var addrs []netip.Addr
		least := ttl
		for _, rr := range m.Answer {
			h := rr.Header()
			if strings.ToLower(h.Name) != cur || h.Rrtype != qtype {
				continue
			}
			var ip netip.Addr
			switch a := rr.(type) {
			case *mdns.A:
				ip, _ = netip.AddrFromSlice(a.A.To4())
			case *mdns.AAAA:
				ip, _ = netip.AddrFromSlice(a.AAAA)
			}
			if ip.IsValid() {
				addrs = append(addrs, ip)
				least = min(least, h.Ttl)
			}
		}
		if len(addrs) > 0 {
			return addrs, time.Duration(least) * time.Second
		}
		if next == "" {
			return nil, 0
		}
		cur = next
	}
	return nil, 0
}

// lookupStatic answers from /ip dns static: every enabled entry, in order, whose name
// (or, with match-subdomain, a parent name) or regexp matches and whose type fits, as
// RouterOS's resolver answers a name with several A records (a round-robin or
// dual-homed host: an address list holds them all, a tunnel takes the first), lasting
// the smallest ttl= among them; a CNAME entry that matches before any address gives its
// target instead.
func lookupStatic(ex *control.Executor, network, host string) (addrs []netip.Addr, ttl time.Duration, target string) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	ttl = MaxTTL
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
			if !(typ == "A" && network != "ip6" || typ == "AAAA" && network != "ip4" || typ == "CNAME" && p["cname"] != "") {
				continue
			}
			if !staticMatch(p, host) {
				continue
			}
			if typ == "CNAME" {
				if len(addrs) > 0 {
					continue
				}
				target = strings.TrimSuffix(p["cname"], ".")
				ttl = entryTTL(p, MaxTTL)
				return nil
			}
			a, err := netip.ParseAddr(p["address"])
			if err == nil && (a.Is4() == (typ == "A")) && !slices.Contains(addrs, a.Unmap()) {
				addrs = append(addrs, a.Unmap())
				ttl = min(ttl, entryTTL(p, MaxTTL))
			}
		}
		return nil
	})
	return addrs, ttl, target
}

// entryTTL is a static entry's ttl=, or def when it has none.
func entryTTL(p map[string]string, def time.Duration) time.Duration {
	if d, err := value.ParseDuration(p["ttl"]); err == nil && p["ttl"] != "" {
		return d
	}
	return def
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
