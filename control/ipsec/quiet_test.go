package ipsec

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/tunnel"
	"github.com/routerd/routerd/ike/esp"
	"github.com/routerd/routerd/ike/iketest"
)

// countRules is the firewall's side of RuleSetter: it counts what it is handed, and
// refuses while fail is set.
type countRules struct {
	sets atomic.Int64
	fail atomic.Bool
}

func (c *countRules) Set(string, []firewall.DynamicRule) error {
	c.sets.Add(1)
	if c.fail.Load() {
		return fmt.Errorf("nft: refused")
	}
	return nil
}

// startCounted starts a router whose firewall rules and tunnel protection count calls.
func startCounted(t *testing.T, ns string) (*router, *countRules, *atomic.Int64) {
	t.Helper()
	ex := controltest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	rules, protects := &countRules{}, &atomic.Int64{}
	opts := Options{Listen: iketest.ListenIn(ns), Do: func(f func() error) error { return iketest.Do(ns, f) },
		Log:   slog.New(slog.NewTextHandler(testLog{t, ns}, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Rules: rules, Protect: func([]tunnel.ProtectRule) { protects.Add(1) }}
	opts.ESP = esp.DefaultConfig()
	opts.ESP.Force = esp.KindUserspace
	e, err := Start(ctx, ex, prometheus.NewRegistry(), opts)
	if err != nil {
		cancel()
		if strings.Contains(err.Error(), "tun") || strings.Contains(err.Error(), "TUN") {
			t.Skipf("no TUN device: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-e.Exited })
	return &router{e: e, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin", ShowSensitive: true}}, ns: ns}, rules, protects
}

// sas are a router's IKE SAs and CHILD_SAs by SPI: what a pass must not renegotiate.
func sas(r *router) []string {
	var out []string
	for _, s := range r.e.Daemon().Snapshot() {
		out = append(out, fmt.Sprintf("ike %x/%x %s", s.SPIi, s.SPIr, s.State))
		for _, c := range s.Children {
			out = append(out, fmt.Sprintf("child %x/%x", c.InSPI, c.OutSPI))
		}
	}
	slices.Sort(out)
	return out
}

// TestQuietPass: with an SA up, a pass with nothing changed (a resync, a comment edited,
// a change to a watched menu the configuration does not use) hands nothing on: the IKE
// daemon keeps its configuration and SAs, the data path its SPD, the tunnels their
// protection and the firewall its rules. A change hands on only what it changes, and a
// refused firewall update marks the identity asking for the rules and is tried again.
func TestQuietPass(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, rules, protects := startCounted(t, nsA)
	b := startRouter(t, nsB, true)
	b.run(t, siteToSite("s", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, siteToSite("s", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatal("not up")
	}
	// SA events settle (the loop refreshes the SPD once the CHILD_SA is in).
	counts := func() string {
		return fmt.Sprintf("peers=%d spd=%d protect=%d rules=%d firewall=%d tunnels=%d",
			a.e.applied.peers.Load(), a.e.applied.spd.Load(), a.e.applied.protect.Load(), a.e.applied.rules.Load(),
			rules.sets.Load(), protects.Load())
	}
	var before string
	iketest.WaitFor(10*time.Second, func() bool {
		c := counts()
		time.Sleep(3 * time.Second)
		before = counts()
		return c == before
	})
	saBefore := sas(a)
	if len(saBefore) < 2 {
		t.Fatalf("no SAs: %v", saBefore)
	}
	ctx := context.Background()
	for range 3 {
		if err := a.e.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a.run(t, "/ip ipsec peer set s comment=unchanged\n/ip ipsec policy set [find peer=s] comment=unchanged\n/ip ipsec identity set [find peer=s] comment=unchanged")
	a.run(t, "/ip dns set cache-size=4096") // watched (mode config system-dns), unused here
	// The tick refreshes the SPD and status every 2 s: let two go by.
	time.Sleep(5 * time.Second)
	if got := counts(); got != before {
		t.Errorf("passes with nothing changed handed on: %s, was %s", got, before)
	}
	if got := sas(a); !slices.Equal(got, saBefore) {
		t.Errorf("SAs changed by passes with nothing changed: %v, were %v", got, saBefore)
	}
	if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err != nil {
		t.Fatalf("no traffic after the quiet passes: %v", err)
	}

	// A change to the profile is applied (the daemon takes the new configuration), the
	// SPD and the rules, unchanged, are not handed on again, and the SAs stay.
	peers := a.e.applied.peers.Load()
	spd, fw := a.e.applied.spd.Load(), rules.sets.Load()
	a.run(t, "/ip ipsec profile set s dpd-interval=20s")
	if got := a.e.applied.peers.Load(); got != peers+1 {
		t.Errorf("profile change: daemon configured %d times, want once", got-peers)
	}
	if a.e.applied.spd.Load() != spd || rules.sets.Load() != fw {
		t.Errorf("profile change handed on the unchanged SPD or rules: %s", counts())
	}
	if got := sas(a); !slices.Equal(got, saBefore) {
		t.Errorf("SAs changed by a profile change: %v, were %v", got, saBefore)
	}

	// The firewall refuses the rules: the identity that asks for them says why, and they
	// are set again until the firewall takes them.
	a.run(t, "/ip ipsec identity set [find peer=s] notrack-chain=prerouting")
	rules.fail.Store(true)
	// Another tunnel policy: its NAT bypass rule is new.
	a.run(t, "/ip ipsec policy add src-address=198.19.203.0/24 dst-address=198.19.103.0/24 tunnel=yes proposal=s peer=s")
	ident := func() control.ItemState {
		its, _ := a.e.ex.Items(IdentityPath)
		st, _ := a.e.ex.State.Get(IdentityPath, its[0].ID)
		return st
	}
	if st := ident(); !st.Invalid || !strings.Contains(st.Status, "nft: refused") {
		t.Errorf("refused rules: identity state %+v", st)
	}
	n := rules.sets.Load()
	if !iketest.WaitFor(10*time.Second, func() bool { return rules.sets.Load() > n }) {
		t.Error("refused rules not tried again")
	}
	rules.fail.Store(false)
	if !iketest.WaitFor(10*time.Second, func() bool { return !ident().Invalid }) {
		t.Errorf("identity still invalid after the firewall took the rules: %+v", ident())
	}
}
