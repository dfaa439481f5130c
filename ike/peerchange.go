package ike

import (
	"fmt"
	"hash/fnv"
	"time"
)

// Initiation backoff: a peer that cannot be initiated (no route, no socket) is tried
// again after firstRetry, doubling up to maxRetry, and the reason is logged once until
// it changes (a router without a route to its peer otherwise fills the log).
const (
	firstRetry = 5 * time.Second
	maxRetry   = time.Minute
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

// initFailed records a failed initiation: the next try backs off and the reason is
// logged only when it differs from the last one (d.mu held).
func (d *Daemon) initFailed(p *PeerConfig, now time.Time, err error) {
	if d.backoff == nil {
		d.backoff, d.lastErr = map[string]time.Duration{}, map[string]string{}
	}
	b := d.backoff[p.Name]
	if b == 0 {
		b = firstRetry
	} else if b *= 2; b > maxRetry {
		b = maxRetry
	}
	d.backoff[p.Name] = b
	d.retryAt[p.Name] = now.Add(b)
	if msg := err.Error(); d.lastErr[p.Name] != msg {
		d.lastErr[p.Name] = msg
		d.log.Warn("ipsec: cannot initiate", "peer", p.Name, "err", err, "retry-in", b)
	} else {
		d.log.Debug("ipsec: cannot initiate", "peer", p.Name, "err", err, "retry-in", b)
	}
}

// initStarted forgets a peer's backoff once an initiation went out (d.mu held).
func (d *Daemon) initStarted(p *PeerConfig) {
	if d.backoff != nil {
		if _, ok := d.lastErr[p.Name]; ok {
			d.log.Info("ipsec: initiating again", "peer", p.Name)
		}
		delete(d.backoff, p.Name)
		delete(d.lastErr, p.Name)
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
