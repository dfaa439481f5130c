package ike

import (
	"bytes"
	"time"
)

// Simultaneous IKE SA rekeying (RFC 7296 2.8.2): when both ends rekey the same IKE SA
// at once, both exchanges complete, and of the two new IKE SAs the one created with the
// lowest of the four nonces is redundant: the end that created it (initiated its
// exchange) deletes it, and the CHILD_SAs move to the other. Both ends reach the same
// verdict from the same nonces, so the old IKE SA is deleted once, by the winner.

// acceptPeerRekey records the peer's new IKE SA while our own rekey of sa is in flight
// (d.mu held): the CHILD_SAs stay until our exchange ends and the nonces decide.
func (sa *IKESA) acceptPeerRekey(n *IKESA) {
	sa.peerRekey = n
	sa.d.log.Info("ipsec: simultaneous IKE SA rekey", "peer", sa.peer.Name)
}

// ourRekeyDone ends our rekey exchange of sa with its new IKE SA n (nil when the peer
// refused it) and reports whether a collision decided where the CHILD_SAs go (d.mu held).
func (sa *IKESA) ourRekeyDone(n *IKESA) bool {
	other := sa.peerRekey
	sa.peerRekey = nil
	if other == nil || other.state == stateDead {
		return false
	}
	if n == nil {
		// The peer refused ours (it saw its own first): its SA is the successor, and
		// the peer deletes the old one.
		sa.moveChildren(other)
		return true
	}
	if bytes.Compare(minNonce(n.ni, n.nr), minNonce(other.ni, other.nr)) < 0 {
		// Ours is redundant: delete it; the peer hands over to its own and deletes sa.
		sa.d.log.Info("ipsec: IKE SA redundant after simultaneous rekey", "peer", sa.peer.Name)
		n.deleteIKE("redundant after simultaneous rekey")
		sa.moveChildren(other)
		return true
	}
	// The peer's is redundant: the peer deletes it; ours takes over as after any rekey.
	return false
}

// moveChildren hands the CHILD_SAs to the IKE SA that replaces sa, which the peer will
// delete (no more rekeys of it meanwhile; it goes anyway when its lifetime ends).
func (sa *IKESA) moveChildren(n *IKESA) {
	n.children = append(n.children, sa.children...)
	sa.children = nil
	sa.handedTo = n
	n.redoDeletes()
	sa.rekeyAt = time.Time{}
	sa.d.changed()
}

// RekeyIKE starts a rekey of a peer's established IKE SAs now (tests; the lifetime
// starts it otherwise).
func (d *Daemon) RekeyIKE(peer string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sa := range d.sas {
		if sa.peer != nil && sa.peer.Name == peer && sa.state == stateEstablished {
			sa.rekeyIKE()
		}
	}
}
