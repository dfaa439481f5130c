package esp

import (
	"context"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestNoneExceptionWhileDown: a none policy with a src-address placed before a full
// tunnel passes its sources' forwarded packets and the host's own from its LAN address
// while routerd is down (prearmed, and after a run), as the running data path does;
// before, rule 219 sent them to table 222's blackhole. One that an earlier encrypt policy
// overlaps stays held (that policy takes those packets while routerd runs), and so do the
// full tunnel's other destinations. ClearBackstops leaves no rule 217 or 225. Checked with
// real pings from a LAN namespace (c) through the router (a) to b.
func TestNoneExceptionWhileDown(t *testing.T) {
	r := newRig(t)
	c := "espc" + strings.TrimPrefix(r.a, "espa")
	run(t, "ip", "netns", "add", c)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", c).Run() })
	run(t, "ip", "-n", c, "link", "set", "lo", "up")
	run(t, "ip", "link", "add", "vl"+c[4:], "netns", r.a, "type", "veth", "peer", "name", "vm"+c[4:], "netns", c)
	run(t, "ip", "-n", r.a, "link", "set", "vl"+c[4:], "name", "lan0")
	run(t, "ip", "-n", c, "link", "set", "vm"+c[4:], "name", "eth0")
	run(t, "ip", "-n", r.a, "addr", "add", "198.19.5.1/24", "dev", "lan0")
	run(t, "ip", "-n", c, "addr", "add", "198.19.5.2/24", "dev", "eth0")
	run(t, "ip", "-n", r.a, "link", "set", "lan0", "up")
	run(t, "ip", "-n", c, "link", "set", "eth0", "up")
	run(t, "ip", "-n", c, "route", "add", "default", "via", "198.19.5.1")
	run(t, "ip", "netns", "exec", r.a, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	run(t, "ip", "-n", r.a, "route", "add", "default", "via", "198.18.0.2")
	run(t, "ip", "-n", r.b, "addr", "add", "198.19.3.1/32", "dev", "lo")
	run(t, "ip", "-n", r.b, "addr", "add", "198.19.4.1/32", "dev", "lo")
	for _, n := range []string{"198.19.1.0/24", "198.19.5.0/24"} {
		run(t, "ip", "-n", r.b, "route", "add", n, "via", "198.18.0.1")
	}
	cfg := DefaultConfig()
	cfg.Force = KindUserspace
	p := func(id uint32, src, dst string, a Action) Policy {
		return Policy{ID: id, Src: netip.MustParsePrefix(src), Dst: netip.MustParsePrefix(dst), Dir: DirOut,
			Action: a, Level: LevelRequire}
	}
	pols := []Policy{
		p(1, "198.19.5.0/24", "198.19.4.0/24", ActionEncrypt), // overlaps the none policy 3 below
		p(2, "198.19.0.0/16", "198.19.2.0/24", ActionNone),
		p(3, "198.19.5.0/25", "198.19.4.0/24", ActionNone),
		p(4, "198.19.0.0/16", "0.0.0.0/0", ActionEncrypt),
	}
	state := func() string {
		return run(t, "ip", "-n", r.a, "rule") + run(t, "ip", "-n", r.a, "route", "show", "table", "all")
	}
	ping := func(ns string, args ...string) bool {
		_, err := nsExec(t, ns, append([]string{"ping", "-c", "1", "-W", "1"}, args...)...)
		return err == nil
	}
	type probe struct {
		ns   string
		args []string
	}
	held := []probe{
		{c, []string{"198.19.3.1"}}, // the full tunnel
		{c, []string{"198.19.4.1"}}, // policy 1 first, not the none policy 3
		{r.a, []string{"-I", "198.19.5.1", "198.19.3.1"}},
	}
	passed := []probe{
		{c, []string{"198.19.2.1"}},                       // forwarded, the none policy 2
		{r.a, []string{"-I", "198.19.5.1", "198.19.2.1"}}, // the host's own from its LAN address
		{r.a, []string{"-I", "198.19.1.1", "198.19.2.1"}},
		{r.a, []string{"-I", "198.18.0.1", "198.19.3.1"}}, // the WAN address's own
	}
	for _, pr := range append(append([]probe{}, held...), passed...) {
		if !waitFor(5*time.Second, func() bool { return ping(pr.ns, pr.args...) }) {
			t.Fatalf("%s: ping %s does not pass before any backstop:\n%s", pr.ns, strings.Join(pr.args, " "), state())
		}
	}
	check := func(when string) {
		t.Helper()
		for _, pr := range held {
			if ping(pr.ns, pr.args...) {
				t.Errorf("%s: %s: ping %s passed: want it held:\n%s", when, pr.ns, strings.Join(pr.args, " "), state())
			}
		}
		for _, pr := range passed {
			if !ping(pr.ns, pr.args...) {
				t.Errorf("%s: %s: ping %s is held: want it passed:\n%s", when, pr.ns, strings.Join(pr.args, " "), state())
			}
		}
	}
	inNS(t, r.a, func() {
		if err := PrearmBackstops(cfg, pols, nil); err != nil {
			t.Error(err)
		}
	})
	check("prearmed")
	a := startNode(t, r.a)
	if err := a.dp.SetPolicies(context.Background(), pols); err != nil {
		t.Fatal(err)
	}
	// Running, with no SA: the tunnel's packets go into the device and are dropped there.
	check("running")
	if err := a.dp.SetPolicies(context.Background(), pols); err != nil {
		t.Fatal(err)
	}
	a.close()
	check("after a run")
	if out := run(t, "ip", "-n", r.a, "rule"); strings.Count(out, "\n217:") != 1 || strings.Count(out, "\n225:") != 1 {
		t.Errorf("want one rule 217 (policy 2; policy 3 overlaps policy 1) and its nop 225:\n%s", out)
	}
	inNS(t, r.a, func() {
		if err := ClearBackstops(cfg); err != nil {
			t.Error(err)
		}
	})
	for _, n := range []string{"217:", "225:", "lookup 22"} {
		if out := state(); strings.Contains(out, n) {
			t.Errorf("ClearBackstops left %q:\n%s", n, out)
		}
	}
	if !ping(c, "198.19.3.1") {
		t.Errorf("held after ClearBackstops:\n%s", state())
	}
}
