package ike

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"
)

// peerMoved reports whether an IKE SA no longer fits its peer's new configuration: the
// configured address no longer covers the address the SA talks to, or phase 1 is bound
// to another local address. Such an SA is deleted and the peer initiated afresh
// (RouterOS applies a changed peer address at once).
func peerMoved(sa *IKESA, np *PeerConfig) bool {
	if !sa.initiator && !np.Remote.IsValid() {
		return false
	}
	if np.Remote.IsValid() && sa.remote.Addr().IsValid() && !np.Remote.Contains(sa.remote.Addr()) && !sa.natRemote {
		return true
	}
	if np.Local.IsValid() && !np.Local.IsUnspecified() && sa.local.Addr().IsValid() &&
		!sa.local.Addr().IsUnspecified() && np.Local != sa.local.Addr() {
		return true
	}
	return false
}

// sameEndpoints reports whether two configurations of a peer initiate to the same place,
// so that a pending retry time stays.
func sameEndpoints(a, b *PeerConfig) bool {
	return a.Remote == b.Remote && a.Local == b.Local && a.Port == b.Port && a.Passive == b.Passive
}

// Initiation backoff: a peer whose IKE SA cannot be started (no route, no socket) or
// whose IKE SA died before it was established (no answer, NO_PROPOSAL_CHOSEN,
// AUTHENTICATION_FAILED: a tunnel's ipsec-secret the other end does not share) is
// initiated again after the pause a refused CHILD SA waits (backoff: 1 s doubling to
// 30 s), not at a fixed pace; the cause is logged at warning level once until it
// changes. An IKE SA of the peer coming up, or a configuration change, ends the pause.

// initFailed records a failed attempt to bring a peer's IKE SA up (d.mu held). local is
// set when the initiation itself could not start.
func (d *Daemon) initFailed(p *PeerConfig, now time.Time, cause string, local bool) {
	r := d.initBackoff(p)
	wait, level := r.fail(cause, now)
	if local {
		d.log.Log(context.Background(), level, "ipsec: cannot initiate", "peer", p.Name, "err", cause, "retry-in", wait)
		return
	}
	d.log.Log(context.Background(), level, "ipsec: IKE SA not established, initiating again later", "peer", p.Name,
		"reason", cause, "attempts", r.fails, "retry-in", wait)
}

// initEnded records the end of an IKE SA that was not established yet (d.mu held). When
// the configuration no longer lets startPeers initiate to the peer (it, its last
// identity or its last policy was removed, or it became passive), no retry will come:
// saying "initiating again later" would mislead the operator, and a pause kept for a
// name that may be reused would delay the new peer.
func (d *Daemon) initEnded(p *PeerConfig, now time.Time, why string) {
	if np := d.peerNamed(p.Name); np == nil || np.Passive || len(np.Children) == 0 || len(np.Identities) == 0 {
		delete(d.initRetry, p.Name)
		d.log.Info("ipsec: IKE SA stopped", "peer", p.Name, "reason", why)
		return
	}
	d.initFailed(p, now, why, false)
}

// peerNamed is the configured peer named name, or nil (d.mu held).
func (d *Daemon) peerNamed(name string) *PeerConfig {
	for _, p := range d.peers {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// initBackoff is the peer's initiation backoff, made on first use (d.mu held).
func (d *Daemon) initBackoff(p *PeerConfig) *backoff {
	if d.initRetry == nil {
		d.initRetry = map[string]*backoff{}
	}
	r := d.initRetry[p.Name]
	if r == nil {
		r = &backoff{}
		d.initRetry[p.Name] = r
	}
	return r
}

// initWaitSource records that a peer could not be initiated because the address to send
// from is not usable yet (errSourceNotUsable, d.mu held): it is looked at again after
// sourceRetry, without counting a failed attempt (nothing was sent, and the backoff of
// a later real failure starts afresh). Logged at warning level once until the cause
// changes, so an operator sees why the peer waits.
func (d *Daemon) initWaitSource(p *PeerConfig, now time.Time, cause string) {
	r := d.initBackoff(p)
	level := slog.LevelDebug
	if r.cause != cause {
		r.cause, level = cause, slog.LevelWarn
	}
	r.next = now.Add(sourceRetry)
	d.log.Log(context.Background(), level, "ipsec: waiting for a usable source address", "peer", p.Name, "err", cause,
		"retry-in", sourceRetry)
}

// initDue reports whether the peer's pause after failed attempts is over (d.mu held).
func (d *Daemon) initDue(p *PeerConfig, now time.Time) bool {
	r := d.initRetry[p.Name]
	return r == nil || !now.Before(r.next)
}

// initUp ends the pause of a peer whose IKE SA came up (d.mu held).
func (d *Daemon) initUp(p *PeerConfig) {
	if r := d.initRetry[p.Name]; r != nil {
		if r.fails > 0 {
			d.log.Info("ipsec: IKE SA up after failed attempts", "peer", p.Name, "attempts", r.fails)
		}
		delete(d.initRetry, p.Name)
	}
}

// stateSig summarises the SAs (states, children and endpoints) so that the engine is
// told only when something it shows or installs changed (d.mu held). Per-SA hashes are
// summed: map order must not matter.
func (d *Daemon) stateSig() uint64 {
	sum := uint64(len(d.sas))
	for spi, sa := range d.sas {
		h := fnv.New64a()
		fmt.Fprint(h, spi, sa.state, sa.remote, sa.local)
		for _, c := range sa.children {
			fmt.Fprint(h, c.InSPI, c.OutSPI)
		}
		sum += h.Sum64()
	}
	return sum
}
