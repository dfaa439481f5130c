package ipcfg

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control/controltest"
)

// failover is the multi-WAN shape of real exports: a host route to a far address over
// the first uplink (scope=10), the default route recursively via that address with
// check-gateway, and a second uplink's default route at distance 2.
var failover = []string{
	"/ip/address add address=198.18.1.2/24 interface=ether1",
	"/ip/address add address=198.18.2.2/24 interface=ether2",
	"/ip/route add dst-address=198.19.8.8 gateway=198.18.1.1 scope=10",
	"/ip/route add distance=1 gateway=198.19.8.8 target-scope=11 check-gateway=ping",
	"/ip/route add distance=2 gateway=198.18.2.1",
}

func pass(t *testing.T, r *planRig) []string {
	t.Helper()
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r.k.Take()
}

func wantWrites(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s wrote\n  %q\nwant\n  %q", what, got, want)
	}
}

// routeID is the console id (*N) of the /ip route item whose prop is value.
func routeID(t *testing.T, r *planRig, prop, value string) string {
	t.Helper()
	its, err := r.ex.Items(Route4Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range its {
		if it.Props[prop] == value {
			return fmt.Sprintf("*%X", it.ID)
		}
	}
	t.Fatalf("no route with %s=%s", prop, value)
	return ""
}

// routeByGw is the state of the route whose gateway is gw.
func routeByGw(t *testing.T, r *planRig, path, gw string) (active, invalid bool, status string, props map[string]string) {
	t.Helper()
	st := controltest.State(t, r.ex, path, "gateway", gw)
	return st.Active, st.Invalid, st.Status, st.Props
}

// TestRecursiveRoute: the default route via a gateway that is not connected resolves
// through the scope=10 host route, is installed via that route's next hop, follows it
// when it changes, and is not installed while check-gateway finds the gateway dead, so
// the distance-2 route takes over; a pass with nothing changed writes nothing.
func TestRecursiveRoute(t *testing.T) {
	r := newPlanRig(t, newFakeKernel("ether1", "ether2"))
	for _, c := range failover {
		controltest.Exec(t, r.ex, c)
	}
	wantWrites(t, "first pass", pass(t, r),
		"addr-add ether1 198.18.1.2/24", "addr-add ether2 198.18.2.2/24",
		"route-replace table main 198.19.8.8/32 metric 1 via 198.18.1.1 dev ether1",
		"route-replace table main 0.0.0.0/0 metric 1 via 198.18.1.1 dev ether1",
		"route-replace table main 0.0.0.0/0 metric 2 via 198.18.2.1 dev ether2")
	wantWrites(t, "second pass", pass(t, r))
	act, inv, _, p := routeByGw(t, r, Route4Path, "198.19.8.8")
	if !act || inv || p["immediate-gw"] != "198.18.1.1%ether1" || p["gateway-status"] != "198.19.8.8 recursive via 198.18.1.1 ether1" {
		t.Errorf("recursive route: active %v invalid %v %v", act, inv, p)
	}
	if act, inv, _, p := routeByGw(t, r, Route4Path, "198.18.2.1"); act || inv || p["immediate-gw"] != "198.18.2.1%ether2" {
		t.Errorf("distance-2 route while the first is up: active %v invalid %v %v, want inactive and valid", act, inv, p)
	}
	if act, _, _, p := routeByGw(t, r, Route4Path, "198.18.1.1"); !act || p["gateway-status"] != "198.18.1.1 reachable via ether1" {
		t.Errorf("host route: active %v %v", act, p)
	}

	// The route it resolves through moves to the second uplink: it follows.
	controltest.Exec(t, r.ex, "/ip/route set "+routeID(t, r, "dst-address", "198.19.8.8/32")+" gateway=198.18.2.1")
	wantWrites(t, "pass after the host route moved", pass(t, r),
		"route-replace table main 198.19.8.8/32 metric 1 via 198.18.2.1 dev ether2",
		"route-replace table main 0.0.0.0/0 metric 1 via 198.18.2.1 dev ether2")
	controltest.Exec(t, r.ex, "/ip/route set "+routeID(t, r, "dst-address", "198.19.8.8/32")+" gateway=198.18.1.1")
	pass(t, r)

	// check-gateway finds the gateway dead twice: the route goes, distance 2 is active.
	k := gwKey{kind: "ping", addr: netip.MustParseAddr("198.19.8.8"), link: 2}
	r.e.gw.mu.Lock()
	_, checked := r.e.gw.state[k]
	r.e.gw.mu.Unlock()
	if !checked {
		t.Fatalf("no check of %v; checks %v", k, r.e.gw.targets())
	}
	if r.e.gw.record(k, false) {
		t.Error("one failed check made the gateway unreachable (RouterOS takes two)")
	}
	if !r.e.gw.record(k, false) {
		t.Fatal("two failed checks did not make the gateway unreachable")
	}
	wantWrites(t, "pass after check-gateway failed", pass(t, r),
		"route-del table main 0.0.0.0/0 metric 1 via 198.18.1.1 dev ether1")
	wantWrites(t, "next pass", pass(t, r))
	act, inv, st, p := routeByGw(t, r, Route4Path, "198.19.8.8")
	if act || inv || !strings.Contains(st, "gateway unreachable (check-gateway=ping)") || !strings.Contains(p["gateway-status"], "unreachable") {
		t.Errorf("route with a dead gateway: active %v invalid %v %q %v", act, inv, st, p)
	}
	if act, _, _, _ := routeByGw(t, r, Route4Path, "198.18.2.1"); !act {
		t.Error("distance-2 route not active while the first is down")
	}
	// One answer: back.
	if !r.e.gw.record(k, true) {
		t.Fatal("an answered check did not make the gateway reachable")
	}
	wantWrites(t, "pass after check-gateway answered", pass(t, r),
		"route-replace table main 0.0.0.0/0 metric 1 via 198.18.1.1 dev ether1")

	// Without the scope=10 host route nothing resolves the gateway.
	controltest.Exec(t, r.ex, "/ip/route remove "+routeID(t, r, "dst-address", "198.19.8.8/32"))
	got := pass(t, r)
	slices.Sort(got) // deletions come in no particular order
	wantWrites(t, "pass after the host route went", got,
		"route-del table main 0.0.0.0/0 metric 1 via 198.18.1.1 dev ether1",
		"route-del table main 198.19.8.8/32 metric 1 via 198.18.1.1 dev ether1")
	if act, inv, st, _ := routeByGw(t, r, Route4Path, "198.19.8.8"); act || inv || st != "gateway unreachable" {
		t.Errorf("route without a resolving route: invalid %v %q", inv, st)
	}
}

// TestTargetScope: a gateway resolves only through routes whose scope is at most the
// route's target-scope; the default (10) takes connected networks only.
func TestTargetScope(t *testing.T) {
	r := newPlanRig(t, newFakeKernel("ether1"))
	for _, c := range []string{
		"/ip/address add address=198.18.1.2/24 interface=ether1",
		"/ip/route add dst-address=198.19.8.8 gateway=198.18.1.1", // scope 30
		"/ip/route add dst-address=198.19.1.0/24 gateway=198.19.8.8 target-scope=11",
		"/ip/route add dst-address=198.19.2.0/24 gateway=198.19.8.8 target-scope=30",
		"/ip/route add dst-address=198.19.3.0/24 gateway=198.19.8.8",
	} {
		controltest.Exec(t, r.ex, c)
	}
	wantWrites(t, "first pass", pass(t, r),
		"addr-add ether1 198.18.1.2/24",
		"route-replace table main 198.19.8.8/32 metric 1 via 198.18.1.1 dev ether1",
		"route-replace table main 198.19.2.0/24 metric 1 via 198.18.1.1 dev ether1")
	for _, dst := range []string{"198.19.1.0/24", "198.19.3.0/24"} {
		if st := controltest.State(t, r.ex, Route4Path, "dst-address", dst); st.Invalid || st.Active || st.Status != "gateway unreachable" {
			t.Errorf("%s: %+v, want inactive, unreachable (scope 30 > target-scope)", dst, st)
		}
	}
}

// TestGatewayAtTable: RouterOS 7's gateway=X@table resolves the gateway in that table
// (@main as without it): a route of table t1 through main's connected network, a main
// route through a t1 route (recursive, so installed via t1's next hop), and a gateway
// t1 has no route to is unreachable even though main could reach it.
func TestGatewayAtTable(t *testing.T) {
	r := newPlanRig(t, newFakeKernel("ether1"))
	for _, c := range []string{
		"/ip/address add address=198.18.1.2/24 interface=ether1",
		"/routing/table add name=t1 fib=yes",
		"/ip/route add dst-address=198.19.7.0/24 gateway=198.18.1.1@main routing-table=t1 scope=10",
		"/ip/route add dst-address=198.19.1.0/24 gateway=198.19.7.7@t1 target-scope=11",
		"/ip/route add dst-address=198.19.2.0/24 gateway=198.18.1.1@t1",
	} {
		controltest.Exec(t, r.ex, c)
	}
	wantWrites(t, "first pass", pass(t, r),
		"addr-add ether1 198.18.1.2/24",
		"route-replace table 10001 198.19.7.0/24 metric 1 via 198.18.1.1 dev ether1",
		"route-replace table main 198.19.1.0/24 metric 1 via 198.18.1.1 dev ether1")
	wantWrites(t, "second pass", pass(t, r))
	if _, _, _, p := routeByGw(t, r, Route4Path, "198.19.7.7@t1"); p["gateway-status"] != "198.19.7.7 recursive via 198.18.1.1 ether1" {
		t.Errorf("route through t1: %v", p)
	}
	if st := controltest.State(t, r.ex, Route4Path, "dst-address", "198.19.2.0/24"); st.Invalid || st.Active || st.Status != "gateway unreachable" {
		t.Errorf("gateway t1 has no route to: %+v, want inactive, unreachable", st)
	}
	for _, c := range []string{
		"/ip/route add dst-address=198.19.3.0/24 gateway=198.18.1.1@nosuch",
		"/ip/route add dst-address=198.19.3.0/24 gateway=198.18.1.1@",
		"/ip/route add dst-address=198.19.3.0/24 gateway=@t1",
	} {
		if err := controltest.Run(r.ex, c); err == nil {
			t.Errorf("%s accepted", c)
		}
	}
}

// TestRecursiveRoute6: the same for IPv6.
func TestRecursiveRoute6(t *testing.T) {
	r := newPlanRig(t, newFakeKernel("ether1"))
	for _, c := range []string{
		"/ipv6/address add address=2001:db8:1::2/64 interface=ether1",
		"/ipv6/route add dst-address=2001:db8:ff::8/128 gateway=2001:db8:1::1 scope=10",
		"/ipv6/route add dst-address=::/0 gateway=2001:db8:ff::8 target-scope=11",
	} {
		controltest.Exec(t, r.ex, c)
	}
	wantWrites(t, "first pass", pass(t, r),
		"addr-add ether1 2001:db8:1::2/64",
		"route-replace table main 2001:db8:ff::8/128 metric 1 via 2001:db8:1::1 dev ether1",
		"route-replace table main ::/0 metric 1 via 2001:db8:1::1 dev ether1")
	wantWrites(t, "second pass", pass(t, r))
	if _, _, _, p := routeByGw(t, r, Route6Path, "2001:db8:ff::8"); p["immediate-gw"] != "2001:db8:1::1%ether1" {
		t.Errorf("immediate-gw %v", p)
	}
}

// TestCheckerRun: the checker's loop checks every target each period and kicks the
// engine when two checks in a row failed, and again when one answers.
func TestCheckerRun(t *testing.T) {
	c := newGwChecker()
	c.period = time.Millisecond
	answer := make(chan bool, 1)
	answer <- true
	c.probe = func(context.Context, gwKey) bool {
		ok := <-answer
		answer <- ok
		return ok
	}
	k := gwKey{kind: "ping", addr: netip.MustParseAddr("198.18.1.1")}
	c.setTargets(4, map[gwKey]bool{k: true})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kicks := make(chan struct{}, 8)
	goFn := func(ctx context.Context, fn func(context.Context)) { go fn(ctx) }
	go c.run(ctx, goFn, func() { kicks <- struct{}{} })
	set := func(ok bool) { <-answer; answer <- ok }
	set(false)
	<-kicks
	if !c.down(k) {
		t.Fatal("kicked without the gateway down")
	}
	set(true)
	<-kicks
	if c.down(k) {
		t.Fatal("kicked without the gateway back")
	}
	// A target no pass asks for any more is forgotten.
	c.setTargets(4, nil)
	if len(c.targets()) != 0 {
		t.Errorf("targets %v after none asked", c.targets())
	}
}

// TestPingProbe: the real check answers for a loopback address and not for an address
// nobody has (needs root for the raw ICMP socket).
func TestPingProbe(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("raw ICMP sockets need root")
	}
	if !pingProbe(context.Background(), netip.MustParseAddr("127.0.0.1"), 0) {
		t.Error("127.0.0.1 did not answer")
	}
	if !pingProbe(context.Background(), netip.MustParseAddr("::1"), 0) {
		t.Error("::1 did not answer")
	}
}

// TestECMP: routes of one destination and distance with different gateways are the
// equal-cost paths of one multipath kernel route, all active, as RouterOS 7 has them;
// one whose gateway goes leaves the others.
func TestECMP(t *testing.T) {
	r := newPlanRig(t, newFakeKernel("ether1", "ether2"))
	for _, c := range []string{
		"/ip/address add address=198.18.1.2/24 interface=ether1",
		"/ip/address add address=198.18.2.2/24 interface=ether2",
		"/ip/route add dst-address=198.18.51.0/24 gateway=198.18.1.1",
		"/ip/route add dst-address=198.18.51.0/24 gateway=198.18.2.1",
	} {
		controltest.Exec(t, r.ex, c)
	}
	wantWrites(t, "first pass", pass(t, r),
		"addr-add ether1 198.18.1.2/24", "addr-add ether2 198.18.2.2/24",
		"route-replace table main 198.18.51.0/24 metric 1 nexthop via 198.18.1.1 dev ether1 nexthop via 198.18.2.1 dev ether2")
	wantWrites(t, "second pass", pass(t, r))
	for _, gw := range []string{"198.18.1.1", "198.18.2.1"} {
		if act, inv, st, p := routeByGw(t, r, Route4Path, gw); !act || inv || p["ecmp"] != "yes" {
			t.Errorf("path via %s: active %v invalid %v %q %v", gw, act, inv, st, p)
		}
	}
	controltest.Exec(t, r.ex, "/ip/route remove "+routeID(t, r, "gateway", "198.18.2.1"))
	wantWrites(t, "pass after one path went", pass(t, r),
		"route-replace table main 198.18.51.0/24 metric 1 via 198.18.1.1 dev ether1")
	if _, _, _, p := routeByGw(t, r, Route4Path, "198.18.1.1"); p["ecmp"] != "" {
		t.Errorf("the path left is still ecmp: %v", p)
	}
}
