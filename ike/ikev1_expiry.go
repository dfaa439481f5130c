package ike

import "time"

// Phase 1 expiry without DPD (RouterOS and racoon): the ISAKMP SA goes, its IPsec SAs
// stay and live out their own lifetimes. The IKESA then only holds them
// (stateP1Expired): it takes and sends no ISAKMP message, its SAs are not shown as an
// active peer. When one of them reaches its soft lifetime a new Phase 1 is negotiated
// (by a side that may initiate), and whichever Phase 1 next comes up with the peer,
// in either role, adopts them: their rekeys and deletes go through it.

// v1Expire ends the ISAKMP SA but keeps its IPsec SAs; it tells the peer (only the
// ISAKMP SA is deleted) unless the peer deleted it.
func (sa *IKESA) v1Expire(why string, tell bool) {
	if keep := sa.v1EstablishedWith(); keep != nil {
		// Another ISAKMP SA with the peer is up (both sides initiated): it takes them.
		if tell {
			sa.v1SendDeleteISAKMP()
		}
		keep.v1TakeOver(sa, why)
		return
	}
	if len(sa.children) == 0 {
		if tell {
			sa.v1SendDeleteISAKMP()
		}
		sa.destroy(why)
		return
	}
	if tell {
		sa.v1SendDeleteISAKMP()
	}
	sa.v1DropQMs()
	sa.state = stateP1Expired
	sa.rekeyAt, sa.expireAt = time.Time{}, time.Time{}
	sa.d.log.Info("ipsec: ISAKMP SA deleted, its IPsec SAs stay", "peer", sa.peer.Name, "remote", sa.remote.Addr(),
		"reason", why, "ipsec-sas", len(sa.children))
	sa.d.changed()
}

// v1SendDeleteISAKMP deletes only the ISAKMP SA at the peer.
func (sa *IKESA) v1SendDeleteISAKMP() {
	d := &v1Delete{Proto: v1ProtoISAKMP, SPIs: [][]byte{sa.v1Cookies()}}
	sa.v1SendInfo([]v1Payload{{Type: v1PDelete, Body: d.encode()}})
}

// v1OrphanTimers runs the lifetimes of the IPsec SAs an expired Phase 1 holds.
func (sa *IKESA) v1OrphanTimers(now time.Time) {
	sa.v1Phase1Failed()
	for _, c := range append([]*ChildSA(nil), sa.children...) {
		age := now.Sub(c.Added)
		if c.Lifetime > 0 && age >= c.Lifetime {
			sa.removeChild(c, "hard lifetime expired")
			continue
		}
		if c.Soft > 0 && age >= c.Soft && !c.rekeying && !sa.rekeying && !sa.peer.Passive && !now.Before(sa.rekeyAt) {
			// A new Phase 1 adopts this SA and rekeys it (v1Adopt).
			sa.rekeying = true
			if n := sa.d.started[sa.peer.Name]; n != nil && n.state != stateDead && n.state != stateP1Expired {
				continue // one is on its way already
			}
			if n, err := sa.d.initiateV1(sa.peer); err == nil {
				sa.d.started[sa.peer.Name] = n
			} else {
				sa.rekeying = false
				sa.ikeRekeyFailed(err.Error(), false)
			}
		}
	}
	if len(sa.children) == 0 {
		sa.destroy("its IPsec SAs expired")
	}
}

// v1Adopt moves the IPsec SAs of expired Phase 1s with the same peer to sa, just
// established.
func (sa *IKESA) v1Adopt() {
	for _, o := range sa.d.sas {
		if o == sa || o.v1 == nil || o.state != stateP1Expired || o.peer.Name != sa.peer.Name || o.remote.Addr() != sa.remote.Addr() {
			continue
		}
		sa.children = append(sa.children, o.children...)
		o.children = nil
		o.destroy("IPsec SAs adopted by a new phase 1")
	}
}
