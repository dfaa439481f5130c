package tunnel

import (
	"net/netip"
)

// A tunnel's remote-address may be a DNS name, as RouterOS allows
// (remote-address=hq.example.net). It is resolved through the daemon's hostname.Resolver
// (/ip dns: static entries, then the servers), which keeps the answer for the record's
// TTL (5 s to 1 d) and kicks a pass when /ip dns changes; an item with a name is applied
// on every pass (its receive key is not static), so a moved peer is followed. A failed
// lookup keeps the last address (a DNS outage must not tear a working tunnel down); a
// name that never resolved leaves the tunnel invalid with the reason.

// resolve returns the IPv4 address host resolves to.
func (e *Engine) resolve(host string) (netip.Addr, error) {
	return e.hosts.Lookup4(e.life, host)
}
