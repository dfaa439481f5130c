package esp

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestOwnRulesIPv6MarkNone: while routerd is down (here: only what PrearmBackstops
// leaves, no data path), a full tunnel whose source holds a host address holds the
// host's own traffic as the running data path would take it into the tunnel, checked
// with real pings: its unbound IPv6 (before, nothing held it: an IPv6 rule cannot select
// a lookup without a source, and a blackhole only made the kernel look up again from the
// WAN address), its routing-marked sockets (before, fwmark 0/0xfff00000 let them go by
// to their routing table, rule 2000 here as control/routing makes it), and it passes what a none policy before the tunnel carves out
// (before, table 222 held it). The bypass mark and the WAN address's own IPv4 still
// pass, the connected networks too; ClearBackstops leaves no rule.
func TestOwnRulesIPv6MarkNone(t *testing.T) {
	r := newRig(t)
	run(t, "ip", "-n", r.a, "route", "add", "default", "via", "198.18.0.2")
	run(t, "ip", "-n", r.a, "-6", "route", "add", "default", "via", "2001:db8:ff::2")
	run(t, "ip", "-n", r.b, "addr", "add", "198.19.3.1/32", "dev", "lo")
	// Routing mark 1's table, as control/routing sets it up: the marked probes take it
	// unless held.
	for _, fam := range []string{"-4", "-6"} {
		run(t, "ip", "-n", r.a, fam, "rule", "add", "prio", "2000", "fwmark", "0x100000/0xfff00000", "lookup", "10001")
	}
	run(t, "ip", "-n", r.a, "route", "add", "default", "via", "198.18.0.2", "table", "10001")
	run(t, "ip", "-n", r.a, "-6", "route", "add", "default", "via", "2001:db8:ff::2", "table", "10001")
	// Whatever source the kernel picks, B answers it.
	run(t, "ip", "-n", r.b, "route", "add", "198.19.1.0/24", "via", "198.18.0.1")
	run(t, "ip", "-n", r.b, "-6", "route", "add", "2001:db8:1::/64", "via", "2001:db8:ff::1")
	cfg := DefaultConfig()
	cfg.Force = KindUserspace
	pols := []Policy{
		{ID: 1, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"), Dir: DirOut,
			Action: ActionNone},
		{ID: 2, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("0.0.0.0/0"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire},
		{ID: 3, Src: netip.MustParsePrefix("2001:db8:1::/64"), Dst: netip.MustParsePrefix("::/0"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire},
	}
	state := func() string {
		return run(t, "ip", "-n", r.a, "rule") + run(t, "ip", "-n", r.a, "-6", "rule") +
			run(t, "ip", "-n", r.a, "route", "show", "table", "all") + run(t, "ip", "-n", r.a, "-6", "route", "show", "table", "all")
	}
	ping := func(args ...string) bool {
		_, err := nsExec(t, r.a, append([]string{"ping", "-c", "1", "-W", "1"}, args...)...)
		return err == nil
	}
	held := [][]string{
		{"198.19.3.1"},                  // unbound: already held before
		{"-m", "1048576", "198.19.3.1"}, // routing mark 1 (0x00100000)
		{"-6", "2001:db8:2::1"},         // unbound IPv6
		{"-6", "-m", "1048576", "2001:db8:2::1"},
		{"-6", "-I", "2001:db8:1::1", "2001:db8:2::1"}, // the LAN address's, as forwarded
	}
	// The WAN address's own IPv6: held where the hold route is missing (prearmed: the
	// kernel's second lookup of an unbound socket is from it, and cannot be told apart),
	// passed once a run has made it (hold6.go).
	wan6 := []string{"-6", "-I", "2001:db8:ff::1", "2001:db8:2::1"}
	passed := [][]string{
		{"198.19.2.1"},                  // the none policy's destination
		{"-m", "1048576", "198.19.2.1"}, // the same, routing-marked
		{"-I", "198.18.0.1", "198.19.3.1"},
		{"-m", "4293918720", "198.19.3.1"}, // the bypass mark (0xfff00000)
		{"-6", "2001:db8:ff::2"},           // the connected network
		{"198.18.0.2"},
	}
	for _, args := range append(append([][]string{wan6}, held...), passed...) {
		// The first in 5 s: the links have just come up (IPv6 neighbour discovery).
		if !waitFor(5*time.Second, func() bool { return ping(args...) }) {
			t.Fatalf("ping %s does not pass before any backstop:\n%s", strings.Join(args, " "), state())
		}
	}
	inNS(t, r.a, func() {
		if err := PrearmBackstops(cfg, pols, nil); err != nil {
			t.Error(err)
		}
	})
	down := func(when string, hold6 bool) {
		t.Helper()
		held, passed := held, passed
		if hold6 {
			passed = append(passed[:len(passed):len(passed)], wan6)
		} else {
			held = append(held[:len(held):len(held)], wan6)
		}
		for _, args := range held {
			if ping(args...) {
				t.Errorf("%s: ping %s passed while routerd is down: want it held:\n%s", when, strings.Join(args, " "), state())
			}
		}
		for _, args := range passed {
			if !ping(args...) {
				t.Errorf("%s: ping %s is held while routerd is down: want it passed:\n%s", when, strings.Join(args, " "), state())
			}
		}
	}
	down("prearmed", false)
	// A hold device left down by a run that failed before it set addrgenmode none: the
	// next run must not bring it up with a link-local address (a candidate source).
	run(t, "ip", "-n", r.a, "link", "add", cfg.HoldDevice(), "type", "ifb")
	// A run adopts the rules, its policies keep them (one key for the rule made and the
	// rule listed: else the sync would delete what it wants), and Close leaves them.
	a := startNode(t, r.a)
	if err := a.dp.SetPolicies(context.Background(), pols); err != nil {
		t.Fatal(err)
	}
	if err := a.dp.SetPolicies(context.Background(), pols); err != nil {
		t.Fatal(err)
	}
	a.close()
	dropped := func() int {
		out := run(t, "ip", "-n", r.a, "-s", "-j", "link", "show", cfg.HoldDevice())
		var ls []struct {
			Stats struct {
				RX struct{ Dropped int } `json:"rx"`
			} `json:"stats64"`
		}
		if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
			t.Fatalf("%s: %v", out, err)
		}
		return ls[0].Stats.RX.Dropped
	}
	if out := run(t, "ip", "-n", r.a, "-6", "addr", "show", "dev", cfg.HoldDevice()); strings.TrimSpace(out) != "" {
		t.Errorf("the hold device has an IPv6 address:\n%s", out)
	}
	before := dropped()
	down("after a run", true)
	if n := dropped() - before; n < 3 {
		t.Errorf("the hold device dropped %d packets of the held IPv6 pings, want 3 or more", n)
	}
	// skip, (IPv4) exception, hold, nop; IPv6 with the hold route: the skips of lookups
	// with a source (two).
	for fam, want := range map[string]int{"-4": 4, "-6": 5} {
		out := run(t, "ip", "-n", r.a, fam, "rule")
		if n := strings.Count(out, "\n222:") + strings.Count(out, "\n223:") + strings.Count(out, "\n224:"); n != want {
			t.Errorf("%s: %d rules 222-224, want %d:\n%s", fam, n, want, out)
		}
	}
	// An earlier version's rule 222 goes with the others.
	run(t, "ip", "-n", r.a, "rule", "add", "pref", "222", "from", "0.0.0.0", "fwmark", "0/0xfff00000", "lookup", "222")
	inNS(t, r.a, func() {
		if err := ClearBackstops(cfg); err != nil {
			t.Error(err)
		}
	})
	for _, n := range []string{"222:", "223:", "224:", "lookup 22", cfg.HoldDevice()} {
		if out := state() + run(t, "ip", "-n", r.a, "link"); strings.Contains(out, n) {
			t.Errorf("ClearBackstops left %q:\n%s", n, out)
		}
	}
	if !ping("-6", "2001:db8:2::1") || !ping("-m", "1048576", "198.19.3.1") {
		t.Errorf("held after ClearBackstops:\n%s", state())
	}
}

// waitFor polls ok every 100 ms until it holds or d has passed.
func waitFor(d time.Duration, ok func() bool) bool {
	for end := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
