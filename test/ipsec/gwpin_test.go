package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestGatewayOnLinkUnderFullTunnel (issue 12): beside a full tunnel (a require policy to
// 0.0.0.0/0, whose steering route `default dev ipsec0` in table 220 every lookup meets
// at rule 220 before main), a route via a gateway on a connected network leaves by that
// network's link, and print says so. The kernel looks an unnamed IPv4 gateway up through
// the rules: table 220 answered with ipsec0 wherever it had no throw route for the
// network, which was always so for a point-to-point address's peer and for a network
// added after the IPsec engine's last policies, and is still so for the moment (up to
// 200 ms) between an address's arrival and the data path's throw for it (ike/esp
// addrwatch.go). The route was installed `via <gw> dev ipsec0`, and nothing replaced it. routerd now names the link of the network it resolved the gateway
// on, as RouterOS installs it ("reachable via ether2").
func TestGatewayOnLinkUnderFullTunnel(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	nsA, nsB, nsC := iketest.NS(t, "gwpa"), iketest.NS(t, "gwpb"), iketest.NS(t, "gwpc")
	iketest.Veth(t, nsA, "ether1", "", nsB, "wan", "198.18.94.2/24")
	iketest.Veth(t, nsA, "ether2", "", nsC, "uplink", "")
	// The point-to-point uplink's far end, with a network behind it.
	iketest.Sh(t, "ip", "-n", nsC, "addr", "add", "198.18.96.2", "peer", "198.18.96.1", "dev", "uplink")
	iketest.Sh(t, "ip", "-n", nsC, "addr", "add", "198.19.77.1/24", "dev", "lo")
	a := startBin(t, nsA, "")
	a.Script(`/interface bridge add name=lan protocol-mode=none
/ip address add address=198.18.94.1/24 interface=ether1
/ip address add address=198.19.202.1/24 interface=lan
/ip ipsec peer add name=p address=198.18.94.2/32 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=0.0.0.0/0 tunnel=yes peer=p level=require
`)
	a.Settle()
	table220 := func() string { return iketest.Sh(t, "ip", "-n", nsA, "route", "show", "table", "220") }
	if !iketest.WaitFor(20*time.Second, func() bool { return strings.Contains(table220(), "default dev ipsec0") }) {
		t.Fatalf("no full-tunnel steering route in table 220:\n%s", table220())
	}
	a.Script(`/ip address add address=198.18.96.1 network=198.18.96.2 interface=ether2
/ip route add dst-address=198.19.77.0/24 gateway=198.18.96.2
/ip address add address=198.18.97.1/24 interface=ether2
/ip route add dst-address=198.19.78.0/24 gateway=198.18.97.2
`)
	a.Settle()
	for _, tc := range []struct{ dst, gw string }{
		{"198.19.77.0/24", "198.18.96.2"}, // the peer of a point-to-point address
		{"198.19.78.0/24", "198.18.97.2"}, // a network added just before the route
	} {
		want := "via " + tc.gw + " dev ether2"
		var got string
		if !iketest.WaitFor(10*time.Second, func() bool {
			got = iketest.Sh(t, "ip", "-n", nsA, "route", "show", tc.dst)
			return strings.Contains(got, want)
		}) {
			t.Errorf("route to %s: %q, want %q\ntable 220:\n%s", tc.dst, strings.TrimSpace(got), want, table220())
			continue
		}
		out := a.Must("/ip route print detail where dst-address=" + tc.dst)
		for _, w := range []string{`gateway-status="` + tc.gw + ` reachable via ether2"`, `immediate-gw="` + tc.gw + `%ether2"`, " As "} {
			if !strings.Contains(out, w) {
				t.Errorf("print of %s lacks %s:\n%s", tc.dst, w, out)
			}
		}
	}
	// The data path throws the networks added after its policies (ike/esp addrwatch.go).
	for _, w := range []string{"throw 198.18.96.2 ", "throw 198.18.97.0/24 "} {
		if !iketest.WaitFor(5*time.Second, func() bool { return strings.Contains(table220(), w) }) {
			t.Errorf("table 220 lacks %s:\n%s", w, table220())
		}
	}
	// The router reaches the network behind the point-to-point peer (in the clear: no
	// policy selects its source).
	if out, err := iketest.In(nsA, "ping", "-c", "1", "-W", "2", "-I", "198.18.96.1", "198.19.77.1").CombinedOutput(); err != nil {
		t.Errorf("ping 198.19.77.1 over the point-to-point uplink: %v\n%s\n%s", err, out,
			iketest.Sh(t, "ip", "-n", nsA, "route", "get", "198.19.77.1", "from", "198.18.96.1"))
	}
}
