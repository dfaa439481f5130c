package hostname

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/menu"
)

// The bounds of how long an answer is kept: at least MinTTL, so that a record with TTL
// 0 (or a name that does not resolve) is not asked on every pass of every engine, and
// at most MaxTTL (RouterOS's own cache-max-ttl default), so that a static entry's 1d or
// a server's week still gets asked again.
const (
	MinTTL = 5 * time.Second
	MaxTTL = 24 * time.Hour
)

// lookupTimeout bounds one resolution asked by an engine's pass, whatever /ip dns's
// query-total-timeout says: a pass must not hang on a dead server.
const lookupTimeout = 3 * time.Second

// ErrBadName says the text is not a host name RouterOS would resolve (menu.HostName).
var ErrBadName = errors.New("not a host name")

// Resolver resolves host names through /ip dns and keeps the answers (see the package
// doc). It is safe for concurrent use.
type Resolver struct {
	ex  *control.Executor
	now func() time.Time
	// ask is lookup (a test counts the questions).
	ask func(ctx context.Context, ex *control.Executor, network, host string) ([]netip.Addr, time.Duration, error)

	mu    sync.Mutex
	cache map[query]answer
	gen   uint64 // Flushes so far
	subs  []func()

	// servers is the servers list (servers, then dynamic-servers) Run saw last: the
	// dynamic ones change without a configuration change (IPsec mode config).
	servers []netip.Addr
}

type query struct{ network, host string }

// answer is what a name resolved to, or the error, until expires; used is when an
// engine last looked it up.
type answer struct {
	addrs   []netip.Addr
	err     error
	expires time.Time
	used    time.Time
	// stale: the name stopped resolving and addrs are its last answer's (said once per
	// outage, not at every question again).
	stale bool
}

// New makes the Resolver of ex and has it follow /ip dns: any change to its settings
// (servers) or static entries empties the cache and calls the OnChange functions.
func New(ex *control.Executor) *Resolver {
	r := &Resolver{ex: ex, now: time.Now, ask: lookup, cache: map[query]answer{}}
	ex.Watch(dns.SettingsPath, func(control.Change) { r.Flush() }) // a prefix: static entries too
	return r
}

// OnChange has fn called (from the goroutine that committed the change; fn must not
// block) whenever what names resolve to may have changed: an engine kicks its pass.
func (r *Resolver) OnChange(fn func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, fn)
}

// Flush forgets every answer and tells the OnChange functions.
func (r *Resolver) Flush() {
	r.mu.Lock()
	clear(r.cache)
	r.gen++
	r.mu.Unlock()
	r.notify()
}

func (r *Resolver) notify() {
	r.mu.Lock()
	subs := append([]func(){}, r.subs...)
	r.mu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

// Lookup returns the addresses host resolves to, of network "ip4", "ip6" or "ip"
// (both): a literal address is itself; a name is answered from the cache while its TTL
// lasts, else asked through /ip dns. When a name that resolved stops resolving (a
// server down), the last addresses are kept and the name asked again after MinTTL: a
// DNS outage must not tear a working tunnel down.
func (r *Resolver) Lookup(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	name, err := menu.HostName{}.Parse(host)
	if err != nil {
		return nil, ErrBadName
	}
	q := query{network, strings.ToLower(name)}
	now := r.now()
	r.mu.Lock()
	old, ok := r.cache[q]
	gen := r.gen
	r.mu.Unlock()
	if ok && now.Before(old.expires) {
		r.mu.Lock()
		if a, still := r.cache[q]; still {
			a.used = now
			r.cache[q] = a
		}
		r.mu.Unlock()
		return old.addrs, old.err
	}
	next := r.resolve(ctx, q, old, ok, now)
	next.used = now
	r.mu.Lock()
	if r.gen == gen {
		// Not kept when a Flush came while the question was out: the answer may be
		// of the old configuration.
		r.cache[q] = next
	}
	r.mu.Unlock()
	return next.addrs, next.err
}

// resolve asks q now; old is the answer it had (ok: it had one).
func (r *Resolver) resolve(ctx context.Context, q query, old answer, ok bool, now time.Time) answer {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	addrs, ttl, err := r.ask(ctx, r.ex, q.network, q.host)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	next := answer{addrs: addrs, err: err, expires: now.Add(min(max(ttl, MinTTL), MaxTTL)), used: now}
	if ok {
		next.used = old.used
	}
	switch {
	case err == nil && ok && len(old.addrs) > 0 && !slices.Equal(old.addrs, addrs):
		slog.Info("host name resolves to new addresses", "name", q.host, "was", old.addrs, "now", addrs)
	case err == nil && ok && old.stale:
		slog.Info("host name resolves again", "name", q.host, "addresses", addrs)
	case err != nil && ok && len(old.addrs) > 0:
		if !old.stale {
			slog.Warn("host name did not resolve; keeping its last addresses", "name", q.host, "addresses", old.addrs, "err", err)
		}
		next.addrs, next.err, next.expires, next.stale = old.addrs, nil, now.Add(MinTTL), true
	case err != nil:
		next.expires = now.Add(MinTTL)
	}
	return next
}

// Run keeps the names engines use current until ctx ends: every second it asks again
// the names whose answer ran out and that an engine looked up within MaxTTL (others are
// forgotten), and when one now resolves differently it calls the OnChange functions, so
// that an engine that resolves names only in its passes (ipsec has no periodic pass)
// follows a changed record as soon as its TTL allows.
func (r *Resolver) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if r.serversChanged(ctx) {
				r.Flush()
				continue
			}
			if r.refresh(ctx) {
				r.notify()
			}
		}
	}
}

// serversChanged reports whether the servers names are asked from changed since the
// last call: the configured ones flush the cache when /ip dns is written (New), the
// dynamic-servers IPsec mode config learns or loses are seen here, within a tick, so
// that no answer of a server that is gone outlives it for its TTL.
func (r *Resolver) serversChanged(ctx context.Context) bool {
	now := resolverConfig(ctx, r.ex).servers
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := !slices.Equal(now, r.servers)
	r.servers = now
	return changed
}

// refresh asks the expired names again; true when an answer changed.
func (r *Resolver) refresh(ctx context.Context) bool {
	now := r.now()
	r.mu.Lock()
	gen := r.gen
	var due []query
	for q, a := range r.cache {
		switch {
		case now.Sub(a.used) > MaxTTL:
			delete(r.cache, q)
		case !now.Before(a.expires):
			due = append(due, q)
		}
	}
	r.mu.Unlock()
	changed := false
	for _, q := range due {
		r.mu.Lock()
		old, ok := r.cache[q]
		r.mu.Unlock()
		if !ok {
			continue
		}
		next := r.resolve(ctx, q, old, true, now)
		r.mu.Lock()
		if r.gen == gen {
			r.cache[q] = next
		}
		r.mu.Unlock()
		if !slices.Equal(old.addrs, next.addrs) || (old.err == nil) != (next.err == nil) {
			changed = true
		}
	}
	return changed
}

// Lookup4 is the first IPv4 address of host (tunnel endpoints are IPv4).
func (r *Resolver) Lookup4(ctx context.Context, host string) (netip.Addr, error) {
	addrs, err := r.Lookup(ctx, "ip4", host)
	if err != nil {
		return netip.Addr{}, err
	}
	for _, a := range addrs {
		if a.Is4() {
			return a, nil
		}
	}
	return netip.Addr{}, errors.New("no IPv4 address")
}
