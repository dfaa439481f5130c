package firewall

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOutBridgePort: bridged traffic between two hosts on one bridge of the router is
// matched by the port the bridge sends it out through, in forward and in postrouting
// (srcnat), with negation and lists, counted once; routed traffic, which leaves through
// no bridge port, is matched by the negation only; chains before the bridge's choice
// refuse the matcher.
func TestOutBridgePort(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	id := strings.TrimPrefix(tp.r, "fwr")
	h1, h2 := "fwo1"+id, "fwo2"+id
	for _, n := range []string{h1, h2} {
		sh(t, "ip", "netns", "add", n)
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	sh(t, "ip", "-n", tp.r, "link", "add", "br0", "type", "bridge")
	for i, h := range []string{h1, h2} {
		port := fmt.Sprintf("p%d", i+1)
		sh(t, "ip", "link", "add", "h0", "netns", h, "type", "veth", "peer", "name", port, "netns", tp.r)
		sh(t, "ip", "-n", tp.r, "link", "set", port, "master", "br0", "up")
		sh(t, "ip", "-n", h, "addr", "add", fmt.Sprintf("198.18.60.%d/24", i+2), "dev", "h0")
		sh(t, "ip", "-n", h, "link", "set", "h0", "up")
		sh(t, "ip", "-n", h, "route", "add", "default", "via", "198.18.60.1")
	}
	sh(t, "ip", "-n", tp.r, "addr", "add", "198.18.60.1/24", "dev", "br0")
	sh(t, "ip", "-n", tp.r, "link", "set", "br0", "up")
	sh(t, "ip", "-n", tp.s, "route", "add", "198.18.60.0/24", "via", "198.19.2.1")
	// The kernel default this relies on (RouterOS's use-ip-firewall=yes).
	if v := strings.TrimSpace(sh(t, "ip", "netns", "exec", tp.r, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")); v != "1" {
		t.Skipf("bridged packets do not reach the ip firewall here (bridge-nf-call-iptables=%s)", v)
	}
	up := func(from, to string) bool {
		for i := 0; i < 20; i++ {
			if tp.ping(from, to) {
				return true
			}
			time.Sleep(200 * time.Millisecond)
		}
		return false
	}
	if !up(h1, "198.18.60.3") || !up(h2, "198.18.60.2") || !up(h1, "198.19.2.2") {
		t.Fatal("the bridge does not carry pings before any rule")
	}
	// Echo requests leaving through p2 are dropped: h1 cannot ping h2; h2 can ping h1
	// (its requests leave through p1, the replies are echo replies).
	r.run(t, `/ip firewall filter add chain=forward out-bridge-port=p2 protocol=icmp icmp-options=8:0 action=drop comment=out-p2`)
	if tp.ping(h1, "198.18.60.3") {
		t.Fatalf("a request bridged out through p2 passed\n%s", ruleset(t, tp))
	}
	if !tp.ping(h2, "198.18.60.2") {
		t.Fatalf("a request bridged out through p1 was dropped\n%s", ruleset(t, tp))
	}
	if n := r.counter(t, "/ip firewall filter", "out-p2"); n == 0 {
		t.Error("the out-bridge-port rule counted nothing")
	}
	// Routed traffic from the server to h2 leaves the bridge through p2 as well, but is
	// not bridged: the ip hooks run before the bridge chooses, so it has no port.
	if !tp.ping(tp.s, "198.18.60.3") {
		t.Fatalf("routed traffic was matched by out-bridge-port\n%s", ruleset(t, tp))
	}
	// !p2: bridged out through p1 is dropped, through p2 passes; routed traffic has
	// no port and is dropped too.
	r.run(t, `/ip firewall filter set [find comment=out-p2] out-bridge-port=!p2`)
	if !tp.ping(h1, "198.18.60.3") || tp.ping(h2, "198.18.60.2") {
		t.Fatalf("out-bridge-port=!p2: h1->h2 should pass and h2->h1 not\n%s", ruleset(t, tp))
	}
	if tp.ping(tp.s, "198.18.60.3") {
		t.Fatalf("out-bridge-port=!p2: routed traffic passed\n%s", ruleset(t, tp))
	}
	// A list: both ports.
	r.e.passMu.Lock()
	r.e.opts.IfLists = func(name string) []string {
		if name == "ports" {
			return []string{"p1", "p2"}
		}
		return nil
	}
	r.e.passMu.Unlock()
	r.run(t, `/ip firewall filter set [find comment=out-p2] !out-bridge-port out-bridge-port-list=ports`)
	if tp.ping(h1, "198.18.60.3") || tp.ping(h2, "198.18.60.2") {
		t.Fatalf("out-bridge-port-list=ports: a bridged request passed\n%s", ruleset(t, tp))
	}
	if !tp.ping(h1, "198.19.2.2") {
		t.Fatalf("out-bridge-port-list=ports: routed traffic was dropped\n%s", ruleset(t, tp))
	}
	// srcnat (postrouting) sees the port too: a passthrough rule there counts the
	// bridged requests out through p2 (the first packet of each connection).
	r.run(t, `/ip firewall filter remove [find]
/ip firewall nat add chain=srcnat out-bridge-port=p2 protocol=icmp action=passthrough comment=nat-p2`)
	before := r.counter(t, "/ip firewall nat", "nat-p2")
	if !tp.ping(h1, "198.18.60.3") {
		t.Fatal("no rule drops, yet the ping failed")
	}
	if n := r.counter(t, "/ip firewall nat", "nat-p2"); n <= before {
		t.Errorf("srcnat out-bridge-port=p2 counted %d, %d before the ping", n, before)
	}
	for _, c := range []string{"filter chain=input", "filter chain=output", "mangle chain=prerouting", "raw chain=output", "nat chain=dstnat"} {
		table, chain, _ := strings.Cut(c, " ")
		if _, err := r.try(`/ip firewall ` + table + ` add ` + chain + ` out-bridge-port=p1 action=passthrough`); err == nil ||
			!strings.Contains(err.Error(), "outgoing bridge port matching not possible") {
			t.Errorf("out-bridge-port in %s: %v", c, err)
		}
	}
	onlyRouterdTables(t, tp)
}
