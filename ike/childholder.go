package ike

// After an IKE SA rekey the CHILD SAs belong to the new IKE SA, and the old one lives
// on until its delete is answered (RFC 7296 2.8). The peer may still send a delete of
// CHILD SAs on the old IKE SA meanwhile: it was queued there before the rekey ended,
// or the peer (charon, say) sends it on the SA it had in hand. Looking only at the old
// SA's (now empty) CHILD SAs, the delete removed nothing and was answered empty: the
// peer dropped its inbound SA while we went on sending on it, and our inbound half
// stayed until it expired. The old IKE SA therefore keeps a link to its successor,
// and a delete arriving on it finds the CHILD SAs where they went.

// maxHandOvers bounds the walk along successors: each IKE SA is rekeyed at most once,
// so the chain is short; the bound only guards against a cycle.
const maxHandOvers = 8

// childByOutSPI finds the CHILD SA whose outbound SPI is spi (the peer's inbound SPI,
// as its delete names it) on sa or on the IKE SAs its CHILD SAs moved to by rekeying,
// with the IKE SA that holds it (d.mu held).
func (sa *IKESA) childByOutSPI(spi uint32) (*IKESA, *ChildSA) {
	for h, i := sa, 0; h != nil && i < maxHandOvers; h, i = h.handedTo, i+1 {
		if h != sa && h.state == stateDead {
			return nil, nil
		}
		for _, c := range h.children {
			if c.OutSPI == spi {
				return h, c
			}
		}
	}
	return nil, nil
}
