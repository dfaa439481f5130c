package firewall

import (
	"strings"
	"testing"
)

// TestKernelForms: matchers and actions whose only check was the compiler's output
// (protocol=ipsec-ah and gre, nth, random, fragment, reject-with, clamp-to-pmtu) are
// accepted by the kernel in the form nft shows back, a rejected datagram does not
// reach the server, and reset-counters-all zeroes every rule's counters.
func TestKernelForms(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=forward protocol=ipsec-ah action=drop comment=ah
/ip firewall filter add chain=forward protocol=gre action=drop comment=gre
/ip firewall filter add chain=forward protocol=udp dst-port=5801 nth=3,1 action=passthrough comment=nth
/ip firewall filter add chain=forward protocol=udp dst-port=5801 random=50 action=passthrough comment=random
/ip firewall filter add chain=forward fragment=yes action=passthrough comment=fragment
/ip firewall filter add chain=forward protocol=udp dst-port=5701 action=reject reject-with=icmp-admin-prohibited comment=reject
/ip firewall filter add chain=forward protocol=udp dst-port=5703 action=reject reject-with=tcp-reset comment=rstudp
/ip firewall filter add chain=forward dst-address=198.19.2.99 action=reject reject-with=tcp-reset comment=rstany
/ip firewall filter add chain=forward action=accept comment=counted
/ip firewall mangle add chain=forward protocol=tcp tcp-flags=syn action=change-mss new-mss=clamp-to-pmtu passthrough=yes comment=clamp`)
	list := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "table", "ip", TableName)
	for comment, want := range map[string]string{
		"ah":       "meta l4proto ah",
		"gre":      "meta l4proto gre",
		"nth":      "numgen inc mod 3 0",
		"random":   "numgen random mod 100 < 50",
		"fragment": "ip frag-off & 8191 != 0",
		"reject":   "reject with icmp admin-prohibited",
		"clamp":    "tcp option maxseg size set rt mtu",
		// tcp-reset resets TCP only: a udp rule sends the default ICMP error, one that
		// may match both resets TCP and sends others the ICMP error.
		"rstudp":      "udp dport 5703 counter name \"filter/7\" reject with icmp net-unreachable",
		"rstany tcp":  "meta l4proto tcp ip daddr 198.19.2.99 counter name \"filter/8\" reject with tcp reset",
		"rstany rest": "meta l4proto != tcp ip daddr 198.19.2.99 counter name \"filter/8\" reject with icmp net-unreachable",
	} {
		found := false
		for _, line := range strings.Split(list, "\n") {
			found = found || strings.Contains(line, want)
		}
		if !found {
			t.Errorf("%s: no %q in the kernel's table:\n%s", comment, want, list)
		}
	}
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5701); got != "" {
		t.Errorf("a datagram to the rejected port reached the server from %s", got)
	}
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5702); got == "" {
		t.Error("a datagram to another port did not reach the server")
	}
	packets := func(comment string) string {
		return strings.TrimSpace(r.run(t, `:put [/ip firewall filter get [find comment=`+comment+`] packets]`))
	}
	if packets("counted") == "0" || packets("reject") == "0" {
		t.Fatalf("counted=%s reject=%s packets before the reset", packets("counted"), packets("reject"))
	}
	r.run(t, `/ip firewall filter reset-counters-all`)
	if c, j := packets("counted"), packets("reject"); c != "0" || j != "0" {
		t.Errorf("after reset-counters-all counted=%s reject=%s", c, j)
	}
}
