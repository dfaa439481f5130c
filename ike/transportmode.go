package ike

import "net/netip"

// natTransport prepares a transport-mode request's selectors of one side for policy
// matching. In transport mode each side's selector is that host's own address; behind a
// NAT it is the host's private address, which the SA's policies cannot use: packets come
// from (and go to) the NAT's public one. RFC 7296 2.23.1 lets the responder substitute
// the address the IKE packets came from, and answer with the selectors as offered,
// which is what the initiator checks its transport SA against. orig is the substituted
// address (invalid when nothing was substituted).
func natTransport(offered []Selector, nat bool, real netip.Addr) (out []Selector, orig netip.Addr) {
	if !nat {
		return offered, netip.Addr{}
	}
	out = make([]Selector, 0, len(offered))
	for _, s := range offered {
		if s.Start == s.End && s.Start.Is4() == real.Is4() && s.Start != real {
			if !orig.IsValid() {
				orig = s.Start
			}
			s.Start, s.End = real, real
		}
		out = append(out, s)
	}
	return out, orig
}

// withAddr is s with its address range replaced by a (a single host), when a is valid.
func withAddr(s Selector, a netip.Addr) Selector {
	if a.IsValid() && s.Start == s.End {
		s.Start, s.End = a, a
	}
	return s
}

// hostToHost says whether a CHILD SA between l and r can be a transport SA: each side is
// exactly the SA's own address on that side.
func (sa *IKESA) hostToHost(l, r Selector) bool {
	return l.Start == l.End && l.Start == sa.local.Addr() && r.Start == r.End && r.Start == sa.remote.Addr()
}
