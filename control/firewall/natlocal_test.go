package firewall

import (
	"strings"
	"testing"
)

// TestNATInputOutput: RouterOS 7's NAT chains input and output run for packets to and
// from the router itself: dst-nat in output sends the router's own packets elsewhere,
// src-nat in input changes the source the router's sockets see. Before, both were
// custom chains nothing jumped to: accepted and never matched (qa15); and dstnat no
// longer runs for the router's own packets. Actions the kernel cannot do there are
// refused with RouterOS's words.
func TestNATInputOutput(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall nat add chain=output action=dst-nat protocol=udp dst-address=198.19.2.99 dst-port=6100 to-addresses=198.19.2.2 to-ports=6101 comment=out
/ip firewall nat add chain=input action=src-nat protocol=udp dst-port=6200 to-addresses=198.18.1.77 comment=in`)
	if got := tp.udpTo(t, tp.r, tp.s, "198.19.2.99", 6100, 6101); !strings.HasPrefix(got, "198.19.2.1:") {
		t.Fatalf("nat output dst-nat: the server saw %q\n%s", got, ruleset(t, tp))
	}
	if got := tp.udpTo(t, tp.c, tp.r, "198.18.1.1", 6200, 6200); !strings.HasPrefix(got, "198.18.1.77:") {
		t.Fatalf("nat input src-nat: the router's socket saw %q\n%s", got, ruleset(t, tp))
	}
	// dstnat is not for the router's own packets: RouterOS 7's "force DNS" redirect
	// without in-interface broke routerd's own queries to its DNS servers (qa15).
	r.run(t, `/ip firewall nat add chain=dstnat action=dst-nat protocol=udp dst-address=198.19.2.99 dst-port=6300 to-addresses=198.19.2.2 to-ports=6301 comment=fwd`)
	if got := tp.udpTo(t, tp.r, tp.s, "198.19.2.99", 6300, 6301); got != "" {
		t.Errorf("a dstnat rule translated the router's own packet (server saw %q)\n%s", got, ruleset(t, tp))
	}
	for _, c := range []string{"out", "in"} {
		if n := r.counter(t, "/ip firewall nat", c); n < 1 {
			t.Errorf("rule %s counted %d packets", c, n)
		}
	}
	before := ruleset(t, tp)
	for src, want := range map[string]string{
		`/ip firewall nat add chain=input action=masquerade`:                       "action masquerade is possible only in srcnat chain",
		`/ip firewall nat add chain=input action=dst-nat to-addresses=198.19.2.2`:  "action dst-nat is possible only in dstnat and output chains",
		`/ip firewall nat add chain=output action=src-nat to-addresses=198.19.2.1`: "action src-nat is possible only in srcnat and input chains",
		`/ip firewall nat add chain=output action=masquerade`:                      "action masquerade is possible only in srcnat chain",
	} {
		if _, err := r.try(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err %v, want %q", src, err, want)
		}
	}
	if got := ruleset(t, tp); got != before {
		t.Errorf("the kernel's ruleset changed:\n%s\nwas\n%s", got, before)
	}
}
