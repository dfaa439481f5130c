package ike

import (
	"fmt"
	"time"
)

// SplitDatapath is a Datapath that installs and removes a CHILD_SA's outbound SA on its
// own. With it a rekey loses no packets (RFC 7296 2.8): the responder of a rekey
// installs the new inbound SA at once but keeps sending on the old SA until the
// initiator deletes that (by then the initiator receives on the new one), and whoever
// deletes a CHILD_SA stops sending on it before asking the peer, who may go on sending
// until the answer.
type SplitDatapath interface {
	Datapath
	InstallInbound(c *ChildSA) error
	InstallOutbound(c *ChildSA) error
	RemoveOutbound(c *ChildSA) error
}

// outWait bounds how long a rekeyed responder SA waits for the old one's delete before
// it sends anyway (a peer that never deletes).
const outWait = 10 * time.Second

// installRekeyed installs the CHILD_SA a peer's rekey request made; with a
// SplitDatapath its outbound half waits for old to go.
func (sa *IKESA) installRekeyed(c, old *ChildSA) error {
	if _, ok := sa.d.dp.(SplitDatapath); ok {
		c.outPending, c.waitFor = true, old
	}
	return sa.installChild(c)
}

// activateWaiting installs the outbound halves that waited for gone (just removed), and
// those that waited too long.
func (sa *IKESA) activateWaiting(gone *ChildSA, now time.Time) {
	split, ok := sa.d.dp.(SplitDatapath)
	if !ok {
		return
	}
	for _, c := range sa.children {
		if !c.outPending || c.rekeyed || (c.waitFor != gone && now.Sub(c.Added) < outWait) {
			continue
		}
		c.outPending, c.waitFor = false, nil
		if err := split.InstallOutbound(c); err != nil {
			sa.d.log.Warn("ipsec: cannot install outbound SA", "peer", sa.peer.Name, "err", err)
			continue
		}
		sa.d.log.Debug("ipsec: sending on the rekeyed CHILD SA", "peer", sa.peer.Name, "out-spi", fmt.Sprintf("0x%08x", c.OutSPI))
	}
}

// stopSending removes a CHILD_SA's outbound half before it is deleted.
func (sa *IKESA) stopSending(c *ChildSA) {
	split, ok := sa.d.dp.(SplitDatapath)
	if !ok {
		return
	}
	if c.outPending {
		c.outPending, c.waitFor = false, nil // never installed: it stays so
		return
	}
	sa.d.dpRemoveOutbound(split, c)
}

// answerWithChild sends the answer that creates c (nil: the answer refuses it; old: the
// SA it rekeys, or nil) and installs c. With a SplitDatapath c's inbound half goes in
// before the answer leaves: the initiator installs c when the answer arrives and sends
// on it at once, and ESP that came in ahead of our install met no SA (in-no-states: a
// ping in 400 lost when this goroutine was preempted between the two under CI load).
func (sa *IKESA) answerWithChild(h Header, out []Payload, c, old *ChildSA) {
	if c != nil {
		sa.earlyInbound(c)
	}
	sa.respond(h.Exchange, h.MsgID, out)
	switch {
	case c == nil:
	case old != nil:
		if sa.installRekeyed(c, old) == nil {
			sa.d.Stats.ChildRekeys.Add(1)
		} else if old.collision == c {
			old.collision = nil
		}
	default:
		_ = sa.installChild(c) // a refusal deletes it at the peer (refuseChild)
	}
}

// earlyInbound installs c's inbound half ahead of the rest (installDP then adds only
// the outbound half); false: no SplitDatapath, or it failed.
func (sa *IKESA) earlyInbound(c *ChildSA) bool {
	split, ok := sa.d.dp.(SplitDatapath)
	if !ok {
		return false
	}
	if err := split.InstallInbound(c); err != nil {
		sa.d.log.Warn("ipsec: cannot install inbound SA", "peer", sa.peer.Name, "err", err)
		return false
	}
	c.inEarly = true
	return true
}

// installDP installs c into the data path, only its inbound half when its outbound one
// waits.
func (sa *IKESA) installDP(c *ChildSA) error {
	if split, ok := sa.d.dp.(SplitDatapath); ok && c.inEarly {
		if c.outPending {
			return nil
		}
		return split.InstallOutbound(c)
	}
	if split, ok := sa.d.dp.(SplitDatapath); ok && c.outPending {
		return split.InstallInbound(c)
	}
	return sa.d.dp.InstallChild(c)
}

// retireGrace is how long the inbound half of a deleted CHILD_SA still takes packets:
// ESP the peer sealed just before it stopped sending may arrive after the IKE message
// that deleted the SA (they travel different queues).
const retireGrace = 2 * time.Second

type retired struct {
	c  *ChildSA
	at time.Time
}

// retireChild is removeChild for a CHILD_SA deleted by agreement with the peer: it is
// gone from the IKE SA at once and sends no more, but its inbound half stays for
// retireGrace (d.mu held).
func (sa *IKESA) retireChild(c *ChildSA, why string) {
	if _, ok := sa.d.dp.(SplitDatapath); !ok {
		sa.removeChild(c, why)
		return
	}
	for i, x := range sa.children {
		if x != c {
			continue
		}
		// The successor sends first, then this one stops: no moment without an SA.
		sa.activateWaiting(c, time.Now())
		sa.countChild(c)
		sa.stopSending(c)
		sa.children = append(sa.children[:i], sa.children[i+1:]...)
		sa.d.retired = append(sa.d.retired, retired{c, time.Now().Add(retireGrace)})
		sa.d.log.Info("ipsec: CHILD SA removed", "peer", sa.peer.Name, "in-spi", fmt.Sprintf("0x%08x", c.InSPI), "reason", why)
		sa.d.changed()
		return
	}
}

// expireRetired removes the inbound halves whose grace is over (d.mu held).
func (d *Daemon) expireRetired(now time.Time, all bool) {
	keep := d.retired[:0]
	for _, r := range d.retired {
		if all || now.After(r.at) {
			d.dpRemove(r.c)
			continue
		}
		keep = append(keep, r)
	}
	d.retired = keep
}

// redoDeletes asks again, on the IKE SA the CHILD_SAs just moved to, for the deletes of
// those still waiting for one: a delete queued on the replaced IKE SA reaches a peer
// whose old IKE SA no longer holds them, and the peer would go on sending on them.
func (sa *IKESA) redoDeletes() {
	for _, c := range append([]*ChildSA(nil), sa.children...) {
		if c.rekeyed && c.deleteAt.IsZero() { // a lagged delete goes from the new SA's tick
			sa.deleteChild(c, "rekeyed")
		}
	}
}
