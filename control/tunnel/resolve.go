package tunnel

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/routerd/routerd/control/ipcfg"
)

// A tunnel's remote-address may be a DNS name, as RouterOS allows
// (remote-address=hq.example.net). It is resolved through /ip dns (ipcfg.LookupHost:
// static entries, then the servers), again
// after dnsEvery (a moved peer is followed) and whenever /ip dns changes.

// dnsEvery is how long a resolved address is used before the name is asked again.
const dnsEvery = 30 * time.Second

// dnsRetry is how soon a name that did not resolve is asked again.
const dnsRetry = 5 * time.Second

type resolved struct {
	addr netip.Addr
	err  error
	at   time.Time
}

// resolve returns the IPv4 address of host. A failed lookup keeps the last address
// (a DNS outage must not tear a working tunnel down).
func (e *Engine) resolve(host string) (netip.Addr, error) {
	e.mu.Lock()
	r, ok := e.dns[host]
	e.mu.Unlock()
	now := time.Now()
	if ok && (r.addr.IsValid() && now.Sub(r.at) < dnsEvery || !r.addr.IsValid() && now.Sub(r.at) < dnsRetry) {
		return r.addr, r.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ips, err := ipcfg.LookupHost(ctx, e.ex, "ip4", host)
	next := resolved{at: now}
	switch {
	case err == nil && len(ips) > 0:
		next.addr = ips[0].Unmap()
		if ok && r.addr.IsValid() && r.addr != next.addr {
			slog.Info("tunnel: remote-address name resolves to a new address", "name", host, "was", r.addr, "now", next.addr)
		}
	case ok && r.addr.IsValid():
		slog.Warn("tunnel: remote-address name did not resolve; keeping the last address", "name", host, "err", err)
		next.addr = r.addr
	default:
		if err == nil {
			err = errors.New("no IPv4 address")
		}
		next.err = err
	}
	e.mu.Lock()
	if e.dns == nil {
		e.dns = map[string]resolved{}
	}
	e.dns[host] = next
	e.mu.Unlock()
	return next.addr, next.err
}
