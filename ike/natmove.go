package ike

import (
	"fmt"
	"net/netip"
	"slices"
)

// MovingDatapath is a Datapath that can move a CHILD_SA to the peer's new endpoint in
// place (its sequence numbers and replay window kept), which a NAT mapping change needs;
// without it the CHILD_SA is removed and installed again.
type MovingDatapath interface {
	MoveChild(c *ChildSA, oldRemote netip.AddrPort) error
}

// moveTo follows a peer behind a NAT whose mapping changed (RFC 7296 2.23: the address
// and port of authenticated messages are the peer's from then on): IKE answers there,
// and its CHILD_SAs' ESP-in-UDP goes there (d.mu held). seenIn says which message showed
// it (IKE or ESP).
func (sa *IKESA) moveTo(from netip.AddrPort, seenIn string) {
	old := sa.remote
	sa.d.log.Info("ipsec: peer address changed", "peer", sa.peer.Name, "from", old, "to", from, "seen-in", seenIn)
	sa.remote = from
	var refused []*ChildSA
	var errs []error
	for _, c := range sa.children {
		prev := c.Remote
		c.Remote = from
		followTransport(c, old.Addr(), from.Addr())
		dp := sa.d.dp
		if dp == nil || c.outPending {
			continue
		}
		if mv, ok := dp.(MovingDatapath); ok {
			if err := mv.MoveChild(c, prev); err != nil {
				sa.d.log.Warn("ipsec: cannot move CHILD SA to the peer's new address", "peer", sa.peer.Name,
					"spi-in", fmt.Sprintf("0x%x", c.InSPI), "to", from, "err", err)
			}
			continue
		}
		c.Remote = prev
		sa.d.dpRemove(c) // a refusal is tried again with the old address (dpretry.go)
		c.Remote = from
		if err := dp.InstallChild(c); err != nil {
			refused, errs = append(refused, c), append(errs, err)
		}
	}
	// One the data path refused at the new address is gone from here: the peer deletes it too.
	for i, c := range refused {
		sa.children = slices.DeleteFunc(sa.children, func(x *ChildSA) bool { return x == c })
		sa.countChild(c)
		sa.refuseChild(c, errs[i])
	}
	sa.d.changed()
}

// followTransport moves the peer's side of a transport CHILD_SA's generated policy from
// its old address to its new one: that side is the peer's address as this side sees it
// (natTransport), and its packets now come from the new one. Left on the old address,
// every packet met no policy (in-no-policies) until the IKE SA was made again, rekeys
// included (they keep the old SA's selectors). A configured policy is the operator's.
func followTransport(c *ChildSA, old, now netip.Addr) {
	if c.Tunnel || c.Policy == nil || !c.Policy.Dynamic || old == now {
		return
	}
	// New slices and a new policy, not edits in place: a rekey's successor shares them,
	// and a snapshot handed out earlier may still be read.
	ts := slices.Clone(c.RemoteTS)
	for i, r := range ts {
		if r.Start == old && r.End == old {
			ts[i] = withAddr(r, now)
		}
	}
	c.RemoteTS = ts
	if p := *c.Policy; p.Remote.Start == old && p.Remote.End == old {
		p.Remote = withAddr(p.Remote, now) // generatedReqID finds it at the next rekey
		c.Policy = &p
	}
}

// ESPMapping is told by the data path that authenticated ESP-in-UDP of the CHILD_SA
// whose inbound SPI is inSPI came from another endpoint than the peer's: its NAT mapping
// changed. A peer behind a NAT is followed at once, as an authenticated IKE message from
// there would be (strongSwan does the same on the kernel's XFRM_MSG_MAPPING); ESP from
// elsewhere for a peer not behind a NAT is ignored.
func (d *Daemon) ESPMapping(inSPI uint32, from netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	for _, sa := range d.sas {
		for _, c := range sa.children {
			if c.InSPI != inSPI {
				continue
			}
			if !c.Encap || !sa.natRemote || sa.state != stateEstablished || from == sa.remote {
				d.log.Debug("ipsec: ESP from another address not followed", "peer", sa.peer.Name, "from", from,
					"peer-address", sa.remote, "peer-behind-nat", sa.natRemote)
				return
			}
			sa.moveTo(from, "ESP")
			return
		}
	}
}
