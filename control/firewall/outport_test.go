package firewall

import (
	"fmt"
	"os"
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
	// As on RouterOS, bridged traffic reaches the IP firewall with use-ip-firewall=yes.
	r.run(t, `/interface bridge settings set use-ip-firewall=yes`)
	h1, h2 := bridgeHosts(t, tp, "fwo")
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
	r.e.opts.IfLists = func(name string) ([]string, error) {
		if name == "ports" {
			return []string{"p1", "p2"}, nil
		}
		return nil, nil
	}
	r.e.passMu.Unlock()
	r.run(t, `/interface list add name=ports`)
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

// bridgeHosts puts two hosts (198.18.60.2 and .3, namespaces prefix1 and prefix2) on a
// bridge br0 of the router (ports p1 and p2, 198.18.60.1), routed to the server, and
// waits until the bridge carries pings.
func bridgeHosts(t *testing.T, tp *topo, prefix string) (h1, h2 string) {
	t.Helper()
	id := strings.TrimPrefix(tp.r, "fwr")
	h1, h2 = prefix+"1"+id, prefix+"2"+id
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
	return h1, h2
}

// brnf reads a br_netfilter knob of the router's namespace.
func brnf(t *testing.T, tp *topo, knob string) string {
	t.Helper()
	return strings.TrimSpace(sh(t, "ip", "netns", "exec", tp.r, "sysctl", "-n", "net.bridge."+knob))
}

// TestUseIPFirewall: /interface bridge settings use-ip-firewall, as RouterOS: with the
// default (no) bridged traffic passes no IP firewall chain, so a forward rule dropping
// pings drops routed pings only; with yes it drops the bridged ones too (and the
// postrouting/srcnat chain sees them); back to no, they pass again. The VLAN and PPPoE
// companions follow use-ip-firewall.
func TestUseIPFirewall(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	if _, err := os.Stat(brnfDir); err != nil {
		t.Skip("the kernel has no br_netfilter")
	}
	h1, _ := bridgeHosts(t, tp, "fwu")
	r.run(t, `/ip firewall filter add chain=forward protocol=icmp icmp-options=8:0 action=drop comment=drop`)
	if out := r.run(t, `/interface bridge settings print`); !strings.Contains(out, "use-ip-firewall: no") {
		t.Errorf("settings:\n%s", out)
	}
	if v := brnf(t, tp, "bridge-nf-call-iptables"); v != "0" {
		t.Fatalf("use-ip-firewall=no: bridge-nf-call-iptables=%s", v)
	}
	if !tp.ping(h1, "198.18.60.3") {
		t.Fatalf("use-ip-firewall=no: a bridged ping was dropped by a forward rule\n%s", ruleset(t, tp))
	}
	if tp.ping(h1, "198.19.2.2") {
		t.Fatal("a routed ping passed the forward rule")
	}
	routed := r.counter(t, "/ip firewall filter", "drop")
	r.run(t, `/interface bridge settings set use-ip-firewall=yes use-ip-firewall-for-vlan=yes`)
	if tp.ping(h1, "198.18.60.3") {
		t.Fatalf("use-ip-firewall=yes: a bridged ping passed the forward rule\n%s", ruleset(t, tp))
	}
	if n := r.counter(t, "/ip firewall filter", "drop"); n <= routed {
		t.Errorf("use-ip-firewall=yes: the rule counted %d, %d before the bridged ping", n, routed)
	}
	for knob, want := range map[string]string{"bridge-nf-call-iptables": "1", "bridge-nf-call-ip6tables": "1",
		"bridge-nf-filter-vlan-tagged": "1", "bridge-nf-filter-pppoe-tagged": "0"} {
		if v := brnf(t, tp, knob); v != want {
			t.Errorf("use-ip-firewall=yes use-ip-firewall-for-vlan=yes: %s=%s, want %s", knob, v, want)
		}
	}
	r.run(t, `/interface bridge settings set use-ip-firewall=no`)
	if !tp.ping(h1, "198.18.60.3") {
		t.Fatalf("use-ip-firewall=no again: the bridged ping was dropped\n%s", ruleset(t, tp))
	}
	if v := brnf(t, tp, "bridge-nf-filter-vlan-tagged"); v != "0" {
		t.Errorf("use-ip-firewall=no: bridge-nf-filter-vlan-tagged=%s (it follows use-ip-firewall)", v)
	}
	if exp := r.run(t, `/interface bridge settings export`); !strings.Contains(exp, "use-ip-firewall-for-vlan=yes") {
		t.Errorf("export:\n%s", exp)
	}
}
