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
// The same for the router's unbound IPv6 under a ::/0 full tunnel from its IPv6 LAN, and
// for a socket with a routing mark (ping -m), which the tunnel takes while routerd runs
// (before esp ownRules, 222-224, both left from the WAN address while routerd was down);
// and a none policy before the full tunnel (198.19.105.0/24 from the LAN) passes the
// router's own pings both while routerd runs and while it is down (before, table 222
// held them while down). Under the ::/0 full tunnel, the WAN address's own IPv6 to a host
// beyond the WAN gateway (ping -I) passes while routerd is down (the hold route, ike/esp
// hold6.go; before, all of the router's own IPv6 was held while down), while a LAN host's
// forwarded IPv6 to the remote network never leaves in the clear.
func TestOwnTrafficFullTunnelNoCleartext(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	nsA, nsB, nsC := iketest.NS(t, "oba"), iketest.NS(t, "obb"), iketest.NS(t, "obc")
	iketest.Veth(t, nsA, "ether1", "", nsB, "wan", "198.18.94.2/24")
	iketest.Veth(t, nsA, "ether2", "", nsC, "lan", "")
	iketest.Sh(t, "ip", "-n", nsC, "-6", "addr", "add", "2001:db8:202::5/64", "dev", "lan", "nodad")
	iketest.Sh(t, "ip", "-n", nsC, "-6", "route", "add", "default", "via", "2001:db8:202::1")
	iketest.Sh(t, "ip", "-n", nsB, "-6", "addr", "add", "2001:db8:103::1/64", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.101.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.103.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.104.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.105.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.94.1")
	iketest.Sh(t, "ip", "-n", nsB, "-6", "addr", "add", "2001:db8:94::2/64", "dev", "wan", "nodad")
	iketest.Sh(t, "ip", "-n", nsB, "-6", "addr", "add", "2001:db8:101::1/64", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "-6", "route", "add", "2001:db8:202::/64", "via", "2001:db8:94::1")
	a := startBin(t, nsA, filepath.Join(t.TempDir(), "data"))
	// The addresses before the policy, so that the first phase checks the hold and not how
	// soon the data path follows a LAN address applied after the IPsec engine's pass (it
	// did not at all before ike/esp addrWatch: 57 of 57 answered while running, once,
	// with one script; TestFullTunnelFollowsAddresses).
	a.Script(`/interface bridge add name=lan protocol-mode=none
/interface bridge port add bridge=lan interface=ether2
/ip address add address=198.18.94.1/24 interface=ether1
/ip address add address=198.19.202.1/24 interface=lan
/ip route add gateway=198.18.94.2
/ipv6 address add address=2001:db8:94::1/64 interface=ether1 advertise=no no-dad=yes
/ipv6 address add address=2001:db8:202::1/64 interface=lan advertise=no no-dad=yes
/ipv6 route add dst-address=::/0 gateway=2001:db8:94::2
`)
	a.Settle()
	if !iketest.WaitFor(30*time.Second, func() bool {
		out, _ := iketest.In(nsA, "ip", "addr", "show", "dev", "lan").CombinedOutput()
		return strings.Contains(string(out), "198.19.202.1/24") && strings.Contains(string(out), "2001:db8:202::1/64")
	}) {
		t.Fatal("the LAN addresses are not applied")
	}
	a.Script(`/ip ipsec peer add name=p address=198.18.94.2/32 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.105.0/24 action=none
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=0.0.0.0/0 tunnel=yes peer=p level=require
/ip ipsec policy add src-address=2001:db8:202::/64 dst-address=::/0 tunnel=yes peer=p level=require
`)
	a.Settle()
	pingIn := func(ns string, args ...string) bool {
		return iketest.In(ns, append([]string{"ping", "-c", "1", "-W", "1"}, args...)...).Run() == nil
	}
	ping := func(args ...string) bool { return pingIn(nsA, args...) }
	state := func() string {
		rules, _ := iketest.In(nsA, "ip", "rule").CombinedOutput()
		rules6, _ := iketest.In(nsA, "ip", "-6", "rule").CombinedOutput()
		routes, _ := iketest.In(nsA, "ip", "route", "show", "table", "all").CombinedOutput()
		routes6, _ := iketest.In(nsA, "ip", "-6", "route", "show", "table", "all").CombinedOutput()
		return string(rules) + string(rules6) + "\n" + string(routes) + string(routes6)
	}
	free := func(when string) {
		t.Helper()
		if !iketest.WaitFor(30*time.Second, func() bool { return ping("-I", "198.18.94.1", "198.19.103.1") }) {
			t.Fatalf("%s: the WAN address's own ping, which no policy selects, does not pass:\n%s", when, state())
		}
		if !ping("198.18.94.2") || !iketest.WaitFor(5*time.Second, func() bool { return ping("-6", "2001:db8:94::2") }) {
			t.Fatalf("%s: the router's unbound ping to its connected gateway does not pass:\n%s", when, state())
		}
		if !iketest.WaitFor(5*time.Second, func() bool { return ping("-6", "-I", "2001:db8:94::1", "2001:db8:103::1") }) {
			t.Fatalf("%s: the WAN address's own IPv6 ping beyond the gateway does not pass:\n%s", when, state())
		}
	}
	free("routerd running")
	w, w6 := captureWire(t, nsB, "wan"), captureWireFilter(t, nsB, "wan", "ip6")
	// The held probes: unbound IPv4, routing mark 1 (0x00100000), unbound IPv6, the LAN
	// host's forwarded IPv6 (in nsC); and those that must pass: the none policy's
	// destination and the WAN address's own IPv6 beyond the gateway.
	held := [][]string{{"198.19.101.1"}, {"-m", "1048576", "198.19.104.1"}, {"-6", "2001:db8:101::1"}, {nsC, "-6", "2001:db8:101::1"}}
	passed := [][]string{{"198.19.105.1"}, {"-6", "-I", "2001:db8:94::1", "2001:db8:103::1"}}
	pingArgs := func(args []string) bool {
		if args[0] == nsC {
			return pingIn(nsC, args[1:]...)
		}
		return ping(args...)
	}
	type probes struct{ stop [6]func() (int64, int64) }
	probe := func() (p probes) {
		for i, args := range append(append([][]string{}, held...), passed...) {
			p.stop[i] = testbin.Repeat(20*time.Millisecond, func() bool { return pingArgs(args) })
		}
		return p
	}
	var tries, answered [6]int64
	var phases []string
	var noneShort []string
	count := func(phase string, p probes) {
		var ph []string
		for i, stop := range p.stop {
			n, h := stop()
			tries[i], answered[i] = tries[i]+n, answered[i]+h
			ph = append(ph, fmt.Sprintf("%d/%d", h, n))
			// The none policy's destination and the WAN address's IPv6 pass while
			// routerd runs and while it is down (not checked while it starts: the
			// addresses come and go then).
			if i >= len(held) && !strings.HasPrefix(phase, "start") && !strings.HasPrefix(phase, "cold") && h*10 < n*9 {
				noneShort = append(noneShort, fmt.Sprintf("%s %s %d/%d", phase, passed[i-len(held)], h, n))
			}
		}
		phases = append(phases, phase+" "+strings.Join(ph, " "))
	}
	// Running, no SA: held by the steering route.
	p := probe()
	time.Sleep(2 * time.Second)
	count("running", p)
	if out, err := iketest.In(nsA, "ip", "link", "show", "ipsec0h").CombinedOutput(); err != nil {
		t.Errorf("no hold device while routerd runs: %v %s", err, out)
	}
	if out := a.Must("/interface print"); strings.Contains(out, "ipsec0h") {
		t.Errorf("/interface print lists the hold device:\n%s", out)
	}
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
		for _, pref := range []string{"217", "218", "219", "220", "221", "222", "223", "224", "225"} {
			for iketest.In(nsA, "ip", fam, "rule", "del", "pref", pref).Run() == nil {
			}
		}
		for _, table := range []string{"220", "221", "222"} {
			iketest.In(nsA, "ip", fam, "route", "flush", "table", table).Run()
		}
	}
	iketest.Sh(t, "ip", "-n", nsA, "link", "del", "lan")
	iketest.In(nsA, "ip", "link", "del", "ipsec0h").Run()
	iketest.Sh(t, "ip", "-n", nsA, "addr", "flush", "dev", "ether1")
	iketest.Sh(t, "ip", "-n", nsA, "-4", "route", "flush", "table", "main")
	iketest.Sh(t, "ip", "-n", nsA, "-6", "route", "flush", "table", "main")
	p = probe()
	if err := a.Start(); err != nil {
		count("cold start", p)
		t.Fatal(err)
	}
	a.Settle()
	free("after a cold start")
	time.Sleep(time.Second)
	count("cold start", p)
	filters := []string{"icmp.type == 8 && ip.dst == 198.19.101.1", "icmp.type == 8 && ip.dst == 198.19.104.1",
		"icmpv6.type == 128 && ipv6.dst == 2001:db8:101::1 && ipv6.src != 2001:db8:202::5",
		"icmpv6.type == 128 && ipv6.dst == 2001:db8:101::1 && ipv6.src == 2001:db8:202::5"}
	leaked := append(countWires(t, w, filters[:2]), countWires(t, w6, filters[2:])...)
	wires := []*wire{w, w, w6, w6}
	t.Logf("pings across a SIGTERM, a SIGKILL and a cold start (answered/sent per phase: IPv4, routing mark, IPv6, LAN host's IPv6, none policy, WAN address's IPv6): %s; echo requests on the WAN: IPv4 %d, routing mark %d, IPv6 %d, LAN host's IPv6 %d; none policy's answered %d/%d, WAN address's IPv6 %d/%d",
		strings.Join(phases, ", "), leaked[0], leaked[1], leaked[2], leaked[3], answered[4], tries[4], answered[5], tries[5])
	for i, name := range []string{"own unbound IPv4", "own routing-marked", "own unbound IPv6", "LAN host's forwarded IPv6"} {
		if leaked[i] != 0 || answered[i] != 0 {
			t.Errorf("the router's %s traffic under the full tunnel left in the clear: %d echo requests on the WAN, %d of %d answered:\n%s",
				name, leaked[i], answered[i], tries[i], wires[i].show(filters[i]))
		}
	}
	if len(noneShort) > 0 {
		t.Errorf("held, want passed (answered/sent): %s", strings.Join(noneShort, ", "))
	}
	if t.Failed() {
		t.Fatal(state())
	}
	// The hold is the policies': without them the same pings pass, and a stop leaves no rule.
	a.Script("/ip ipsec policy remove [find dst-address=0.0.0.0/0]\n/ip ipsec policy remove [find dst-address=::/0 template=no]\n")
	for _, args := range held {
		if !iketest.WaitFor(30*time.Second, func() bool { return pingArgs(args) }) {
			t.Fatalf("the policies are removed but the router's own ping %s stays held:\n%s", strings.Join(args, " "), state())
		}
	}
	a.Stop()
	for _, fam := range []string{"-4", "-6"} {
		out, _ := iketest.In(nsA, "ip", fam, "rule").CombinedOutput()
		for _, left := range []string{"lookup 22", "goto 224", "224:", "217:", "225:"} {
			if strings.Contains(string(out), left) {
				t.Errorf("rules left after a stop without require policies:\n%s", out)
				break
			}
		}
	}
	if out, _ := iketest.In(nsA, "ip", "link").CombinedOutput(); strings.Contains(string(out), "ipsec0h") {
		t.Errorf("the hold device is left after a stop without require policies:\n%s", out)
	}
}

// countWires is the number of captured packets that match each of the display filters
// (it ends the capture).
func countWires(t *testing.T, w *wire, filters []string) []int {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // let tshark write the last packets
	w.stop()
	var n []int
	for _, f := range filters {
		out, err := exec.Command("tshark", "-r", w.pcap, "-Y", f, "-T", "fields", "-e", "frame.number").Output()
		if err != nil {
			t.Fatalf("tshark -r: %v", err)
		}
		n = append(n, len(strings.Fields(string(out))))
	}
	return n
}
