package firewall

import (
	"strings"
	"testing"
)

// TestChangeDSCPTraffic: packets change-dscp rewrote reach the server with the new DSCP
// and a valid IPv4 header checksum (qa15: the rule wrote one byte at the header's odd
// offset 1 and the kernel's checksum update got it wrong, so the server dropped every
// such packet, IpExtInCsumErrors rising; fails without the 16-bit write).
func TestChangeDSCPTraffic(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	// The server counts what arrives with DSCP 10 (its own table: routerd has none there).
	sh(t, "ip", "netns", "exec", tp.s, "nft", "add table ip seen; add chain ip seen in { type filter hook input priority 0; }; add rule ip seen in ip dscp 10 counter")
	r.run(t, `/ip firewall mangle add chain=forward protocol=udp dst-port=5300 action=change-dscp new-dscp=10 passthrough=yes`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5300); got == "" {
		t.Fatalf("the datagram change-dscp rewrote did not arrive\n%s", ruleset(t, tp))
	}
	if out := sh(t, "ip", "netns", "exec", tp.s, "nft", "list", "table", "ip", "seen"); !strings.Contains(out, "counter packets 1 ") {
		t.Errorf("the server saw no datagram with DSCP 10:\n%s", out)
	}
}
