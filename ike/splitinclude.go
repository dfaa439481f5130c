package ike

import "net/netip"

// Split tunnels (mode config split-include) in IKEv2 CHILD_SAs. RouterOS generates one
// dynamic policy per split-include network on both sides: the responder narrows its
// traffic selector to the networks (RFC 7296 2.9 lets TSr carry several), and the
// initiator keeps, of what the responder gave, only the networks it was sent as
// INTERNAL_IP4_SUBNET (RouterOS takes split networks from its mode config, not from a
// wider TSr).

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

// responderSplits narrows the responder's own side of a CHILD_SA of a mode config
// client to the identity's split-include networks.
func (sa *IKESA) responderSplits(li Selector) []Selector {
	if !sa.vip.IsValid() || sa.ident == nil || sa.ident.ModeConfig == nil {
		return []Selector{li}
	}
	return splitSelectors([]Selector{li}, sa.ident.ModeConfig.Split)
}

// initiatorSplits narrows the remote side of a CHILD_SA generated from a template to the
// split networks the responder's mode config sent.
func (sa *IKESA) initiatorSplits(cfg *ChildConfig, remote []Selector) []Selector {
	if cfg == nil || !cfg.Dynamic {
		return remote
	}
	return splitSelectors(remote, sa.splits)
}
