package ipsec

import (
	"net/netip"
	"slices"
)

// DNSSetter takes the DNS servers a service learned (control/dns's DynamicServers,
// shown in /ip dns dynamic-servers).
type DNSSetter interface {
	Set(owner string, servers []netip.Addr)
}

// syncDNS hands /ip dns the DNS servers that mode config responders gave our
// established initiator SAs (IKEv2 and IKEv1 alike), and takes them away when the SAs
// go, as RouterOS does with a mode-config=request-only identity.
func (e *Engine) syncDNS() {
	if e.opts.DNS == nil {
		return
	}
	var servers []netip.Addr
	for _, s := range e.d.Snapshot() {
		if !s.Received || s.State != "established" {
			continue
		}
		for _, a := range s.DNS {
			if !slices.Contains(servers, a) {
				servers = append(servers, a)
			}
		}
	}
	e.opts.DNS.Set("ipsec", servers)
}
