package firewall

import (
	"strings"
	"testing"
)

// TestHeaderArithmetic: change-ttl new-ttl=decrement:N and increment:N (and IPv6's
// change-hop-limit) change a forwarded packet's TTL by N, where they were kept invalid
// (nftables cannot add to a header field: a constant map of the TTL values to their
// result), and IPv6 change-dscp sets the traffic class's DSCP bits, where it was "not
// translated yet". A filter rule matching the changed field counts the echo request (the
// kernel's own forwarding decrement included), and the ping still gets its answer: the
// IPv4 header checksum was kept right.
func TestHeaderArithmetic(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	ping6 := tp.ipv6(t)
	r.run(t, `/ip firewall mangle add chain=prerouting action=change-ttl new-ttl=decrement:5 src-address=198.18.1.2 protocol=icmp comment=ttl
/ip firewall filter
add chain=forward action=passthrough ttl=equal:58 src-address=198.18.1.2 comment=dec
add chain=forward action=passthrough ttl=equal:73 src-address=198.18.1.2 comment=inc
/ipv6 firewall mangle
add chain=prerouting action=change-hop-limit new-hop-limit=increment:3 src-address=2001:db8:1::2 protocol=icmpv6 comment=hl
add chain=prerouting action=change-dscp new-dscp=10 src-address=2001:db8:1::2 protocol=icmpv6 comment=dscp6
/ipv6 firewall filter
add chain=forward action=passthrough hop-limit=equal:66 dscp=10 src-address=2001:db8:1::2 comment=hl66`)
	// 64 from the client, 5 off in prerouting, 1 off forwarding: 58 in forward.
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatalf("the ping with its TTL decremented got no answer\n%s", r.run(t, "/ip firewall mangle print detail"))
	}
	if n, m := r.counter(t, "/ip firewall filter", "dec"), r.counter(t, "/ip firewall filter", "inc"); n != 1 || m != 0 {
		t.Errorf("new-ttl=decrement:5: ttl 58 counted %d, ttl 73 %d; want 1 and 0", n, m)
	}
	r.run(t, `/ip firewall mangle set [find comment=ttl] new-ttl=increment:10`)
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("the ping with its TTL incremented got no answer")
	}
	if n, m := r.counter(t, "/ip firewall filter", "dec"), r.counter(t, "/ip firewall filter", "inc"); n != 1 || m != 1 {
		t.Errorf("new-ttl=increment:10: ttl 58 counted %d, ttl 73 %d; want 1 and 1", n, m)
	}
	// The mangle rule counts each packet once, whichever TTL it had.
	if n := r.counter(t, "/ip firewall mangle", "ttl"); n != 2 {
		t.Errorf("the change-ttl rule counted %d packets, want 2", n)
	}
	// Both are applied, neither shown invalid.
	for _, menu := range []string{"/ip firewall mangle", "/ipv6 firewall mangle"} {
		if out := r.run(t, menu+" print detail where invalid"); strings.Contains(out, "comment") || strings.Contains(out, ";;;") {
			t.Errorf("%s has invalid rules:\n%s", menu, out)
		}
	}
	// IPv6: 64 + 3 - 1 = 66 in forward, with DSCP 10.
	if !ping6() {
		t.Fatal("the IPv6 ping with its hop limit and DSCP changed got no answer")
	}
	if n := r.counter(t, "/ipv6 firewall filter", "hl66"); n != 1 {
		t.Errorf("hop-limit 66 with dscp 10 counted %d, want 1\n%s", n, ruleset(t, tp))
	}
	// A ttl outside 0..255 is refused as RouterOS refuses it.
	if _, err := r.try(`/ip firewall mangle add chain=prerouting action=change-ttl new-ttl=increment:256`); err == nil ||
		!strings.Contains(err.Error(), "new-ttl") {
		t.Errorf("new-ttl=increment:256: %v, want a refusal naming new-ttl", err)
	}
}
