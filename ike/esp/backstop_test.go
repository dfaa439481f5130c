package esp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestBackstopNoCleartext: when the kernel refuses a protected destination's steering
// route (its source hint is a tentative IPv6 address), the destination's packets are
// dropped by the backstop blackhole beneath it in the ESP table instead of falling
// through to the main table, which has a route to it, and leaving in the clear. Before,
// the ping crossed unencrypted; a level=use policy's destination gets no backstop.
func TestBackstopNoCleartext(t *testing.T) {
	r := newRig(t)
	a := startNode(t, r.a)
	// A tentative address: DAD never ends on a link that is down.
	run(t, "ip", "-n", r.a, "link", "add", "vt0", "type", "veth", "peer", "name", "vt1")
	run(t, "ip", "-n", r.a, "-6", "addr", "add", "2001:db8:133::1/128", "dev", "vt0")
	run(t, "ip", "-n", r.a, "-6", "route", "add", "2001:db8:2::/64", "via", "2001:db8:ff::2")
	pol := func(level Level) []Policy {
		return []Policy{{ID: 1, Src: netip.MustParsePrefix("2001:db8:133::1/128"), Dst: netip.MustParsePrefix("2001:db8:2::1/128"),
			Dir: DirOut, Action: ActionEncrypt, Level: level, Mode: ModeTunnel,
			TunnelSrc: netip.MustParseAddr("2001:db8:ff::1"), TunnelDst: netip.MustParseAddr("2001:db8:ff::2"), ReqID: 7}}
	}
	err := a.dp.SetPolicies(context.Background(), pol(LevelRequire))
	if err == nil || !strings.Contains(err.Error(), "tentative") {
		t.Fatalf("SetPolicies: %v, want the steering route refused for its tentative source", err)
	}
	if out, err := nsExec(t, r.a, "ping", "-6", "-c", "2", "-W", "1", "2001:db8:2::1"); err == nil {
		t.Fatalf("a protected destination without its steering route was reached in the clear:\n%s\n%s",
			out, run(t, "ip", "-n", r.a, "-6", "route", "show", "table", "all"))
	}
	if out := run(t, "ip", "-n", r.a, "-6", "route", "show", "table", fmt.Sprint(DefaultConfig().Table)); !strings.Contains(out, "blackhole 2001:db8:2::1") {
		t.Fatalf("no backstop in the ESP table:\n%s", out)
	}
	// level=use may go in the clear: no backstop, and the backstop of before is gone.
	if err := a.dp.SetPolicies(context.Background(), pol(LevelUse)); err == nil {
		t.Fatal("SetPolicies(level=use): the tentative source's route was not refused")
	}
	if out := run(t, "ip", "-n", r.a, "-6", "route", "show", "table", fmt.Sprint(DefaultConfig().Table)); strings.Contains(out, "blackhole") {
		t.Fatalf("a level=use policy left a backstop:\n%s", out)
	}
	if out, err := nsExec(t, r.a, "ping", "-6", "-c", "2", "-W", "1", "2001:db8:2::1"); err != nil {
		t.Fatalf("level=use: the ping should pass in the clear: %v\n%s", err, out)
	}
}

// TestBackstopsOutliveClose: Close (routerd stopping) leaves the backstops of require
// policies and the rules that lead to their tables, both the catch-all one and a selector
// policy's, so that the protected destinations are dropped, not routed in the clear,
// while routerd is down; the next Open adopts them without a gap and without
// duplicates, and its policies remove what they no longer want. Without require
// policies Close leaves nothing. Before, Close removed them all (qa12: 368 cleartext
// packets in 6 s after SIGTERM); test/ipsec TestRequirePolicyNoCleartextWhileDown runs
// it on the routerd binary with SIGTERM and SIGKILL.
func TestBackstopsOutliveClose(t *testing.T) {
	r := newRig(t)
	a := startNode(t, r.a)
	ctx := context.Background()
	pols := []Policy{
		{ID: 1, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: netip.MustParseAddr("198.18.0.1"),
			TunnelDst: netip.MustParseAddr("198.18.0.2"), ReqID: 7},
		{ID: 2, Src: netip.MustParsePrefix("198.18.0.1/32"), Dst: netip.MustParsePrefix("198.18.5.1/32"), Protocol: 1, Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTransport, ReqID: 8},
	}
	if err := a.dp.SetPolicies(ctx, pols); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	rules := func() string { return run(t, "ip", "-n", r.a, "-4", "rule") }
	table := func(n int) string { return run(t, "ip", "-n", r.a, "-4", "route", "show", "table", fmt.Sprint(n)) }
	dropped := func(when string) {
		t.Helper()
		for _, args := range [][]string{{"198.19.2.9", "from", "198.19.1.1"}, {"198.18.5.1", "ipproto", "icmp"}} {
			// The kernel answers a route get that meets a blackhole with EINVAL; the
			// main table would give the route via the peer.
			out, _ := nsExec(t, r.a, append([]string{"ip", "route", "get"}, args...)...)
			if !strings.Contains(out, "Invalid argument") {
				t.Errorf("%s: route get %s: want the backstop, got\n%s\nrules:\n%s\n%s\n%s", when, strings.Join(args, " "), out,
					rules(), table(cfg.Table), table(cfg.SelectorTable()))
			}
		}
	}
	run(t, "ip", "-n", r.a, "route", "add", "198.19.2.0/24", "via", "198.18.0.2")
	run(t, "ip", "-n", r.a, "route", "add", "198.18.5.0/24", "via", "198.18.0.2")
	a.dp.Close()
	dropped("after Close")
	// A second run in the namespace: it adopts, the same rules are there once each.
	a.udp.Close()
	a.udp6.Close()
	b := startNode(t, r.a)
	dropped("after the next Open")
	if err := b.dp.SetPolicies(ctx, pols); err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{fmt.Sprintf("lookup %d", cfg.Table), "to 198.18.5.1 ipproto icmp lookup"} {
		if n := strings.Count(rules(), rule); n != 1 {
			t.Errorf("%d rules %q after the next run's policies, want 1:\n%s", n, rule, rules())
		}
	}
	if err := b.dp.SetPolicies(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if out := table(cfg.Table) + table(cfg.SelectorTable()); strings.Contains(out, "blackhole") {
		t.Errorf("backstops stayed after their policies went:\n%s", out)
	}
	b.dp.Close()
	if out := rules(); strings.Contains(out, "lookup 22") || strings.Contains(out, "goto") {
		t.Errorf("rules stayed after a Close without require policies:\n%s", out)
	}
}

// opsNL records the route and rule changes the data path makes, in order.
type opsNL struct {
	rtnl
	mu  sync.Mutex
	ops []string
}

func (o *opsNL) note(s string) {
	o.mu.Lock()
	o.ops = append(o.ops, s)
	o.mu.Unlock()
}

func (o *opsNL) RouteReplace(r *netlink.Route) error {
	o.note(fmt.Sprintf("replace %d %s type %d metric %d", r.Table, r.Dst, r.Type, r.Priority))
	return o.rtnl.RouteReplace(r)
}

func (o *opsNL) RouteDel(r *netlink.Route) error {
	o.note(fmt.Sprintf("del %d %s type %d metric %d", r.Table, r.Dst, r.Type, r.Priority))
	return o.rtnl.RouteDel(r)
}

func (o *opsNL) RuleAdd(r *netlink.Rule) error {
	o.note(fmt.Sprintf("rule add %s", r.Dst))
	return o.rtnl.RuleAdd(r)
}

func (o *opsNL) RuleDel(r *netlink.Rule) error {
	o.note(fmt.Sprintf("rule del %s", r.Dst))
	return o.rtnl.RuleDel(r)
}

// TestPolicyChangeMakeBeforeBreak: a policy whose steering route changes (its source
// hint goes) has the route replaced in place, never deleted first, and a selector rule
// replaced by another is added before the old one is removed, so that no packet of a
// protected destination meets neither and falls through to the main table in the
// clear; the old rule's route leaves after the rule. Before, routes and rules were
// deleted first and added after, routes before rules.
func TestPolicyChangeMakeBeforeBreak(t *testing.T) {
	r := newRig(t)
	a := startNode(t, r.a)
	u := a.dp.(*userspace)
	rec := &opsNL{rtnl: u.nl}
	u.polMu.Lock()
	u.nl = rec
	u.polMu.Unlock()
	ctx := context.Background()
	pol := func(src, gre string) []Policy {
		return []Policy{
			{ID: 1, Src: netip.MustParsePrefix(src), Dst: netip.MustParsePrefix("198.19.2.0/24"), Dir: DirOut,
				Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: netip.MustParseAddr("198.18.0.1"),
				TunnelDst: netip.MustParseAddr("198.18.0.2"), ReqID: 7},
			{ID: 2, Src: netip.MustParsePrefix("198.18.0.1/32"), Dst: netip.MustParsePrefix(gre), Protocol: 47, Dir: DirOut,
				Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTransport, ReqID: 8},
		}
	}
	if err := a.dp.SetPolicies(ctx, pol("198.19.1.0/24", "198.18.5.1/32")); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", r.a, "route", "show", "table", fmt.Sprint(DefaultConfig().Table), "198.19.2.0/24"); !strings.Contains(out, "src 198.19.1.1") {
		t.Fatalf("the route has no source hint for the local address in the policy's source:\n%s", out)
	}
	rec.mu.Lock()
	rec.ops = nil
	rec.mu.Unlock()
	if err := a.dp.SetPolicies(ctx, pol("198.19.9.0/24", "198.18.6.1/32")); err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	ops := append([]string(nil), rec.ops...)
	rec.mu.Unlock()
	added, removed, routeGone := -1, -1, -1
	for i, op := range ops {
		if strings.HasPrefix(op, "del 221 198.18.5.1/32 ") && routeGone < 0 {
			routeGone = i
		}
		if strings.HasPrefix(op, "del ") && strings.Contains(op, " 198.19.2.0/24 ") {
			t.Errorf("the changed steering route was deleted (%q), not replaced in place: %q", op, ops)
		}
		switch op {
		case "rule add 198.18.6.1/32":
			added = i
		case "rule del 198.18.5.1/32":
			removed = i
		}
	}
	if added < 0 || removed < 0 || added > removed {
		t.Errorf("the new selector rule was not added before the old one left: %q", ops)
	}
	if routeGone < removed {
		t.Errorf("the old selector rule's route left before the rule: %q", ops)
	}
	if out := run(t, "ip", "-n", r.a, "route", "show", "table", fmt.Sprint(DefaultConfig().Table), "198.19.2.0/24"); strings.Contains(out, "src") || !strings.Contains(out, "dev ") {
		t.Fatalf("the route was not replaced:\n%s", out)
	}
}

// TestFullTunnelBackstopOutlivesClose: a full tunnel (a require policy to 0.0.0.0/0 or
// ::/0) gets a backstop that only its own sources meet: while routerd is down (after
// Close) and until the next run's policies, a packet from the policy's source to
// anywhere is dropped, one from the policy's source to a connected network or the peer
// still goes there (as Table's throws send it while routerd runs), and the host's other
// traffic keeps the main table's default route. The next Open adopts the rule and the
// table, its policies use them once each, and removing the policy removes them. Before,
// a full tunnel had no backstop at all (qa12: 284 cleartext packets after SIGTERM, 564
// after kill -9, 795 for ::/0): the first check fails with the main table's route.
func TestFullTunnelBackstopOutlivesClose(t *testing.T) {
	r := newRig(t)
	run(t, "ip", "-n", r.a, "route", "add", "default", "via", "198.18.0.2")
	run(t, "ip", "-n", r.a, "-6", "route", "add", "default", "via", "2001:db8:ff::2")
	a := startNode(t, r.a)
	ctx := context.Background()
	pols := []Policy{
		{ID: 1, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("0.0.0.0/0"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: netip.MustParseAddr("198.18.0.1"),
			TunnelDst: netip.MustParseAddr("198.18.0.2"), ReqID: 7},
		{ID: 2, Src: netip.MustParsePrefix("2001:db8:1::/64"), Dst: netip.MustParsePrefix("::/0"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelUnique, Mode: ModeTunnel, TunnelSrc: netip.MustParseAddr("2001:db8:ff::1"),
			TunnelDst: netip.MustParseAddr("2001:db8:ff::2"), ReqID: 8},
	}
	bt := DefaultConfig().BackstopTable()
	state := func() string {
		return run(t, "ip", "-n", r.a, "rule") + run(t, "ip", "-n", r.a, "-6", "rule") +
			run(t, "ip", "-n", r.a, "route", "show", "table", "all") + run(t, "ip", "-n", r.a, "-6", "route", "show", "table", "all")
	}
	// get is `ip route get` in A: the route's text, or the kernel's refusal (a blackhole
	// answers EINVAL).
	get := func(args ...string) string {
		out, _ := nsExec(t, r.a, append([]string{"ip", "route", "get"}, args...)...)
		return out
	}
	isDrop := func(out string) bool {
		return strings.Contains(out, "Invalid argument") || strings.Contains(out, "blackhole") ||
			strings.Contains(out, "dev "+DefaultConfig().HoldDevice()) // hold6.go
	}
	check := func(when string, up bool) {
		t.Helper()
		// The host's own unbound traffic too (its lookup has no source): the policy's
		// source holds 198.19.1.1, the steering route's source while routerd runs.
		for _, from := range [][]string{{"198.19.77.1", "from", "198.19.1.1"}, {"2001:db8:77::1", "from", "2001:db8:1::1"},
			{"198.19.77.1"}} {
			out := get(from...)
			if up && !strings.Contains(out, "dev ipsec0") {
				t.Errorf("%s: route get %s: want the steering route, got\n%s\n%s", when, strings.Join(from, " "), out, state())
			}
			if !up && !isDrop(out) {
				t.Errorf("%s: route get %s: want the backstop, got\n%s\n%s", when, strings.Join(from, " "), out, state())
			}
		}
		// Thrown as in Table: the connected network and the peer, from the policy's source.
		for _, to := range [][]string{{"198.18.0.7", "from", "198.19.1.1"}, {"2001:db8:ff::7", "from", "2001:db8:1::1"},
			{"198.18.0.2", "from", "198.19.1.1"}} {
			if out := get(to...); !strings.Contains(out, "dev eth0") {
				t.Errorf("%s: route get %s: want eth0 (thrown), got\n%s\n%s", when, strings.Join(to, " "), out, state())
			}
		}
		if up {
			return
		}
		// The host's other traffic keeps the default route, its IPv6 from the WAN address
		// too (the hold route: hold6.go), and its unbound traffic to a connected network is
		// thrown. Its unbound IPv6 is dropped in the hold device with the LAN source.
		for _, other := range [][]string{{"198.19.77.1", "from", "198.18.0.1"}, {"198.18.0.7"}, {"2001:db8:ff::7"},
			{"2001:db8:77::1", "from", "2001:db8:ff::1"}} {
			if out := get(other...); !strings.Contains(out, "dev eth0") {
				t.Errorf("%s: route get %s: want the main table's route, got\n%s\n%s", when, strings.Join(other, " "), out, state())
			}
		}
		if out := get("2001:db8:77::1"); !strings.Contains(out, "dev "+DefaultConfig().HoldDevice()) || !strings.Contains(out, "src 2001:db8:1::1") {
			t.Errorf("%s: route get 2001:db8:77::1: want the hold route, got\n%s\n%s", when, out, state())
		}
	}
	if err := a.dp.SetPolicies(ctx, pols); err != nil {
		t.Fatal(err)
	}
	check("routerd up", true)
	a.dp.Close()
	check("after Close", false)
	a.udp.Close()
	a.udp6.Close()
	b := startNode(t, r.a)
	check("after the next Open", false)
	if err := b.dp.SetPolicies(ctx, pols); err != nil {
		t.Fatal(err)
	}
	check("the next run's policies", true)
	// The source's rule and the host's own one (ownRules).
	for fam, want := range map[string]int{"-4": 2, "-6": 2} {
		if n := strings.Count(run(t, "ip", "-n", r.a, fam, "rule"), fmt.Sprintf("lookup %d", bt)); n != want {
			t.Errorf("%d rules to table %d (%s) after the next run's policies, want %d:\n%s", n, bt, fam, want, state())
		}
	}
	if err := b.dp.SetPolicies(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if out := get("198.19.77.1", "from", "198.19.1.1"); !strings.Contains(out, "via 198.18.0.2") {
		t.Errorf("the policy is gone but its source is still held:\n%s\n%s", out, state())
	}
	b.dp.Close()
	if out := state(); strings.Contains(out, fmt.Sprintf("lookup %d", bt)) || strings.Contains(out, fmt.Sprintf("table %d", bt)) {
		t.Errorf("the full tunnel's backstop stayed after its policy went:\n%s", out)
	}
}

// TestPrearmBackstopsBeforeOpen: PrearmBackstops, which routerd runs with the stored
// policies before any engine applies an address or a route, drops a require policy's
// packets (a subnet's, a selector policy's, a full tunnel's) before the data path opens,
// where the main table would route them in the clear (a host that boots has no backstops
// left); it only adds, Open adopts, and ClearBackstops (an engine whose data path does
// not open) removes what is left, also after the data path closed. Before, nothing was
// there until the IPsec engine's first pass (qa12: 212 cleartext packets over 5.7 s at a
// cold start).
func TestPrearmBackstopsBeforeOpen(t *testing.T) {
	r := newRig(t)
	run(t, "ip", "-n", r.a, "route", "add", "default", "via", "198.18.0.2")
	pols := []Policy{
		{ID: 1, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire},
		{ID: 2, Src: netip.MustParsePrefix("198.18.0.1/32"), Dst: netip.MustParsePrefix("198.18.5.1/32"), Protocol: 1, Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire},
		{ID: 3, Src: netip.MustParsePrefix("198.19.1.1/32"), Dst: netip.MustParsePrefix("0.0.0.0/0"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire},
		{ID: 4, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.9.0/24"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelUse},
		// A full tunnel of one protocol and port: its other ports are not its traffic.
		{ID: 5, Src: netip.MustParsePrefix("198.18.0.1/32"), Dst: netip.MustParsePrefix("0.0.0.0/0"), Protocol: 6, DstPort: 443,
			Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire},
	}
	cfg := DefaultConfig()
	cfg.Force = KindUserspace
	in := func(fn func() error) {
		t.Helper()
		var err error
		inNS(t, r.a, func() { err = fn() })
		if err != nil {
			t.Fatal(err)
		}
	}
	prearm := func() { in(func() error { return PrearmBackstops(cfg, pols, nil) }) }
	clearAll := func() { in(func() error { return ClearBackstops(cfg) }) }
	state := func() string {
		return run(t, "ip", "-n", r.a, "rule") + run(t, "ip", "-n", r.a, "route", "show", "table", "all")
	}
	get := func(args ...string) string {
		out, _ := nsExec(t, r.a, append([]string{"ip", "route", "get"}, args...)...)
		return out
	}
	// The host's own unbound lookups too: the full tunnel from 198.19.1.1 holds them all
	// (ownRule; the host has that address, so its steering route takes them while routerd
	// runs), except to the connected network (thrown).
	protected := [][]string{{"198.19.2.9", "from", "198.19.1.1"}, {"198.18.5.1", "ipproto", "icmp"}, {"198.19.77.1", "from", "198.19.1.1"},
		{"198.19.77.1", "from", "198.18.0.1", "ipproto", "tcp", "dport", "443"}, {"198.19.77.1"}}
	dropped := func(when string) {
		t.Helper()
		for _, args := range protected {
			if out := get(args...); !strings.Contains(out, "Invalid argument") {
				t.Errorf("%s: route get %s: want the backstop, got\n%s\n%s", when, strings.Join(args, " "), out, state())
			}
		}
		for _, args := range [][]string{{"198.19.9.1", "from", "198.18.0.1"}, {"198.18.0.7"}, {"198.19.77.1", "from", "198.18.0.1"},
			{"198.19.77.1", "from", "198.18.0.1", "ipproto", "tcp", "dport", "80"}} {
			if out := get(args...); !strings.Contains(out, "dev eth0") {
				t.Errorf("%s: route get %s (no require policy's): want the main table's route, got\n%s\n%s", when, strings.Join(args, " "), out, state())
			}
		}
	}
	cleared := func(when string) {
		t.Helper()
		if out := state(); strings.Contains(out, "lookup 22") || strings.Contains(out, "blackhole") || strings.Contains(out, "goto") {
			t.Errorf("%s: ClearBackstops left:\n%s", when, out)
		}
		if out := get(protected[0]...); !strings.Contains(out, "via 198.18.0.2") {
			t.Errorf("%s: route get %s after the backstops went: %s", when, strings.Join(protected[0], " "), out)
		}
	}
	prearm()
	dropped("before Open")
	prearm() // again: nothing twice
	for rule, n := range map[string]int{"lookup 220": 1, "to 198.18.5.1 ipproto icmp lookup 221": 1, "from 198.19.1.1 lookup 222": 1,
		"from 198.18.0.1 ipproto tcp dport 443 lookup 222": 1, "from 0.0.0.0 lookup 222": 1,
		"from 0.0.0.0 ipproto tcp dport 443 lookup 222": 1, "fwmark 0xfff00000/0xfff00000 goto 224": 1, "224:\tfrom all nop": 1} {
		if got := strings.Count(state(), rule); got != n {
			t.Errorf("%d rules %q, want %d:\n%s", got, rule, n, state())
		}
	}
	clearAll()
	cleared("prearmed")
	prearm()
	a := startNode(t, r.a)
	dropped("after Open")
	if err := a.dp.SetPolicies(context.Background(), pols); err != nil {
		t.Fatal(err)
	}
	a.dp.Close()
	a.udp.Close()
	a.udp6.Close()
	dropped("after Close")
	clearAll()
	cleared("after Close")
}

// TestPrearmOwnFromStoredAddress: at a cold start the host's addresses are not applied
// when PrearmBackstops runs, so it is told the stored ones: a full tunnel whose source
// holds one gets the rule for the host's own unbound lookups (ownRule) and table 222 the
// throw of that address's network, so that the host reaches it while its own traffic
// elsewhere is held; one whose source holds none of the host's addresses gets neither.
// Without the stored addresses the unbound lookup took the main table's default route
// (the WAN, in the clear) until the data path's first policies.
func TestPrearmOwnFromStoredAddress(t *testing.T) {
	r := newRig(t)
	run(t, "ip", "-n", r.a, "route", "add", "default", "via", "198.18.0.2")
	cfg := DefaultConfig()
	cfg.Force = KindUserspace
	full := func(src string) []Policy {
		return []Policy{{ID: 1, Src: netip.MustParsePrefix(src), Dst: netip.MustParsePrefix("0.0.0.0/0"), Dir: DirOut,
			Action: ActionEncrypt, Level: LevelRequire}}
	}
	stored := []netip.Prefix{netip.MustParsePrefix("198.19.50.1/24")}
	prearm := func(ps []Policy) {
		t.Helper()
		var err error
		inNS(t, r.a, func() { err = PrearmBackstops(cfg, ps, stored) })
		if err != nil {
			t.Fatal(err)
		}
	}
	clearAll := func() {
		t.Helper()
		var err error
		inNS(t, r.a, func() { err = ClearBackstops(cfg) })
		if err != nil {
			t.Fatal(err)
		}
	}
	state := func() string {
		return run(t, "ip", "-n", r.a, "rule") + run(t, "ip", "-n", r.a, "route", "show", "table", "all")
	}
	get := func(args ...string) string {
		out, _ := nsExec(t, r.a, append([]string{"ip", "route", "get"}, args...)...)
		return out
	}
	prearm(full("198.19.50.0/24"))
	if out := get("198.19.77.1"); !strings.Contains(out, "Invalid argument") {
		t.Errorf("a full tunnel from the stored LAN's network: the host's unbound lookup: want the backstop, got\n%s\n%s", out, state())
	}
	if out := state(); !strings.Contains(out, "throw 198.19.50.0/24 table 222") || !strings.Contains(out, "throw 198.18.0.0/24 table 222") {
		t.Errorf("want throws of the stored and the applied networks in table 222:\n%s", out)
	}
	// The address is applied later (the addresses engine): then its network is reached.
	run(t, "ip", "-n", r.a, "addr", "add", "198.19.50.1/24", "dev", "eth0")
	if out := get("198.19.50.7"); !strings.Contains(out, "dev eth0") {
		t.Errorf("the stored address's network: want it thrown to the main table, got\n%s\n%s", out, state())
	}
	if out := get("198.19.77.1", "from", "198.18.0.1"); !strings.Contains(out, "via 198.18.0.2") {
		t.Errorf("the WAN address's own lookup: want the main table's route, got\n%s\n%s", out, state())
	}
	clearAll()
	run(t, "ip", "-n", r.a, "addr", "del", "198.19.50.1/24", "dev", "eth0")
	prearm(full("198.19.60.0/24"))
	if out := get("198.19.77.1"); !strings.Contains(out, "via 198.18.0.2") {
		t.Errorf("a full tunnel from a network the host has no address in: the host's unbound lookup: want the main table's route, got\n%s\n%s", out, state())
	}
	if out := state(); strings.Contains(out, "from 0.0.0.0") {
		t.Errorf("an unbound rule for a full tunnel that holds none of the host's addresses:\n%s", out)
	}
	clearAll()
	if out := state(); strings.Contains(out, "lookup 22") || strings.Contains(out, "table 222") {
		t.Errorf("ClearBackstops left:\n%s", out)
	}
}

// TestFullTunnelFollowsAddresses: a full tunnel's policy set before the host has an
// address in its src-address (an /ip address and the policy added in one script, the
// addresses engine after the IPsec engine's pass) gets its steering route's source, the
// throw of the new network and the rule for the host's own traffic once the address
// comes, without new policies (addrWatch): before, the route stayed without a source
// and the host's own unbound traffic left from its other address in the clear while
// routerd ran. When the address goes, the rule goes too.
func TestFullTunnelFollowsAddresses(t *testing.T) {
	r := newRig(t)
	run(t, "ip", "-n", r.a, "route", "add", "default", "via", "198.18.0.2")
	a := startNode(t, r.a)
	defer a.dp.Close()
	pols := []Policy{{ID: 1, Src: netip.MustParsePrefix("198.19.50.0/24"), Dst: netip.MustParsePrefix("0.0.0.0/0"), Dir: DirOut,
		Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: netip.MustParseAddr("198.18.0.1"),
		TunnelDst: netip.MustParseAddr("198.18.0.2"), ReqID: 7}}
	if err := a.dp.SetPolicies(context.Background(), pols); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		return run(t, "ip", "-n", r.a, "rule") + run(t, "ip", "-n", r.a, "route", "show", "table", "all")
	}
	if out := state(); strings.Contains(out, "from 0.0.0.0") || strings.Contains(out, "src 198.19.50.1") {
		t.Fatalf("no address in the policy's source yet, but:\n%s", out)
	}
	run(t, "ip", "-n", r.a, "addr", "add", "198.19.50.1/24", "dev", "eth0")
	want := []string{"default dev ipsec0 table 220 proto static scope link src 198.19.50.1", "throw 198.19.50.0/24 table 222",
		"223:\tfrom 0.0.0.0 lookup 222", "222:\tfrom all fwmark 0xfff00000/0xfff00000 goto 224"}
	ok := func() bool {
		out := state()
		for _, w := range want {
			if !strings.Contains(out, w) {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ok() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !ok() {
		t.Fatalf("the address came, want %q:\n%s", want, state())
	}
	run(t, "ip", "-n", r.a, "addr", "del", "198.19.50.1/24", "dev", "eth0")
	deadline = time.Now().Add(10 * time.Second)
	for strings.Contains(state(), "from 0.0.0.0") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if out := state(); strings.Contains(out, "from 0.0.0.0") || strings.Contains(out, "goto 224") || strings.Contains(out, "src 198.19.50.1") {
		t.Fatalf("the address went, but:\n%s", out)
	}
	if err := a.dp.(Repairer).Health(); err != nil {
		t.Fatal(err)
	}
}
