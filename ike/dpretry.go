package ike

import (
	"fmt"
	"time"
)

// A data path that refuses to remove an SA leaves it there after IKE forgot it: an xfrm
// SA until its hard lifetime, a userspace one until the data path closes. The daemon
// keeps each refused removal and tries it again on every tick until it succeeds
// (retryRemovals); the first refusal is logged at warning and counted
// (Stats.RemoveRefused), the ones still waiting are Daemon.UnremovedSAs.

// unremoved is a refused removal: a copy of the CHILD_SA as it was then (the removal
// needs the addresses it was installed with, which a NAT move may change since).
type unremoved struct {
	c     ChildSA
	out   bool // only the outbound half (SplitDatapath.RemoveOutbound)
	since time.Time
	tries int
	err   error
}

// dpRemove removes both halves of c from the data path; a refusal is kept for retrying
// (d.mu held). A pending removal of c's outbound half is covered by this one.
func (d *Daemon) dpRemove(c *ChildSA) error {
	if d.dp == nil {
		return nil
	}
	d.forgetUnremoved(c)
	err := d.dp.RemoveChild(c)
	if err != nil {
		d.keepUnremoved(c, false, err)
	}
	return err
}

// dpRemoveOutbound removes c's outbound half (d.mu held); see dpRemove.
func (d *Daemon) dpRemoveOutbound(split SplitDatapath, c *ChildSA) error {
	err := split.RemoveOutbound(c)
	if err != nil {
		d.keepUnremoved(c, true, err)
	}
	return err
}

func (d *Daemon) keepUnremoved(c *ChildSA, out bool, err error) {
	half := "both halves"
	if out {
		half = "outbound half"
	}
	d.Stats.RemoveRefused.Add(1)
	d.log.Warn("ipsec: the data path refused to remove a CHILD SA; trying again until it goes", "peer", c.Peer,
		"in-spi", fmt.Sprintf("0x%08x", c.InSPI), "out-spi", fmt.Sprintf("0x%08x", c.OutSPI), "what", half, "err", err)
	d.unremoved = append(d.unremoved, unremoved{c: *c, out: out, since: time.Now(), err: err})
}

// forgetUnremoved drops the pending removals of c as installed now (same SPIs and
// addresses): a new removal of it replaces them.
func (d *Daemon) forgetUnremoved(c *ChildSA) {
	keep := d.unremoved[:0]
	for _, u := range d.unremoved {
		if u.c.InSPI != c.InSPI || u.c.OutSPI != c.OutSPI || u.c.Local != c.Local || u.c.Remote != c.Remote {
			keep = append(keep, u)
		}
	}
	clear(d.unremoved[len(keep):])
	d.unremoved = keep
}

// retryRemovals tries the refused removals again (d.mu held); one that still fails
// stays, silently: its first refusal was said.
func (d *Daemon) retryRemovals(now time.Time) {
	if len(d.unremoved) == 0 || d.dp == nil {
		return
	}
	keep := d.unremoved[:0]
	for _, u := range d.unremoved {
		var err error
		if split, ok := d.dp.(SplitDatapath); ok && u.out {
			err = split.RemoveOutbound(&u.c)
		} else {
			err = d.dp.RemoveChild(&u.c)
		}
		u.tries++
		if err != nil {
			u.err = err
			keep = append(keep, u)
			continue
		}
		d.log.Info("ipsec: CHILD SA removed from the data path after refusals", "peer", u.c.Peer,
			"in-spi", fmt.Sprintf("0x%08x", u.c.InSPI), "out-spi", fmt.Sprintf("0x%08x", u.c.OutSPI),
			"outbound-only", u.out, "tries", u.tries+1, "after", now.Sub(u.since).Truncate(time.Millisecond))
	}
	clear(d.unremoved[len(keep):])
	d.unremoved = keep
}

// UnremovedSAs is the number of CHILD_SA removals the data path refused and that are
// still waiting to be tried again, and the last refusal's reason.
func (d *Daemon) UnremovedSAs() (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.unremoved) == 0 {
		return 0, nil
	}
	return len(d.unremoved), d.unremoved[len(d.unremoved)-1].err
}

// UnremovedSA is a CHILD_SA whose removal the data path refused, as it was installed:
// IKE has deleted it, the data path still holds it (installed-sa shows it dead).
type UnremovedSA struct {
	ChildSA
	// OutboundOnly: only the outbound half is waiting (the inbound one is gone).
	OutboundOnly bool
	Since        time.Time // the first refusal
	Err          error     // the last refusal
}

// Unremoved are the refused CHILD_SA removals still waiting to be tried again, the
// oldest first.
func (d *Daemon) Unremoved() []UnremovedSA {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]UnremovedSA, 0, len(d.unremoved))
	for _, u := range d.unremoved {
		out = append(out, UnremovedSA{ChildSA: u.c, OutboundOnly: u.out, Since: u.since, Err: u.err})
	}
	return out
}

// refuseChild undoes a CHILD_SA the data path refused to install (d.mu held): what of
// it went in comes out, and the peer, which has it since the exchange ended, is told to
// delete it. It was never added to sa.children, so the delete's answer finds nothing
// more to remove.
func (sa *IKESA) refuseChild(c *ChildSA, err error) {
	sa.d.Stats.InstallRefused.Add(1)
	sa.d.log.Warn("ipsec: the data path refused the CHILD SA; deleting it at the peer", "peer", sa.peer.Name,
		"in-spi", fmt.Sprintf("0x%08x", c.InSPI), "out-spi", fmt.Sprintf("0x%08x", c.OutSPI), "err", err)
	c.outPending, c.waitFor = false, nil
	sa.deleteChild(c, "the data path refused it: "+err.Error())
	sa.d.dpRemove(c)
	sa.d.changed()
}
