package ipsec_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
	"github.com/routerd/routerd/test/testbin"
)

// TestOwnTrafficFullTunnelNoCleartext: a full tunnel (dst-address=0.0.0.0/0, level
// require) whose src-address holds the router's LAN address takes the router's own
// traffic from unbound sockets too: the steering route's source is the LAN address. That
// traffic must not leave in the clear from the WAN address while routerd is stopped
// (SIGTERM or SIGKILL), while it starts again, nor at a cold start (nothing of routerd's
// in the kernel), and it passes once the policy is removed. The peer is passive and never
// answers, so there is never an SA: an echo request to the protected destination on the
// WAN side is cleartext. The router pings without binding (as a resolver, an NTP client
// or apt would send) every 20 ms across all of it; the WAN side captures. Before the
// unbound rule (esp ownRule) these pings left from the WAN address whenever the steering
// route was missing (issue 12). What no policy protects stays reachable: the WAN
// address's own ping (bound) and the connected network's gateway (unbound: a throw).
func TestOwnTrafficFullTunnelNoCleartext(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	nsA, nsB := iketest.NS(t, "oba"), iketest.NS(t, "obb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "wan", "198.18.94.2/24")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.101.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.103.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.94.1")
	a := startBin(t, nsA, filepath.Join(t.TempDir(), "data"))
	// The addresses before the policy, so that the first phase checks the hold and not how
	// soon the data path follows a LAN address applied after the IPsec engine's pass (it
	// did not at all before ike/esp addrWatch: 57 of 57 answered while running, once,
	// with one script; TestFullTunnelFollowsAddresses).
	a.Script(`/interface bridge add name=lan protocol-mode=none
/ip address add address=198.18.94.1/24 interface=ether1
/ip address add address=198.19.202.1/24 interface=lan
/ip route add gateway=198.18.94.2
`)
	a.Settle()
	if !iketest.WaitFor(30*time.Second, func() bool {
		out, _ := iketest.In(nsA, "ip", "-4", "addr", "show", "dev", "lan").CombinedOutput()
		return strings.Contains(string(out), "198.19.202.1/24")
	}) {
		t.Fatal("the LAN address is not applied")
	}
	a.Script(`/ip ipsec peer add name=p address=198.18.94.2/32 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=0.0.0.0/0 tunnel=yes peer=p level=require
`)
	a.Settle()
	ping := func(args ...string) bool {
		return iketest.In(nsA, append([]string{"ping", "-c", "1", "-W", "1"}, args...)...).Run() == nil
	}
	state := func() string {
		rules, _ := iketest.In(nsA, "ip", "rule").CombinedOutput()
		routes, _ := iketest.In(nsA, "ip", "route", "show", "table", "all").CombinedOutput()
		return string(rules) + "\n" + string(routes)
	}
	free := func(when string) {
		t.Helper()
		if !iketest.WaitFor(30*time.Second, func() bool { return ping("-I", "198.18.94.1", "198.19.103.1") }) {
			t.Fatalf("%s: the WAN address's own ping, which no policy selects, does not pass:\n%s", when, state())
		}
		if !ping("198.18.94.2") {
			t.Fatalf("%s: the router's unbound ping to its connected gateway does not pass:\n%s", when, state())
		}
	}
	free("routerd running")
	w := captureWire(t, nsB, "wan")
	probe := func() (stop func() (tries, hits int64)) {
		return testbin.Repeat(20*time.Millisecond, func() bool { return ping("198.19.101.1") })
	}
	var tries, answered int64
	var phases []string
	count := func(phase string, stop func() (int64, int64)) {
		n, h := stop()
		tries, answered = tries+n, answered+h
		phases = append(phases, fmt.Sprintf("%s %d/%d", phase, h, n))
	}
	// Running, no SA: held by the steering route.
	p := probe()
	time.Sleep(2 * time.Second)
	count("running", p)
	for _, how := range []string{"SIGTERM", "SIGKILL"} {
		if how == "SIGTERM" {
			a.Stop()
		} else {
			a.Kill()
		}
		p = probe()
		free("routerd down after " + how)
		time.Sleep(2 * time.Second)
		count("down after "+how, p)
		p = probe()
		if err := a.Start(); err != nil {
			count("start", p)
			t.Fatal(err)
		}
		a.Settle()
		count("start after "+how, p)
	}
	// A cold start: what a reboot leaves of routerd is nothing.
	a.Stop()
	for _, fam := range []string{"-4", "-6"} {
		for _, pref := range []string{"218", "219", "220", "221", "222"} {
			for iketest.In(nsA, "ip", fam, "rule", "del", "pref", pref).Run() == nil {
			}
		}
		for _, table := range []string{"220", "221", "222"} {
			iketest.In(nsA, "ip", fam, "route", "flush", "table", table).Run()
		}
	}
	iketest.Sh(t, "ip", "-n", nsA, "link", "del", "lan")
	iketest.Sh(t, "ip", "-n", nsA, "addr", "flush", "dev", "ether1")
	iketest.Sh(t, "ip", "-n", nsA, "-4", "route", "flush", "table", "main")
	p = probe()
	if err := a.Start(); err != nil {
		count("cold start", p)
		t.Fatal(err)
	}
	a.Settle()
	free("after a cold start")
	time.Sleep(time.Second)
	count("cold start", p)
	leaked := countWire(t, w, "icmp.type == 8 && ip.dst == 198.19.101.1")
	t.Logf("%d unbound pings from the router across a SIGTERM, a SIGKILL and a cold start: %d answered (%s), %d echo requests on the WAN",
		tries, answered, strings.Join(phases, ", "), leaked)
	if leaked != 0 || answered != 0 {
		t.Fatalf("the router's own traffic under the full tunnel left in the clear: %d echo requests on the WAN, %d answered:\n%s\n%s",
			leaked, answered, w.show("icmp.type == 8 && ip.dst == 198.19.101.1"), state())
	}
	// The hold is the policy's: without it the same ping passes, and a stop leaves no rule.
	a.Script("/ip ipsec policy remove [find dst-address=0.0.0.0/0]\n")
	if !iketest.WaitFor(30*time.Second, func() bool { return ping("198.19.101.1") }) {
		t.Fatalf("the policy is removed but the router's own ping stays held:\n%s", state())
	}
	a.Stop()
	if out, _ := iketest.In(nsA, "ip", "rule").CombinedOutput(); strings.Contains(string(out), "lookup 22") {
		t.Errorf("rules left after a stop without require policies:\n%s", out)
	}
}

// countWire is the number of captured packets that match a display filter (it ends the
// capture).
func countWire(t *testing.T, w *wire, filter string) int {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // let tshark write the last packets
	w.stop()
	out, err := exec.Command("tshark", "-r", w.pcap, "-Y", filter, "-T", "fields", "-e", "frame.number").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	return len(strings.Fields(string(out)))
}
