package ike

import "net/netip"

// maxReceivedDNS bounds the DNS servers one mode config reply may leave us: a peer
// that sends a thousand INTERNAL_IP4_DNS attributes gets the first few used.
const maxReceivedDNS = 4

// takeDNS records one INTERNAL_IP4_DNS value (IKEv2 RFC 7296 3.15.1, and IKEv1 mode
// config's attribute 3, the same number and form) a responder handed us: four bytes,
// a unicast address, once. The /ip ipsec engine puts them into /ip dns
// dynamic-servers while the SA lives, as RouterOS does.
func (sa *IKESA) takeDNS(v []byte) {
	if len(v) != 4 || len(sa.dns) >= maxReceivedDNS {
		return
	}
	a := netip.AddrFrom4([4]byte(v))
	if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return
	}
	for _, o := range sa.dns {
		if o == a {
			return
		}
	}
	sa.dns = append(sa.dns, a)
}
