package ike

import "time"

// dpdBudgetSpent ends an established IKE SA whose outstanding request (a rekey, a
// delete: anything but a DPD probe, which counts its own failures) has gone unanswered
// for dpd-interval x dpd-maximum-failures, as RouterOS counts any unanswered request:
// otherwise a peer killed just as a rekey starts is found dead only when the request's
// doubling retransmissions run out (66 s instead of 32 s with 8s x 4). d.mu held.
func (sa *IKESA) dpdBudgetSpent(now time.Time) bool {
	r := sa.pending
	if r == nil || r.fixed || sa.state != stateEstablished || sa.peer.DPDInterval <= 0 {
		return false
	}
	budget := sa.peer.DPDInterval * time.Duration(max(sa.peer.DPDMaxFailures, 1))
	if now.Sub(r.firstAt) < budget {
		return false
	}
	sa.pending = nil
	sa.d.Stats.DPDFailures.Add(1)
	sa.d.log.Warn("ipsec: peer is dead (no answer within dpd-interval x dpd-maximum-failures)", "peer", sa.peer.Name,
		"remote", sa.remote.Addr(), "exchange", r.exch.String(), "tries", r.tries)
	sa.destroy("dead peer")
	return true
}
