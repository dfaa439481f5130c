package tunnel

import "github.com/routerd/routerd/ike/esp"

// ipsecTable is the routing table an ipsec-secret tunnel's outer packets are routed in:
// on the userspace ESP path, its policies' routes to the ESP device, so that until the
// tunnel's policy is installed the encapsulator drops them rather than send GRE (or
// IPIP, EoIP, 6to4) in the clear. With the kernel's XFRM, 0: the main lookup.
func ipsecTable() uint32 {
	if esp.Probe().Kind != esp.KindUserspace {
		return 0
	}
	return uint32(esp.DefaultConfig().Table)
}
