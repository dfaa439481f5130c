package ike

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestChildRefusedRetried: the responder has no policy for what the initiator asks
// (its own was still being applied: the CI failure of TestSiteToSiteIKEv1Example) and
// refuses; the initiator tries again with a backoff, logging the cause once, and gets
// the SA once the responder's policy is there. For IKEv1 Quick Mode, IKEv2's first CHILD
// SA in IKE_AUTH and a later one by CREATE_CHILD_SA.
func TestChildRefusedRetried(t *testing.T) {
	for _, c := range []struct {
		name    string
		mode    ExchangeMode
		second  bool   // the refused policy is the initiator's second (CREATE_CHILD_SA)
		refusal string // what the responder logs each time it refuses
	}{
		{"ikev1", ExchangeMain, false, "quick mode refused"},
		{"ikev2-auth", ExchangeIKEv2, false, tsRefusal},
		{"ikev2-create", ExchangeIKEv2, true, tsRefusal},
	} {
		t.Run(c.name, func(t *testing.T) {
			pr := newV1Pair(t, nil)
			a := v1TestPeer(t, "b", c.mode, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
			b := v1TestPeer(t, "a", c.mode, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
			want := 1
			if c.second {
				a.Children = append(a.Children, secondPolicy(a.Children[0]))
				want = 2
			}
			// B starts with the first policy only when the second is the one refused,
			// else with an unrelated one.
			full := b
			partial := *b
			if c.second {
				partial.Children = b.Children[:1]
			} else {
				other := *b.Children[0]
				other.ID = 9
				other.Local = SelectorFromPrefix(netip.MustParsePrefix("198.19.9.0/24"), 0, 0)
				partial.Children = []*ChildConfig{&other}
			}
			if c.second {
				mirror := *a.Children[1]
				mirror.Local, mirror.Remote = mirror.Remote, mirror.Local
				full.Children = append(full.Children, &mirror)
			}
			pr.start(a, &partial)
			if !iketest.WaitFor(20*time.Second, func() bool { return strings.Count(pr.lb.String(), c.refusal) >= 3 }) {
				t.Fatalf("the responder refused %d times, want 3 attempts", strings.Count(pr.lb.String(), c.refusal))
			}
			pr.b.SetPeers([]*PeerConfig{full})
			if !iketest.WaitFor(30*time.Second, func() bool { return len(pr.ka.all()) == want && len(pr.kb.all()) == want }) {
				t.Fatalf("no SA after the responder's policy came: A %d, B %d", len(pr.ka.all()), len(pr.kb.all()))
			}
			la := pr.la.String()
			if n := countLines(la, "level=WARN", "CHILD SA refused"); n != 1 {
				t.Errorf("the initiator logged the refusal %d times at warning level, want once", n)
			}
			if !strings.Contains(la, "CHILD SA up after failed attempts") {
				t.Error("the initiator did not log the SA that came up after the retries")
			}
		})
	}
}

// TestChildRekeyRefusedBacksOff: the responder refuses every rekey (the initiator's
// proposal has a PFS group, the responder's none: the first CHILD SA, in IKE_AUTH, has no
// key exchange and comes up). The initiator backs off instead of asking every tick,
// logs the cause once, keeps the SA to its hard lifetime and then deletes it at the
// responder (INFORMATIONAL delete), and negotiates a new one, which comes up once the
// responder accepts PFS.
func TestChildRekeyRefusedBacksOff(t *testing.T) {
	pr := newV1Pair(t, nil)
	a := v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1-modp2048", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b := v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	a.Children[0].Lifetime = 10 * time.Second // rekeys from 7.5 s on, hard at 10 s
	pr.start(a, b)
	pr.established(t)
	first := pr.ka.all()[0].InSPI
	creates := func() int { return len(pr.r.sentByA(CreateChildSA)) }
	if !iketest.WaitFor(30*time.Second, func() bool { return strings.Contains(pr.lb.String(), "deleted by the peer") }) {
		t.Fatalf("the responder's CHILD SA was not deleted by the initiator at its hard lifetime (%d CREATE_CHILD_SA):\nB:\n%s",
			creates(), pr.lb.String())
	}
	// Rekeys in the 2.5 s between the soft and the hard lifetime (at most 1, 2 s
	// apart), then the new SA at once: a tick-by-tick retry would have sent ten.
	if n := creates(); n < 2 || n > 5 {
		t.Errorf("the initiator sent %d CREATE_CHILD_SA by the hard lifetime, want 2 to 5", n)
	}
	la := pr.la.String()
	if n := countLines(la, "level=WARN", "CHILD SA rekey refused"); n != 1 {
		t.Errorf("the rekey refusal was logged %d times at warning level, want once", n)
	}
	// The initiator logs the removal after its delete left: B may log first.
	if !iketest.WaitFor(5*time.Second, func() bool { return strings.Contains(pr.la.String(), "hard lifetime expired") }) {
		t.Error("the initiator did not log the hard lifetime")
	}
	if !iketest.WaitFor(5*time.Second, func() bool { return len(pr.ka.all()) == 0 && len(pr.kb.all()) == 0 }) {
		t.Fatalf("CHILD SAs left after the hard lifetime: A %d, B %d", len(pr.ka.all()), len(pr.kb.all()))
	}
	// The policy still wants an SA: once the responder takes PFS, the retries get it.
	b2 := *b
	withPFS := *b.Children[0]
	withPFS.Proposals = a.Children[0].Proposals
	withPFS.Lifetime = time.Hour
	b2.Children = []*ChildConfig{&withPFS}
	pr.b.SetPeers([]*PeerConfig{&b2})
	if !iketest.WaitFor(40*time.Second, func() bool {
		all := pr.ka.all()
		return len(all) >= 1 && all[0].InSPI != first && len(pr.kb.all()) >= 1
	}) {
		t.Fatalf("no new CHILD SA after the hard lifetime: A %d, B %d", len(pr.ka.all()), len(pr.kb.all()))
	}
}

// countLines counts the log lines holding every one of subs.
func countLines(log string, subs ...string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(l, s)
		}
		if all {
			n++
		}
	}
	return n
}

// TestBackoff: the one pacing of failed CHILD SAs, CHILD SA rekeys and IKE SA rekeys:
// 1 s doubling up to 30 s, a warning only when the cause changes, and a reset that
// starts the pauses afresh without logging the same cause again.
func TestBackoff(t *testing.T) {
	var b backoff
	now := time.Unix(1000, 0)
	type step struct {
		cause string
		wait  time.Duration
		level slog.Level
	}
	for i, s := range []step{
		{"TS_UNACCEPTABLE", time.Second, slog.LevelWarn},
		{"TS_UNACCEPTABLE", 2 * time.Second, slog.LevelDebug},
		{"no answer", 4 * time.Second, slog.LevelWarn},
		{"no answer", 8 * time.Second, slog.LevelDebug},
		{"no answer", 16 * time.Second, slog.LevelDebug},
		{"no answer", 30 * time.Second, slog.LevelDebug},
		{"no answer", 30 * time.Second, slog.LevelDebug},
	} {
		wait, level := b.fail(s.cause, now)
		if wait != s.wait || level != s.level || !b.next.Equal(now.Add(s.wait)) || b.fails != i+1 {
			t.Fatalf("failure %d (%s): wait %v level %v next %v fails %d, want %v %v", i+1, s.cause, wait, level, b.next.Sub(now), b.fails, s.wait, s.level)
		}
	}
	b.reset()
	if wait, level := b.fail("no answer", now); wait != time.Second || level != slog.LevelDebug {
		t.Fatalf("after reset: wait %v level %v, want 1s at debug", wait, level)
	}
}

// TestAcquireHonoursChildBackoff: traffic keeps asking for a policy the peer refuses
// (Acquire every 50 ms for 6 s, as a ping at 20 pps would). The refused CHILD SA is asked
// again only as the backoff allows (1, 2, 4 s: 3 or 4 attempts in that time), not on every
// acquire, and the refusal is logged once at warning level with the attempts counted; on
// the initiator of the IKE SA, and on a passive peer (RouterOS passive=yes), whose
// policy only traffic negotiates again (before: an attempt and a warning with attempts=1
// per acquire, the backoff's state dropped after each).
func TestAcquireHonoursChildBackoff(t *testing.T) {
	for _, passive := range []bool{false, true} {
		name := "initiator"
		if passive {
			name = "passive"
		}
		t.Run(name, func(t *testing.T) {
			pr, a, b := refusedPolicyPair(t, passive)
			peerName, la, lo := "b", pr.la, pr.lb
			ask := pr.a
			if passive {
				peerName, la, lo = "a", pr.lb, pr.la
				ask = pr.b
			}
			pr.start(a, b)
			pr.established(t)
			stop := time.Now().Add(6 * time.Second)
			for time.Now().Before(stop) {
				ask.Acquire(peerName, 2)
				time.Sleep(50 * time.Millisecond)
			}
			refused := strings.Count(lo.String(), tsRefusal)
			if refused < 2 || refused > 5 {
				t.Errorf("the other side refused the second policy %d times in 6 s of acquires, want 2 to 5 (the backoff)", refused)
			}
			log := la.String()
			if n := countLines(log, "level=WARN", "CHILD SA refused"); n != 1 {
				t.Errorf("the asking side logged the refusal %d times at warning level, want once", n)
			}
			if !strings.Contains(log, "attempts=2") {
				t.Error("the asking side did not count the attempts (no attempts=2)")
			}
		})
	}
}

// TestNewIKESAResetsChildBackoff: a passive peer keeps a refused policy's backoff for
// its acquires (TestAcquireHonoursChildBackoff). When the remote replaces the IKE SA
// (here it kills it and initiates again, as after a restart or a break-before-make
// reauthentication), the first acquire on the new IKE SA asks at once, and the backoff
// paces the refusals on it from 1 s again, the cause not logged at warning level twice.
// Before, it waited out the pause from the old IKE SA (8 s after 4 refusals, up to 30 s).
func TestNewIKESAResetsChildBackoff(t *testing.T) {
	pr, a, b := refusedPolicyPair(t, true)
	pr.start(a, b)
	pr.established(t)
	refused := func() int { return strings.Count(pr.la.String(), tsRefusal) }
	// Traffic at 20 pps until A refused 4 times (1, 2, 4 s apart): B's next attempt is
	// then 8 s away.
	if !iketest.WaitFor(15*time.Second, func() bool { pr.b.Acquire("a", 2); return refused() >= 4 }) {
		t.Fatalf("A refused B's second policy %d times, want 4", refused())
	}
	before := refused()
	old := pr.b.Snapshot()[0].Established
	pr.a.Kill(netip.Addr{})
	if !iketest.WaitFor(10*time.Second, func() bool {
		s := pr.b.Snapshot()
		return len(s) == 1 && s[0].Established.After(old) && len(s[0].Children) == 1
	}) {
		t.Fatalf("no new IKE SA from A: B's SAs %+v", pr.b.Snapshot())
	}
	up := time.Now()
	if !iketest.WaitFor(3*time.Second, func() bool { pr.b.Acquire("a", 2); return refused() > before }) {
		t.Fatalf("no attempt in 3 s of traffic on the new IKE SA (refusals %d, as before it)", refused())
	}
	t.Logf("first attempt on the new IKE SA %v after it came up", time.Since(up).Round(time.Millisecond))
	// The backoff goes on pacing on the new IKE SA: 1 s, then 2 s.
	stop := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(stop) {
		pr.b.Acquire("a", 2)
		time.Sleep(50 * time.Millisecond)
	}
	if n := refused() - before; n < 2 || n > 3 {
		t.Errorf("A refused %d times in the 2.5 s after the new IKE SA's first attempt, want 2 or 3", n)
	}
	lb := pr.lb.String()
	if n := countLines(lb, "level=WARN", "CHILD SA refused"); n != 1 {
		t.Errorf("B logged the refusal %d times at warning level, want once", n)
	}
}

// TestIKERekeyKeepsChildBackoff: an IKE SA rekey is not a new IKE SA for the backoff of
// a refused policy (TestNewIKESAResetsChildBackoff): the association goes on under new
// keys and what was refused on it stands, so the passive peer's traffic after the rekey
// still waits out the pause (8 s after 4 refusals) instead of asking at once.
func TestIKERekeyKeepsChildBackoff(t *testing.T) {
	pr, a, b := refusedPolicyPair(t, true)
	// A rekeys the IKE SA at 85-90 % of 12 s, after B's 4th refusal (~7 s) and before
	// the pause after it ends (~15 s).
	a.Lifetime, b.Lifetime = 12*time.Second, 12*time.Second
	pr.start(a, b)
	pr.established(t)
	refused := func() int { return strings.Count(pr.la.String(), tsRefusal) }
	if !iketest.WaitFor(15*time.Second, func() bool { pr.b.Acquire("a", 2); return refused() >= 4 }) {
		t.Fatalf("A refused B's second policy %d times, want 4", refused())
	}
	before := refused()
	old := pr.b.Snapshot()[0].Established
	if !iketest.WaitFor(10*time.Second, func() bool {
		pr.b.Acquire("a", 2)
		s := pr.b.Snapshot()
		return len(s) == 1 && s[0].Established.After(old)
	}) {
		t.Fatalf("the IKE SA was not rekeyed: B's SAs %+v", pr.b.Snapshot())
	}
	if !strings.Contains(pr.lb.String(), "IKE SA rekeyed") {
		t.Fatalf("B's new IKE SA is not a rekey:\n%s", pr.lb.String())
	}
	stop := time.Now().Add(2 * time.Second)
	for time.Now().Before(stop) {
		pr.b.Acquire("a", 2)
		time.Sleep(50 * time.Millisecond)
	}
	if n := refused() - before; n != 0 {
		t.Errorf("A refused %d times in the 2 s after the IKE SA rekey, want 0 (the backoff's pause goes on)", n)
	}
}

// tsRefusal is what an IKEv2 responder logs each time it refuses a CHILD SA for want of
// a policy.
const tsRefusal = "no policy matches the peer's traffic selectors"

// refusedPolicyPair is an IKEv2 pair, not started: A (peer "b") initiates, B (peer "a")
// is passive, both have the policy 198.19.1.0/24-198.19.2.0/24, and the asking side (B
// when passiveAsks, else A) has a second one, which the other side refuses.
func refusedPolicyPair(t *testing.T, passiveAsks bool) (pr *v1Pair, a, b *PeerConfig) {
	pr = newV1Pair(t, nil)
	a = v1TestPeer(t, "b", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", v1PortRelay, false, "198.19.1.0/24", "198.19.2.0/24")
	b = v1TestPeer(t, "a", ExchangeIKEv2, "aes128-sha1-modp2048", "aes128-sha1", "k1", 0, true, "198.19.2.0/24", "198.19.1.0/24")
	asker := a
	if passiveAsks {
		asker = b
	}
	asker.Children = append(asker.Children, secondPolicy(asker.Children[0]))
	return pr, a, b
}

// secondPolicy is c for 198.19.3.0/24-198.19.4.0/24 as policy 2, which the tests' other
// side does not have.
func secondPolicy(c *ChildConfig) *ChildConfig {
	extra := *c
	extra.ID = 2
	extra.Local = SelectorFromPrefix(netip.MustParsePrefix("198.19.3.0/24"), 0, 0)
	extra.Remote = SelectorFromPrefix(netip.MustParsePrefix("198.19.4.0/24"), 0, 0)
	return &extra
}
