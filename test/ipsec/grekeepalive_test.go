package ipsec_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/esp"
	"github.com/routerd/routerd/ike/iketest"
)

// TestGREIPsecSecretKeepaliveNoCleartext: a GRE tunnel with an ipsec-secret sends its
// keepalives through the ESP path or not at all, never in the clear, even while its
// policy's selector rule and route are missing (issue 12: keepalives went through the
// kernel's routing, which fell through to the main table then: one cleartext GRE
// keepalive was on the wire at the tunnel's creation, before the ipsec engine's pass
// installed the policy). The peer does not answer IKE, so nothing may leave as GRE at
// all; the rule and route are removed behind routerd's back, as a pass replacing them
// or one not run yet leaves them.
func TestGREIPsecSecretKeepaliveNoCleartext(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	nsA, nsB := iketest.NS(t, "gka"), iketest.NS(t, "gkb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "198.18.98.2/24")
	a := startDaemon(t, nsA)
	a.script("/ip address add address=198.18.98.1/24 interface=ether1\n")
	w := captureWire(t, nsA, "ether1")
	a.script(`/interface gre add name=gre-tunnel1 remote-address=198.18.98.2 ipsec-secret=s3cret keepalive=1s,10
/ip address add address=198.18.21.1/30 interface=gre-tunnel1
`)
	cfg := esp.DefaultConfig()
	table := fmt.Sprint(cfg.SelectorTable())
	routes := func() string {
		out, _ := iketest.In(nsA, "ip", "route", "show", "table", table).CombinedOutput()
		return string(out)
	}
	if !iketest.WaitFor(30*time.Second, func() bool { return strings.Contains(routes(), "198.18.98.2") }) {
		t.Fatalf("the tunnel's policy route never came:\n%s", routes())
	}
	// Keepalives go every second: several fall in each phase.
	time.Sleep(2500 * time.Millisecond)
	if out, err := iketest.In(nsA, "ip", "route", "flush", "table", table).CombinedOutput(); err != nil {
		t.Fatalf("ip route flush: %v %s", err, out)
	}
	time.Sleep(2500 * time.Millisecond)
	if out, err := iketest.In(nsA, "ip", "rule", "del", "pref", fmt.Sprint(cfg.RulePriority-1)).CombinedOutput(); err != nil {
		t.Fatalf("ip rule del: %v %s", err, out)
	}
	time.Sleep(2500 * time.Millisecond)
	protos := w.protos()
	t.Logf("packets on the wire by protocol: %v", protos)
	if protos["47"] != 0 {
		t.Fatalf("%d GRE packets in the clear:\n%s", protos["47"], w.show("gre"))
	}
	if st := a.script("/interface gre print stats detail\n"); !strings.Contains(st, "gre-tunnel1") {
		t.Fatalf("no tunnel:\n%s", st)
	}
}

var metricsLine = regexp.MustCompile(`routerd started.* metrics=(\S+)`)

// keepaliveRx is routerd_tunnel_keepalive_rx_total of a tunnel (-1: not scraped).
func keepaliveRx(d *daemon, name string) int {
	m := metricsLine.FindStringSubmatch(d.Log.String())
	if m == nil {
		return -1
	}
	b, err := iketest.In(d.ns, "curl", "-sf", "--max-time", "10", "http://"+m[1]+"/metrics").Output()
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "routerd_tunnel_keepalive_rx_total{") && strings.Contains(l, `name="`+name+`"`) {
			n, _ := strconv.Atoi(l[strings.LastIndexByte(l, ' ')+1:])
			return n
		}
	}
	return -1
}

// TestIPsecSecretKeepalivesThroughESP: the keepalives of ipsec-secret tunnels of every
// kind that answers them (GRE, IPIP, 6to4) go through their encapsulator into the ESP
// path and are answered across the SA, and the wire carries no tunnel packet in the
// clear (issue 12: they went through the kernel's routing instead, see above).
func TestIPsecSecretKeepalivesThroughESP(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark", "curl")
	nsA, nsB := iketest.NS(t, "kea"), iketest.NS(t, "keb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "")
	a, b := startDaemon(t, nsA), startDaemon(t, nsB)
	w := captureWire(t, nsA, "ether1")
	for i, d := range []*daemon{a, b} {
		me, other := 1+i, 2-i
		d.script(fmt.Sprintf(`/ip address add address=198.18.99.%[1]d/24 interface=ether1
/interface gre add name=gre1 local-address=198.18.99.%[1]d remote-address=198.18.99.%[2]d ipsec-secret=ka-psk keepalive=1s,3
/interface ipip add name=ipip1 local-address=198.18.99.%[1]d remote-address=198.18.99.%[2]d ipsec-secret=ka-psk keepalive=1s,3
/interface 6to4 add name=s6 local-address=198.18.99.%[1]d remote-address=198.18.99.%[2]d ipsec-secret=ka-psk keepalive=1s,3
/ip address add address=198.18.22.%[1]d/30 interface=gre1
/ip address add address=198.18.23.%[1]d/30 interface=ipip1
`, me, other))
	}
	for _, d := range []*daemon{a, b} {
		for _, name := range []string{"gre1", "ipip1", "s6"} {
			if !iketest.WaitFor(60*time.Second, func() bool { return keepaliveRx(d, name) >= 2 }) {
				t.Errorf("%s: %s keepalives not answered (keepalive rx %d):\n%s", d.ns, name, keepaliveRx(d, name),
					d.script("/ip ipsec policy print detail\n/interface print stats detail\n"))
			}
		}
	}
	protos := w.protos()
	t.Logf("packets on the wire by protocol: %v", protos)
	for _, p := range []string{"4", "41", "47"} {
		if protos[p] != 0 {
			t.Errorf("protocol %s in the clear:\n%s", p, w.show("not esp and not udp"))
		}
	}
}
