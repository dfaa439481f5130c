package ike

// Both sides starting Phase 1 at once (two routers configured together): each side
// initiates, both ISAKMP SAs come up, each with Quick Modes for the policies. As IKEv2
// does (dropDuplicate), the SA with the larger initiator cookie is redundant and its
// initiator deletes it, here with an ISAKMP delete only: its IPsec SAs move to the SA
// that stays, on both sides (the peer moves them when the delete arrives, v1Expire),
// and those that duplicate one of the staying SA (the same selectors) are deleted, so
// one phase 2 per policy remains.

// v1DropDuplicate resolves sa, just established, against another established ISAKMP
// SA with the peer; true when sa itself is gone.
func (sa *IKESA) v1DropDuplicate() bool {
	for _, o := range sa.d.sas {
		if o == sa || o.v1 == nil || o.peer != sa.peer || o.state != stateEstablished || o.remote.Addr() != sa.remote.Addr() ||
			o.v1.replaces == sa || sa.v1.replaces == o {
			continue
		}
		redundant, keep := sa, o
		if o.spiI > sa.spiI {
			redundant, keep = o, sa
		}
		if !redundant.initiator {
			return false // the peer deletes it
		}
		sa.d.log.Info("ipsec: both sides initiated; deleting the redundant ISAKMP SA", "peer", sa.peer.Name, "remote", sa.remote.Addr())
		redundant.v1SendDeleteISAKMP()
		keep.v1TakeOver(redundant, "redundant: both sides initiated")
		return redundant == sa
	}
	return false
}

// v1EstablishedWith is another established ISAKMP SA with sa's peer (nil: none).
func (sa *IKESA) v1EstablishedWith() *IKESA {
	for _, o := range sa.d.sas {
		if o != sa && o.v1 != nil && o.peer == sa.peer && o.state == stateEstablished && o.remote.Addr() == sa.remote.Addr() {
			return o
		}
	}
	return nil
}

// v1TakeOver moves the IPsec SAs of old, whose ISAKMP SA is gone, to sa; one that
// duplicates an IPsec SA of sa is deleted. An initiator then starts what is missing.
func (sa *IKESA) v1TakeOver(old *IKESA, why string) {
	moved := old.children
	old.children = nil
	old.destroy(why)
	for _, c := range moved {
		dup := sa.v1Predecessor(c)
		sa.children = append(sa.children, c)
		if dup != nil && !dup.rekeying && !c.rekeying {
			sa.v1DeleteChild(c, why)
		}
	}
	sa.d.changed()
	if sa.initiator && !sa.vip.IsValid() {
		sa.v1StartChildren()
	}
}

// v1DropRedundantChild deletes c, just made by our Quick Mode (not a rekey), when the
// policy got an IPsec SA meanwhile (one moved here from a redundant ISAKMP SA, or the
// peer's Quick Mode): one phase 2 per policy. Only the Quick Mode's initiator decides
// (the responder cannot tell a rekey from a duplicate); its delete tells the peer.
func (sa *IKESA) v1DropRedundantChild(c *ChildSA) {
	if dup := sa.v1Predecessor(c); dup != nil && !dup.rekeying {
		sa.v1DeleteChild(c, "redundant: the policy has an IPsec SA")
	}
}
