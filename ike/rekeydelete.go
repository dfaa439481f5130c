package ike

import (
	"slices"
	"time"
)

// retireRekeyed ends a CHILD_SA our rekey replaced (the successor is installed and
// sends). With a SplitDatapath it stops sending on the old SA at once and asks the peer
// to delete it deleteLag later, as IKEv1 does (ikev1_rekey.go): charon's kernel-libipsec
// decrypts ESP on a queue of its own, and a delete sent right behind our last packet on
// the old SA can overtake that packet inside charon, which then finds no SA for it.
func (sa *IKESA) retireRekeyed(old *ChildSA) {
	if _, ok := sa.d.dp.(SplitDatapath); !ok {
		sa.deleteChild(old, "rekeyed")
		return
	}
	old.rekeyed = true
	sa.stopSending(old)
	old.outPending = true // its outbound half is gone: deleteChild need not remove it
	old.deleteAt = time.Now().Add(deleteLag)
}

// sendLaggedDeletes sends the deletes retireRekeyed put off, once their time is up.
func (sa *IKESA) sendLaggedDeletes(now time.Time) {
	for _, c := range slices.Clone(sa.children) {
		if c.deleteAt.IsZero() || now.Before(c.deleteAt) {
			continue
		}
		c.deleteAt = time.Time{}
		sa.deleteChild(c, "rekeyed")
	}
}
