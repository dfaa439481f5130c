package ike

import (
	"net/netip"
	"slices"
	"sort"
	"time"
)

// SAStatus is a snapshot of one IKE SA (active-peers).
type SAStatus struct {
	Peer          string
	Local, Remote netip.AddrPort
	State         string
	Initiator     bool
	NATT          bool
	SPIi, SPIr    uint64
	Suite         string
	RemoteID      string
	// Identity names the identity the SA was negotiated with (IdentityConfig.Name).
	Identity             string
	Established          time.Time
	LastSeen             time.Time
	RxBytes, TxBytes     uint64
	RxPackets, TxPackets uint64
	Children             []ChildSA
	// VirtualIP is the mode config address given to the peer or received from it.
	VirtualIP netip.Addr
	Received  bool // VirtualIP was received (initiator)
	// DNS are the DNS servers the responder's mode config handed us (initiator).
	DNS []netip.Addr
}

// Snapshot returns every IKE SA with copies of its CHILD_SAs, oldest first.
func (d *Daemon) Snapshot() []SAStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []SAStatus
	for _, sa := range d.sas {
		if sa.state == stateDead || sa.peer == nil || sa.spiI == 0 {
			continue
		}
		s := SAStatus{Peer: sa.peer.Name, Local: sa.local, Remote: sa.remote, State: sa.state.String(),
			Initiator: sa.initiator, NATT: sa.natLocal || sa.natRemote, SPIi: sa.spiI, SPIr: sa.spiR,
			RemoteID: sa.remoteID.String(), Established: sa.established, LastSeen: sa.lastRecv,
			VirtualIP: sa.vip, Received: sa.vip.IsValid() && sa.ident != nil && sa.ident.ModeConfig != nil && !sa.ident.ModeConfig.Responder,
			RxBytes: sa.rx, TxBytes: sa.tx, RxPackets: sa.rxPkts, TxPackets: sa.txPkts}
		if sa.suite != nil {
			s.Suite = sa.suite.String()
		}
		if s.Received {
			s.DNS = append([]netip.Addr(nil), sa.dns...)
		}
		if sa.ident != nil {
			s.Identity = sa.ident.Name
		}
		for _, c := range sa.children {
			s.Children = append(s.Children, *c)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Established.Before(out[j].Established) })
	return out
}

// Kill deletes IKE SAs (telling the peers): all of them when remote is invalid, else
// those with that remote address. It returns how many.
func (d *Daemon) Kill(remote netip.Addr) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, sa := range d.sas {
		if sa.state == stateDead || sa.peer == nil {
			continue
		}
		if remote.IsValid() && sa.remote.Addr() != remote {
			continue
		}
		if sa.peerMayHold() {
			sa.sendDelete()
		}
		sa.destroy("killed")
		n++
	}
	return n
}

// FlushChildren removes every CHILD_SA (installed-sa flush): the peers are told, and
// the side that set each IKE SA up negotiates new ones: at once for generated policies
// and for level=require and unique, on the next packet (acquire) for level=use.
func (d *Daemon) FlushChildren() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sa := range d.sas {
		for _, c := range append([]*ChildSA(nil), sa.children...) {
			if sa.state == stateEstablished {
				live := !c.rekeyed
				sa.deleteChild(c, "flushed")
				// Generated policies go with their CHILD_SA, so no packet would ever
				// ask for them again; a required SA is wanted whether traffic flows or
				// not (it was left to traffic, and a tunnel only the peer sends into
				// stayed down).
				if sa.initiator && c.Policy != nil && (c.Policy.Dynamic || !c.Policy.OnTraffic) && live {
					sa.recreateChild(c)
				}
			} else {
				sa.removeChild(c, "flushed")
			}
		}
	}
}

// ModeConfigClient finds the IKE SA whose mode config (responder) gave client its
// address: the SA's local address and the mode config's split-include networks.
func (d *Daemon) ModeConfigClient(client netip.Addr) (local netip.Addr, split []netip.Prefix, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, sa := range d.sas {
		if sa.state == stateDead || sa.vip != client || sa.ident == nil || sa.ident.ModeConfig == nil || !sa.ident.ModeConfig.Responder {
			continue
		}
		return sa.local.Addr().Unmap(), slices.Clone(sa.ident.ModeConfig.Split), true
	}
	return netip.Addr{}, nil, false
}
