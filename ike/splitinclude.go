package ike

import (
	"net/netip"
	"slices"
)

// Split tunnels (mode config split-include) in IKEv2 CHILD_SAs. The responder only tells
// the client its split networks (INTERNAL_IP4_SUBNET); its own side of the CHILD_SA is
// what the client asks narrowed to the policy template, not to the split networks: the
// reference's Windows client asks for 0.0.0.0/0 and gets it ("Split networking is not a
// security measure. The client (initiator) can still request a different Phase 2
// traffic selector"; narrowing to split-include is what it says breaks other vendors).
// A RouterOS initiator keeps, of what the responder gave, only the networks it was sent
// (one dynamic policy per network; RouterOS takes split networks from its mode config,
// not from a wider TSr).

// splitSelectors narrows sel to each of the networks of its family that intersect it;
// none intersecting leaves sel as it is.
func splitSelectors(sel []Selector, splits []netip.Prefix) []Selector {
	if len(splits) == 0 {
		return sel
	}
	var out []Selector
	for _, s := range sel {
		for _, p := range splits {
			ps := SelectorFromPrefix(p.Masked(), 0, 0)
			if n, ok := intersectSel(s, ps); ok {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		return sel
	}
	return out
}

// initiatorSplits narrows the remote side of a CHILD_SA generated from a template to the
// split networks the responder's mode config sent.
func (sa *IKESA) initiatorSplits(cfg *ChildConfig, remote []Selector) []Selector {
	if cfg == nil || !cfg.Dynamic {
		return remote
	}
	return splitSelectors(remote, sa.splits)
}

// allSelectors widens the first selector pair matchPolicy found (li, ri) to every
// selector the peer offered that the same policy (or, for a generated policy, the same
// template) allows: RFC 7296 2.9 lets one CHILD_SA carry several, and a charon with
// remote_ts=a,b (or a client of several split networks) asks for them in one SA. What
// no policy allows is left out with a log line.
func (sa *IKESA) allSelectors(cfg *ChildConfig, li, ri Selector, offeredI, offeredR []Selector) (lis, ris []Selector) {
	lb, rb := cfg.Local, cfg.Remote
	if cfg.Dynamic {
		lb, rb = li, ri
		if sa.ident != nil {
			for _, t := range sa.ident.Templates {
				l, ok1 := intersectSel(li, t.Local)
				r, ok2 := intersectSel(ri, t.Remote)
				if ok1 && ok2 && l == li && r == ri {
					lb, rb = t.Local, t.Remote
					break
				}
			}
		}
	}
	dropped := 0
	widen := func(first Selector, offered []Selector, bound Selector) []Selector {
		out := []Selector{first}
		for _, o := range offered {
			x, ok := intersectSel(o, bound)
			// A generated policy takes what the peer asks or nothing (its template must
			// cover it), as matchPolicy does.
			if !ok || (cfg.Dynamic && x != o) {
				if _, inFirst := intersectSel(o, first); !inFirst {
					dropped++
				}
				continue
			}
			if _, overlaps := intersectSel(x, first); overlaps || slices.Contains(out, x) {
				continue
			}
			out = append(out, x)
		}
		return out
	}
	lis = widen(li, offeredR, lb)
	ris = widen(ri, offeredI, rb)
	args := []any{"peer", sa.peer.Name, "offered-tsi", selString(offeredI), "offered-tsr", selString(offeredR),
		"accepted-tsi", selString(ris), "accepted-tsr", selString(lis)}
	if dropped > 0 {
		sa.d.log.Info("ipsec: CHILD SA traffic selectors narrowed: no policy allows some of them", args...)
	} else {
		sa.d.log.Debug("ipsec: CHILD SA traffic selectors", args...)
	}
	return lis, ris
}
