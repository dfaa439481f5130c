package ike

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"
)

// Phase 2 retries. A policy that wants an SA keeps asking for one, as RouterOS does
// ("phase2 negotiation failed" repeats): a CHILD SA (IKE_AUTH's first one or
// CREATE_CHILD_SA) or Quick Mode that the peer refused, that got no answer or an answer
// we cannot use, is negotiated again after childRetryFirst, doubling up to
// childRetryMax. A peer whose policy came up a moment after our request (its
// configuration was still being applied), or that refused once for a passing reason,
// so still gets the SA. The backoff restarts when the configuration changes and ends
// when an SA for the policy comes up. A refused rekey backs off the same way on the SA
// it replaces, which stays until its hard lifetime; the SA is then deleted at the peer
// (INFORMATIONAL delete, IKEv1 delete payload) and a new one negotiated. Each cause is
// logged once per policy, the further attempts only at debug level. Traffic (Acquire)
// does not hurry a backoff: an acquire during the pause starts no exchange, else a
// refused policy was asked again about once a second while traffic flowed. A passive
// peer's policy is not retried on a timer (it waits for traffic), but its backoff is
// kept all the same, so that its acquires are paced and the cause logged once.

const (
	childRetryFirst = time.Second
	childRetryMax   = 30 * time.Second
)

// childKey names a policy's CHILD SAs: its id and selectors (IKEv1 mode config makes one
// per split network from the same policy).
type childKey struct {
	id            uint64
	local, remote Selector
}

func keyOf(c *ChildConfig) childKey { return childKey{c.ID, c.Local, c.Remote} }

type retryKey struct {
	peer string
	childKey
}

// childRetry is a policy's pending retry.
type childRetry struct {
	cfg *ChildConfig
	backoff
}

// backoff paces the attempts of one thing that keeps failing (a policy's CHILD SA, the
// rekey of a CHILD SA or of an IKE SA): the failures in a row, when the next attempt is
// due, and the cause last logged at warning level.
type backoff struct {
	fails int
	next  time.Time
	cause string
}

// fail records a failed attempt at now: the pause before the next one (retryDelay), and
// the level to log it at: warning when the cause is new, debug when it repeats.
func (b *backoff) fail(cause string, now time.Time) (wait time.Duration, level slog.Level) {
	b.fails++
	wait = retryDelay(b.fails)
	b.next = now.Add(wait)
	level = slog.LevelDebug
	if b.cause != cause {
		b.cause, level = cause, slog.LevelWarn
	}
	return wait, level
}

// reset starts the backoff afresh (the cause stays: the same one is not logged again).
func (b *backoff) reset() { b.fails, b.next = 0, time.Time{} }

// retryDelay is the pause after fails failed attempts in a row.
func retryDelay(fails int) time.Duration {
	d := childRetryFirst
	for i := 1; i < fails && d < childRetryMax; i++ {
		d *= 2
	}
	return min(d, childRetryMax)
}

// childFailed records that negotiating a CHILD SA for cfg failed; rekey is the SA it was
// to replace (nil: a new one). d.mu held.
func (sa *IKESA) childFailed(cfg *ChildConfig, rekey *ChildSA, cause string) {
	if cfg == nil {
		return
	}
	now := time.Now()
	if rekey != nil {
		rekey.softHit = true // due again once the pause is over, whatever made it due
		wait, level := rekey.rekeyRetry.fail(cause, now)
		hard := "none"
		if rekey.Lifetime > 0 {
			hard = rekey.Added.Add(rekey.Lifetime).Sub(now).Truncate(time.Second).String()
		}
		sa.d.log.Log(context.Background(), level, "ipsec: CHILD SA rekey refused, the SA stays until its hard lifetime", "peer", sa.peer.Name,
			"policy", cfg.ID, "in-spi", fmt.Sprintf("0x%08x", rekey.InSPI), "reason", cause, "attempts", rekey.rekeyRetry.fails,
			"retry-in", wait, "hard-lifetime-in", hard)
		return
	}
	if sa.d.childRetries == nil {
		sa.d.childRetries = map[retryKey]*childRetry{}
	}
	k := retryKey{sa.peer.Name, keyOf(cfg)}
	r := sa.d.childRetries[k]
	if r == nil {
		r = &childRetry{}
		sa.d.childRetries[k] = r
	}
	r.cfg = cfg
	wait, level := r.fail(cause, now)
	args := []any{"peer", sa.peer.Name, "policy", cfg.ID, "reason", cause, "attempts", r.fails}
	if sa.wantedChild(cfg) == nil {
		if sa.pacedByAcquire(cfg) {
			sa.d.log.Log(context.Background(), level, "ipsec: CHILD SA refused", append(args, "acquire-paused-for", wait)...)
			return
		}
		delete(sa.d.childRetries, k)
		sa.d.log.Log(context.Background(), level, "ipsec: CHILD SA refused", args...)
		return
	}
	sa.d.log.Log(context.Background(), level, "ipsec: CHILD SA refused", append(args, "retry-in", wait)...)
}

// childUp ends the retries of the policy c belongs to (d.mu held).
func (sa *IKESA) childUp(c *ChildSA) {
	if c.Policy == nil || sa.d.childRetries == nil {
		return
	}
	k := retryKey{sa.peer.Name, keyOf(c.Policy)}
	if r := sa.d.childRetries[k]; r != nil {
		if r.fails > 0 {
			sa.d.log.Info("ipsec: CHILD SA up after failed attempts", "peer", sa.peer.Name, "policy", c.Policy.ID, "attempts", r.fails)
		}
		delete(sa.d.childRetries, k)
	}
}

// wantedChild is the configuration the peer now has for a policy like cfg, when the
// peer still wants an SA for it from this side: a policy of the peer (one generated
// for this IKE SA from a template, on the responder, goes with its SA), or the policy an
// IKEv1 mode config initiator made from its address. nil: none is negotiated again.
func (sa *IKESA) wantedChild(cfg *ChildConfig) *ChildConfig {
	if sa.peer.Passive {
		return nil
	}
	k := keyOf(cfg)
	for _, c := range sa.peer.Children {
		if keyOf(c) == k {
			return c
		}
	}
	if cfg.Dynamic && sa.v1 != nil && sa.vip.IsValid() && cfg.Local.Start == sa.vip && cfg.Local.End == sa.vip {
		return cfg
	}
	return nil
}

// pacedByAcquire reports whether cfg is a configured policy of a passive peer: only
// traffic negotiates it again (Acquire), and its backoff stays to pace that.
func (sa *IKESA) pacedByAcquire(cfg *ChildConfig) bool {
	if !sa.peer.Passive {
		return false
	}
	k := keyOf(cfg)
	for _, c := range sa.peer.Children {
		if keyOf(c) == k {
			return true
		}
	}
	return false
}

// acquirePaused reports whether a refused CHILD SA for cfg of peer is in its backoff's
// pause, which an acquire does not cut short (d.mu held).
func (d *Daemon) acquirePaused(peer string, cfg *ChildConfig, now time.Time) bool {
	r := d.childRetries[retryKey{peer, keyOf(cfg)}]
	return r != nil && now.Before(r.next)
}

// covered reports whether an SA of the peer has a CHILD SA for the policy k.
func (d *Daemon) covered(peer string, k childKey) bool {
	for _, sa := range d.sas {
		if sa.peer == nil || sa.peer.Name != peer || (sa.state != stateEstablished && sa.state != stateP1Expired) {
			continue
		}
		for _, c := range sa.children {
			if !c.rekeyed && c.Policy != nil && keyOf(c.Policy) == k {
				return true
			}
		}
	}
	return false
}

// negotiating reports whether sa has an exchange for the policy k in flight.
func (sa *IKESA) negotiating(k childKey) bool {
	if sa.v1 != nil {
		for _, q := range sa.v1.qms {
			if q.initiator && !q.done && q.xchg == 0 && q.cfg != nil && keyOf(q.cfg) == k {
				return true
			}
		}
		return false
	}
	if cp := sa.pendingFirst; cp != nil && keyOf(cp.cfg) == k {
		return true
	}
	return sa.creating[k.id]
}

// retryChildren negotiates again the CHILD SAs whose retry is due, on an established
// IKE SA of their peer (d.mu held).
func (d *Daemon) retryChildren(now time.Time) {
	for k, r := range d.childRetries {
		if now.Before(r.next) {
			continue
		}
		var sa *IKESA
		for _, s := range d.sas {
			if s.peer == nil || s.peer.Name != k.peer || s.state != stateEstablished || s.rekeying ||
				(s.v1 != nil && (!s.v1Ready() || s.v1.p1iv == nil)) {
				continue
			}
			if sa == nil || (s.initiator && !sa.initiator) {
				sa = s
			}
		}
		if sa == nil {
			continue // the peer's next IKE SA negotiates its policies itself
		}
		cfg := sa.wantedChild(r.cfg)
		if cfg == nil && !d.covered(k.peer, k.childKey) && sa.pacedByAcquire(r.cfg) {
			continue // kept for Acquire
		}
		if cfg == nil || d.covered(k.peer, k.childKey) {
			delete(d.childRetries, k)
			continue
		}
		if sa.negotiating(k.childKey) {
			continue
		}
		// Guard: the answer (or its absence) sets the next try; one that never went out
		// (nothing to offer) is tried again at the longest pause.
		r.next = now.Add(childRetryMax)
		d.log.Debug("ipsec: negotiating the CHILD SA again", "peer", k.peer, "policy", cfg.ID, "attempt", r.fails+1)
		sa.createChild(cfg)
	}
}

// ikeUp starts afresh the backoffs of the peer's refused CHILD SAs when an IKE SA with
// it comes up that is not a rekey (the peer's or ours: either may have restarted, or
// been configured anew before it reconnected), d.mu held. Else a passive peer's kept
// backoff (pacedByAcquire) made the first traffic on the new IKE SA wait up to
// childRetryMax. A rekey keeps them: the same association goes on under new keys, and
// what was refused on it stands. The cause stays, so that a refusal that repeats on the
// new IKE SA is not logged at warning level again. On the IKE SA's responder, a policy
// retried on a timer waits as renegotiate's does, for the initiator to ask for its own
// policies first; traffic asks at once.
func (sa *IKESA) ikeUp() {
	for k, r := range sa.d.childRetries {
		if k.peer != sa.peer.Name {
			continue
		}
		r.reset()
		if !sa.initiator && !sa.pacedByAcquire(r.cfg) {
			r.next = time.Now().Add(2 * time.Second)
		}
	}
}

// resetRetries starts the backoffs afresh after a configuration change: what was refused
// may be accepted now (d.mu held).
func (d *Daemon) resetRetries(peers map[string]*PeerConfig) {
	for k, r := range d.childRetries {
		if peers[k.peer] == nil {
			delete(d.childRetries, k)
			continue
		}
		r.reset()
	}
	for _, sa := range d.sas {
		for _, c := range sa.children {
			c.rekeyRetry.reset()
		}
	}
}

// expireChild ends a CHILD SA at its hard lifetime: the peer is told (so that it stops
// sending into it) and, when the policy still wants an SA, a new one is negotiated at
// once by the IKE SA's initiator (the responder a little later, so the two rarely both
// start one); the backoff of failed rekeys goes on. d.mu held.
func (sa *IKESA) expireChild(c *ChildSA) {
	const why = "hard lifetime expired"
	if sa.v1 != nil {
		sa.v1DeleteChild(c, why)
	} else {
		c.rekeyed = true
		sa.stopSending(c)
		sa.request(Informational, []Payload{&Delete{Protocol: ProtoESP, SPIs: [][]byte{spiBytes(c.InSPI)}}}, nil, nil)
		sa.removeChild(c, why)
	}
	sa.renegotiate(c, why)
}

// peerDeletedChild retires c, which the peer deleted. A CHILD SA whose policy was
// generated on this side (from a template, or an IKEv1 mode config address) is negotiated
// again at once when the policy still wants one: its policy went with it, so no packet
// can ask for it again as a configured policy's would (the reference's GRE over IKEv2
// client lost its tunnel for the IKE SA's life). d.mu held.
func (sa *IKESA) peerDeletedChild(c *ChildSA) {
	const why = "deleted by the peer"
	sa.retireChild(c, why)
	if c.Policy != nil && c.Policy.Dynamic && !c.rekeyed {
		sa.renegotiate(c, why)
	}
}

// renegotiate has a new CHILD SA negotiated for the policy of c, which is gone, when the
// policy still wants one (d.mu held).
func (sa *IKESA) renegotiate(c *ChildSA, after string) {
	if c.Policy == nil {
		return
	}
	cfg := sa.wantedChild(c.Policy)
	k := keyOf(c.Policy)
	if cfg == nil || sa.d.covered(sa.peer.Name, k) {
		return
	}
	if sa.d.childRetries == nil {
		sa.d.childRetries = map[retryKey]*childRetry{}
	}
	rk := retryKey{sa.peer.Name, k}
	r := sa.d.childRetries[rk]
	if r == nil {
		r = &childRetry{backoff: backoff{fails: c.rekeyRetry.fails, cause: c.rekeyRetry.cause}}
		sa.d.childRetries[rk] = r
	}
	r.cfg = cfg
	next := time.Now()
	if !sa.initiator {
		next = next.Add(2 * time.Second)
	}
	if c.rekeyRetry.next.After(next) {
		next = c.rekeyRetry.next
	}
	if r.next.Before(next) {
		r.next = next
	}
	sa.d.log.Info("ipsec: negotiating a new CHILD SA for the policy", "peer", sa.peer.Name, "policy", cfg.ID,
		"after", after, "in", time.Until(r.next).Truncate(time.Millisecond))
}

// rekeyDue reports whether old may be rekeyed now; a rekey asked for while a refused
// one backs off waits for the pause to end (d.mu held).
func (sa *IKESA) rekeyDue(old *ChildSA) bool {
	if old.rekeying || old.rekeyed || sa.state != stateEstablished {
		return false
	}
	if sa.v1 == nil && sa.rekeying {
		// The IKE SA's rekey is in flight: a CHILD rekey queued behind it would go out
		// on this IKE SA after the children moved to the new one, and the peer would
		// answer CHILD_SA_NOT_FOUND. It goes on the new IKE SA once that is up (IKEv1's
		// rekeying is a whole new Phase 1, which adopts the SAs: Quick Mode goes on).
		old.softHit = true
		return false
	}
	if time.Now().Before(old.rekeyRetry.next) {
		old.softHit = true
		return false
	}
	old.softHit = false
	return true
}

// modeConfig is the mode config of the identity the IKE SA authenticated with (nil:
// none, or not chosen yet).
func (sa *IKESA) modeConfig() *ModeConfig {
	if sa.ident == nil {
		return nil
	}
	return sa.ident.ModeConfig
}

// ikeRekeyFailed schedules the next try of a refused IKE SA rekey: after a collision
// (TEMPORARY_FAILURE, both sides rekeyed at once) a short random pause so the two do
// not collide again; otherwise the phase 2 backoff, the cause logged once, until the
// IKE SA's lifetime ends it (and an initiator negotiates a new one). d.mu held.
func (sa *IKESA) ikeRekeyFailed(cause string, collision bool) {
	now := time.Now()
	if collision {
		var b [1]byte
		rand.Read(b[:])
		sa.rekeyAt = now.Add(200*time.Millisecond + time.Duration(b[0])*4*time.Millisecond)
		sa.d.log.Info("ipsec: IKE SA rekey refused, retrying", "peer", sa.peer.Name, "reason", cause)
		return
	}
	wait, level := sa.ikeRekeyRetry.fail(cause, now)
	sa.rekeyAt = sa.ikeRekeyRetry.next
	expires := "never"
	if !sa.expireAt.IsZero() {
		expires = sa.expireAt.Sub(now).Truncate(time.Second).String()
	}
	sa.d.log.Log(context.Background(), level, "ipsec: IKE SA rekey refused, retrying", "peer", sa.peer.Name, "reason", cause,
		"attempts", sa.ikeRekeyRetry.fails, "retry-in", wait, "expires-in", expires)
}

// v1Phase1Failed notices that the Phase 1 started to replace sa (a rekey with DPD on) or
// to adopt its IPsec SAs (an expired Phase 1) is gone without coming up, and arms the
// next try with the backoff; before, sa stayed "rekeying" and never tried again. d.mu
// held.
func (sa *IKESA) v1Phase1Failed() {
	if !sa.rekeying {
		return
	}
	if n := sa.d.started[sa.peer.Name]; n != nil && n != sa && n.state != stateDead && n.state != stateP1Expired {
		return // on its way
	}
	sa.rekeying = false
	sa.ikeRekeyFailed("the new phase 1 did not come up", false)
}
