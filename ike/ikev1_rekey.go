package ike

import (
	"slices"
	"time"
)

// IKEv1 Quick Mode rekeys without packet loss (with a SplitDatapath, as
// rekeyswitch.go does for IKEv2). The initiator installs the new SA pair on message 2
// and sends on it at once, so the responder installs the inbound half when it sends
// message 2, before the initiator can use it. On message 3 the responder sends on the
// new SA only once the initiator deletes the one it replaces (then the initiator
// receives on the new one), or after outWait when no delete comes. The initiator
// receives on the new SA from message 2 on, but goes on sending on the old one for
// rekeyOverlap, until the responder (a peer that installs its SA only on message 3,
// like charon) surely has the new one; then it sends on the new SA, and deletes the old
// deleteLag later.
// Deleted inbound halves linger for retireGrace.

// v1EarlyInbound installs the inbound half of the SA the responder's message 2 makes.
func (sa *IKESA) v1EarlyInbound(c *ChildSA) {
	if sa.earlyInbound(c) {
		c.outPending = true
	}
}

// v1ResponderInstall completes the responder's SA on message 3: the outbound half now,
// or, when the SA rekeys one of the same selectors, once that one is deleted.
func (sa *IKESA) v1ResponderInstall(c *ChildSA) {
	if c.inEarly {
		if old := sa.v1Predecessor(c); old != nil {
			c.waitFor = old
		} else {
			c.outPending = false
		}
	}
	sa.v1Install(c)
}

// v1Predecessor is the SA a new one of the same selectors replaces (nil: none).
func (sa *IKESA) v1Predecessor(c *ChildSA) *ChildSA {
	for _, x := range sa.children {
		if x != c && !x.rekeyed && selString(x.LocalTS) == selString(c.LocalTS) && selString(x.RemoteTS) == selString(c.RemoteTS) {
			return x
		}
	}
	return nil
}

// v1DropQM forgets a Quick Mode; an inbound half it installed early goes too.
func (sa *IKESA) v1DropQM(qm *v1QM) {
	if c := qm.child; c != nil && c.inEarly && !qm.initiator {
		qm.child = nil
		sa.d.dpRemove(c)
	}
	delete(sa.v1.qms, qm.msgID)
}

// v1DropQMs forgets every Quick Mode in progress (the ISAKMP SA goes).
func (sa *IKESA) v1DropQMs() {
	for _, qm := range sa.v1.qms {
		if qm.rekey != nil {
			qm.rekey.rekeying = false
		}
		sa.v1DropQM(qm)
	}
}

// v1Waiting installs the outbound halves that waited too long for a delete.
func (sa *IKESA) v1Waiting(now time.Time) { sa.activateWaiting(nil, now) }

// rekeyOverlap is how long the initiator of a rekey sends on the old SA after message
// 3, so that the responder has installed the new one.
const rekeyOverlap = time.Second

// v1InitiatorRekeyed installs c, which rekeys old, after our message 3: with a
// SplitDatapath its outbound half waits for old's delete, rekeyOverlap from now.
func (sa *IKESA) v1InitiatorRekeyed(c, old *ChildSA) {
	if _, ok := sa.d.dp.(SplitDatapath); !ok {
		sa.v1Install(c)
		sa.v1DeleteChild(old, "rekeyed")
		return
	}
	c.outPending, c.waitFor = true, old
	sa.v1Install(c)
	old.rekeyed = true
	if sa.v1.retire == nil {
		sa.v1.retire = map[*ChildSA]time.Time{}
	}
	sa.v1.retire[old] = time.Now().Add(rekeyOverlap)
}

// deleteLag is how long after the successor takes over sending the delete of the
// rekeyed SA goes out. charon's kernel-libipsec decrypts inbound ESP on a queue of its
// own while IKE runs on other threads: a delete sent right after our last packet on the
// old SA was seen to overtake that packet, which then met no SA and was dropped (one
// ping in a few hundred at 20 a second, in a capture inside charon's namespace: ESP on
// the old SPI arrived before the delete, and never came out of charon's ipsec0).
const deleteLag = 500 * time.Millisecond

// v1RetireRekeyed ends the rekeyed SAs whose overlap is over: the successor sends
// from then on, and the delete follows deleteLag later, when what we sent on the old
// SA is surely through the peer.
func (sa *IKESA) v1RetireRekeyed(now time.Time) {
	for c, at := range sa.v1.retire {
		if now.Before(at) {
			continue
		}
		delete(sa.v1.retire, c)
		if _, ok := sa.d.dp.(SplitDatapath); !ok {
			sa.v1DeleteChild(c, "rekeyed")
			continue
		}
		sa.activateWaiting(c, now)
		sa.stopSending(c)
		c.outPending = true // its outbound half is gone: retireChild need not remove it
		if sa.v1.retireDel == nil {
			sa.v1.retireDel = map[*ChildSA]time.Time{}
		}
		sa.v1.retireDel[c] = now.Add(deleteLag)
	}
	for c, at := range sa.v1.retireDel {
		if now.Before(at) {
			continue
		}
		delete(sa.v1.retireDel, c)
		if slices.Contains(sa.children, c) {
			sa.v1DeleteChild(c, "rekeyed")
		}
	}
}
