package tunnel

import (
	"net/netip"
	"slices"

	"github.com/routerd/routerd/dataplane"
	"github.com/routerd/routerd/ike/esp"
)

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

// ProtectRule is one inbound IPsec policy as the decapsulator needs it: packets from Src
// to Dst of Proto (0: any) that arrive in the clear are dropped (Drop: an encrypt policy
// of level require or unique, or a discard policy) or let through (none, level use).
// Rules are in policy order; the first match decides.
type ProtectRule struct {
	Src, Dst netip.Prefix
	Proto    uint8
	Drop     bool
}

// Protect is the service the tunnel engine offers the ipsec engine: after every change
// of its policies the ipsec engine hands over the inbound rules, and a tunnel whose outer
// packets a dropping rule matches takes them only from the ESP path (dataplane.Tunnel
// IPsec), as an ipsec-secret tunnel always does. The XDP decapsulator runs before
// nftables, where the require policies' drop is: without this it would deliver such a
// tunnel's cleartext packets.
type Protect func([]ProtectRule)

// setProtect stores the ipsec engine's rules and runs a pass when they changed.
func (e *Engine) setProtect(rules []ProtectRule) {
	e.mu.Lock()
	same := slices.Equal(e.protect, rules)
	if !same {
		e.protect = slices.Clone(rules)
		e.full = true // tunnels whose items did not change may be protected now
	}
	e.mu.Unlock()
	if !same && e.eh != nil {
		e.eh.Kick()
	}
}

// protected says whether a tunnel's received packets (from remote to local, IP protocol
// proto) meet a policy that refuses them in the clear.
func (e *Engine) protected(remote, local netip.Addr, proto uint8) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.protect {
		if (r.Proto == 0 || r.Proto == proto) && r.Src.Contains(remote) && r.Dst.Contains(local) {
			return r.Drop
		}
	}
	return false
}

// outerProto is the IP protocol of a tunnel kind's outer packets.
func outerProto(k dataplane.Kind) uint8 {
	switch k {
	case dataplane.IPIP:
		return 4
	case dataplane.SixToFour:
		return 41
	}
	return 47 // GRE, EoIP
}
