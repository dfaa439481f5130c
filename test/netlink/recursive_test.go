package netlink

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// TestRecursiveFailover is the multi-WAN failover of real exports, typed as an operator
// would: the default route via a far address (198.19.8.8, 8.8.8.8's stand-in) that
// only the first uplink reaches (scope=10 host route), target-scope=11 and
// check-gateway=ping, and the second uplink at distance 2. Traffic leaves by the first
// uplink; when its far end goes down, check-gateway takes the route out within two
// 10-second checks and traffic moves to the second; when it comes back, so does the
// traffic.
func TestRecursiveFailover(t *testing.T) {
	need(t)
	r1 := netns(t, "rf")
	isp1, isp2 := netns(t, "i1"), netns(t, "i2")
	veth(t, r1, "ether1", isp1, "e0")
	veth(t, r1, "ether2", isp2, "e0")
	for i, ns := range []string{isp1, isp2} {
		n := string(rune('1' + i))
		run(t, "ip", "-n", ns, "addr", "add", "198.18."+n+".1/24", "dev", "e0")
		run(t, "ip", "-n", ns, "link", "set", "e0", "up")
		// The internet host both uplinks reach, and the way back to the router.
		run(t, "ip", "-n", ns, "addr", "add", "198.19.200.1/32", "dev", "lo")
		run(t, "ip", "-n", ns, "route", "add", "default", "via", "198.18."+n+".2")
	}
	run(t, "ip", "-n", isp1, "addr", "add", "198.19.8.8/32", "dev", "lo")
	for _, l := range []string{"ether1", "ether2"} {
		run(t, "ip", "-n", r1, "link", "set", l, "up")
	}
	r := startRouter(t, r1, t.TempDir())
	r.must("/ip address add address=198.18.1.2/24 interface=ether1")
	r.must("/ip address add address=198.18.2.2/24 interface=ether2")
	r.must("/ip route add dst-address=198.19.8.8 gateway=198.18.1.1 scope=10")
	r.must("/ip route add distance=1 gateway=198.19.8.8 target-scope=11 check-gateway=ping")
	r.must("/ip route add distance=2 gateway=198.18.2.1")
	// And a route whose connected gateway is checked by ARP.
	r.must("/ip route add dst-address=198.19.50.0/24 gateway=198.18.1.1 check-gateway=arp")

	via := func(want string) func() (bool, string) {
		return func() (bool, string) {
			out := run(t, "ip", "-n", r1, "route", "get", "198.19.200.1")
			return strings.Contains(out, want), out
		}
	}
	pings := func(what string) {
		t.Helper()
		if out, err := exec.Command("ip", "netns", "exec", r1, "ping", "-c1", "-W2", "198.19.200.1").CombinedOutput(); err != nil {
			t.Errorf("ping %s: %v\n%s", what, err, out)
		}
	}
	eventually(t, "default route via the first uplink (recursive)", via("via 198.18.1.1 dev ether1"))
	pings("over the first uplink")
	out := r.must("/ip route print detail where gateway=198.19.8.8")
	for _, w := range []string{"A", `immediate-gw="198.18.1.1%ether1"`, `gateway-status="198.19.8.8 recursive via 198.18.1.1 ether1"`} {
		if !strings.Contains(out, w) {
			t.Errorf("recursive route print lacks %q:\n%s", w, out)
		}
	}

	// The first uplink's far end goes down: two failed checks (at most about 30 s).
	run(t, "ip", "-n", isp1, "link", "set", "e0", "down")
	testbin.Eventually(t, "traffic moved to the second uplink", 45*time.Second, via("via 198.18.2.1 dev ether2"))
	pings("over the second uplink")
	out = r.must("/ip route print detail where gateway=198.19.8.8")
	if !strings.Contains(out, "gateway unreachable (check-gateway=ping)") {
		t.Errorf("route with a dead gateway:\n%s", out)
	}
	if out := r.must("/ip route print where gateway=198.18.2.1"); !strings.Contains(out, "A") {
		t.Errorf("distance-2 route not active:\n%s", out)
	}
	testbin.Eventually(t, "check-gateway=arp route inactive", 30*time.Second, func() (bool, string) {
		out := r.must("/ip route print detail where dst-address=198.19.50.0/24")
		return strings.Contains(out, "gateway unreachable (check-gateway=arp)"), out
	})
	if rt := routes(t, r1, "-4"); strings.Contains(strings.Join(rt, ","), "198.19.50.0/24") {
		t.Errorf("route with a dead ARP gateway still in the kernel: %v", rt)
	}

	// It comes back: one answered check.
	run(t, "ip", "-n", isp1, "link", "set", "e0", "up")
	testbin.Eventually(t, "traffic back on the first uplink", 30*time.Second, via("via 198.18.1.1 dev ether1"))
	pings("over the first uplink again")
	testbin.Eventually(t, "check-gateway=arp route back", 30*time.Second, func() (bool, string) {
		rt := routes(t, r1, "-4")
		return strings.Contains(strings.Join(rt, ","), "198.19.50.0/24"), strings.Join(rt, ",")
	})
}

// TestGatewayAtTable: RouterOS 7's gateway=X@table, refused before, resolves the gateway
// in that table: a route of table t1 through main's connected network (@main), and a
// main route whose gateway only t1 has a route to (@t1), installed via t1's next hop,
// which traffic takes.
func TestGatewayAtTable(t *testing.T) {
	need(t)
	r1, isp := netns(t, "gt"), netns(t, "gi")
	veth(t, r1, "ether1", isp, "e0")
	run(t, "ip", "-n", isp, "addr", "add", "198.18.1.1/24", "dev", "e0")
	run(t, "ip", "-n", isp, "link", "set", "e0", "up")
	run(t, "ip", "-n", isp, "addr", "add", "198.19.200.1/32", "dev", "lo")
	run(t, "ip", "-n", isp, "route", "add", "default", "via", "198.18.1.2")
	run(t, "ip", "-n", r1, "link", "set", "ether1", "up")
	r := startRouter(t, r1, t.TempDir())
	r.must("/ip address add address=198.18.1.2/24 interface=ether1")
	r.must("/routing table add name=t1 fib")
	r.must("/ip route add dst-address=198.19.9.0/24 gateway=198.18.1.1@main routing-table=t1 scope=10")
	r.must("/ip route add dst-address=198.19.200.0/24 gateway=198.19.9.9@t1 target-scope=11")
	eventually(t, "the t1 route in the kernel", func() (bool, string) {
		out := run(t, "ip", "-n", r1, "route", "show", "table", "all", "198.19.9.0/24")
		return strings.Contains(out, "via 198.18.1.1"), out
	})
	eventually(t, "the main route via t1's next hop", func() (bool, string) {
		out := run(t, "ip", "-n", r1, "route", "get", "198.19.200.1")
		return strings.Contains(out, "via 198.18.1.1 dev ether1"), out
	})
	if out, err := exec.Command("ip", "netns", "exec", r1, "ping", "-c1", "-W2", "198.19.200.1").CombinedOutput(); err != nil {
		t.Errorf("ping through the @t1 route: %v\n%s", err, out)
	}
	if out := r.must("/ip route print detail where dst-address=198.19.200.0/24"); !strings.Contains(out, `gateway-status="198.19.9.9 recursive via 198.18.1.1 ether1"`) {
		t.Errorf("@t1 route print:\n%s", out)
	}
	r.fails("/ip route add dst-address=198.19.201.0/24 gateway=198.18.1.1@nosuch", "no routing table nosuch")
	if exp := r.must("/ip route export"); !strings.Contains(exp, "gateway=198.19.9.9@t1") {
		t.Errorf("export lacks the gateway as written:\n%s", exp)
	}

	// A route over an interface that is disabled reaches nothing (QA: it said
	// 'ether1 reachable').
	r.must("/ip route add dst-address=198.19.210.0/24 gateway=ether1")
	eventually(t, "the interface route in the kernel", func() (bool, string) {
		out := run(t, "ip", "-n", r1, "route", "show", "198.19.210.0/24")
		return strings.Contains(out, "dev ether1"), out
	})
	// A pref-src that is no address of this router is named, not blamed on the
	// gateway (QA: 'kernel refused the route (invalid gateway?)').
	r.must("/ip route add dst-address=198.19.211.0/24 gateway=198.18.1.1 pref-src=198.18.1.99")
	eventually(t, "the foreign pref-src named", func() (bool, string) {
		out := r.must("/ip route print detail where dst-address=198.19.211.0/24")
		return strings.Contains(out, "pref-src 198.18.1.99 is not an address of this router"), out
	})
	// Over a disabled interface the route is inactive: neither A nor I, and its
	// gateway-status says unreachable (QA: I, and 'ether1 reachable' before).
	r.must("/interface disable ether1")
	eventually(t, "the interface route unreachable", func() (bool, string) {
		out := r.must("/ip route print detail where dst-address=198.19.210.0/24")
		return strings.Contains(out, `gateway-status="ether1 unreachable"`), out
	})
	out := r.must("/ip route print where dst-address=198.19.210.0/24")
	if !regexp.MustCompile(`(?m)^\s*0 s +198\.19\.210\.0/24`).MatchString(out) {
		t.Errorf("route over a disabled interface, want flags s only (not active):\n%s", out)
	}
}
