package ike

// recreateChild negotiates a new CHILD_SA for the selectors of one that installed-sa
// flush removed, on the IKE SA it lived on (FlushChildren says which). A policy
// generated from a template (mode config, generate-policy) goes with its CHILD_SA, so
// no traffic would ever acquire a new one and the tunnel would stay down while the IKE
// SA lives; RouterOS keeps such policies and renegotiates. sa.d.mu held.
func (sa *IKESA) recreateChild(old *ChildSA) {
	cfg := old.Policy
	if cfg == nil || sa.state != stateEstablished {
		return
	}
	if sa.v1 != nil {
		// A configured policy gets a new Quick Mode; IKEv1 mode config's generated ones
		// are made again from the address (wantedChild) by the retries.
		if !cfg.Dynamic && !sa.negotiating(keyOf(cfg)) {
			sa.createChild(cfg)
		}
		return
	}
	if sa.creating == nil {
		sa.creating = map[uint64]bool{}
	}
	if sa.creating[cfg.ID] {
		return
	}
	sa.creating[cfg.ID] = true
	cp := sa.proposeChild(cfg, nil, true)
	cp.tsi, cp.tsr = old.LocalTS, old.RemoteTS
	sa.request(CreateChildSA, cp.payloads(true), func(rs []Payload) {
		delete(sa.creating, cfg.ID)
		nr := Find[*Nonce](rs)
		if nr == nil {
			sa.completeChild(cp, rs, cp.ni, nil) // logs the error notify
			return
		}
		sa.completeChild(cp, rs, cp.ni, nr.Data)
	}, func() { delete(sa.creating, cfg.ID) })
}

// childDHGroup is the PFS group this side asks a CHILD_SA initiator for (INVALID_KE_PAYLOAD):
// the first of the peer's policies, or of the identity's templates when policies are
// generated (a passive generate-policy peer has none of its own); 0 when there is none.
func (sa *IKESA) childDHGroup() uint16 {
	for _, c := range sa.peer.Children {
		if g := firstDH(c.Proposals); g != 0 {
			return g
		}
	}
	if sa.ident != nil {
		for _, c := range sa.ident.Templates {
			if g := firstDH(c.Proposals); g != 0 {
				return g
			}
		}
	}
	return 0
}
