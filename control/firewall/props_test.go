package firewall

import (
	"os/exec"
	"strings"
	"testing"
)

// TestExportProperties: the firewall properties RouterOS writes in /export. What the
// kernel can carry out applies (content= through the kernel's string match drops the
// pings carrying the text and no others; set-priority sets the priority the priority=
// matcher then sees, from-dscp the DSCP; headers=, change-hop-limit, randomise-ports and same-not-by-dst
// reach the kernel); what nothing here carries out (psd, layer7-protocol, p2p, route,
// sniff-tzsp, snpt) is accepted, kept, exported and shown invalid with the reason,
// where add refused it and an export of a RouterOS box did not load.
func TestExportProperties(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall layer7-protocol add name=http regexp="^get /"
/ip firewall mangle add chain=forward action=set-priority new-priority=5 protocol=icmp comment=prio
/ip firewall filter
add chain=forward action=drop content=badstr protocol=icmp comment=content
add chain=forward action=passthrough priority=5 comment=prio5
add chain=forward action=passthrough priority=!5 comment=notprio5
add chain=input action=drop psd=21,3s,3,1 protocol=tcp comment=psd
add chain=forward action=drop layer7-protocol=http comment=l7
add chain=forward action=drop p2p=all-p2p comment=p2p
/ip firewall mangle
add chain=prerouting action=route route-dst=198.19.2.2 comment=route
add chain=prerouting action=sniff-tzsp sniff-target=198.19.2.2 sniff-target-port=37008 comment=tzsp
/ip firewall nat
add chain=srcnat action=masquerade out-interface=wan randomise-ports=yes comment=masq
add chain=srcnat action=same to-addresses=198.19.2.1 same-not-by-dst=yes protocol=tcp comment=same
/ipv6 firewall filter add chain=input action=drop headers=route:contains,!frag:contains comment=rh
/ipv6 firewall mangle
add chain=prerouting action=change-hop-limit new-hop-limit=set:9 comment=hl
add chain=postrouting action=snpt src-prefix=fd00::/64 dst-prefix=2001:db8::/64 comment=npt`)
	// "badstr" in the payload: ping -p fills it with the pattern.
	if exec.Command("ip", "netns", "exec", tp.c, "ping", "-c1", "-W1", "-p", "626164737472", "198.19.2.2").Run() == nil {
		t.Errorf("a ping carrying content=badstr passed")
	}
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Errorf("a ping without the content was dropped")
	}
	if n := r.counter(t, "/ip firewall filter", "content"); n != 1 {
		t.Errorf("content= counted %d, want 1", n)
	}
	// The ping that passed had priority 5 from mangle when filter's forward saw it.
	if n, m := r.counter(t, "/ip firewall filter", "prio5"), r.counter(t, "/ip firewall filter", "notprio5"); n < 1 || m != 0 {
		t.Errorf("priority=5 matched %d, priority=!5 %d after set-priority new-priority=5", n, m)
	}
	// from-dscp: the priority is the packet's DSCP (10 here: TOS 0x28).
	r.run(t, `/ip firewall mangle set [find comment=prio] new-priority=from-dscp
/ip firewall filter add chain=forward action=passthrough priority=10 comment=prio10 place-before=0`)
	if !tp.ping(tp.c, "198.19.2.2") || exec.Command("ip", "netns", "exec", tp.c, "ping", "-c1", "-W1", "-Q", "0x28", "198.19.2.2").Run() != nil {
		t.Errorf("pings with set-priority new-priority=from-dscp did not pass")
	}
	if n := r.counter(t, "/ip firewall filter", "prio10"); n != 2 {
		t.Errorf("priority=10 matched %d after new-priority=from-dscp, want the echo with DSCP 10 and its reply (same TOS)", n)
	}
	rs := ruleset(t, tp)
	for _, want := range []string{"meta priority set", "ip6 hoplimit set 9", "random", "string", "ipv6header"} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	for menu, want := range map[string][]string{
		"/ip firewall filter":   {"psd: no kernel support", "layer7-protocol: no kernel support", "p2p: no kernel support"},
		"/ip firewall mangle":   {"route-dst: no kernel support", "sniff-target: no kernel support"},
		"/ipv6 firewall mangle": {"src-prefix: no kernel support"},
	} {
		out := r.run(t, menu+" print detail where invalid")
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: no invalid rule saying %q:\n%s", menu, w, out)
			}
		}
	}
	for _, menu := range []string{"/ip firewall nat", "/ipv6 firewall filter", "/ipv6 firewall mangle"} {
		out := r.run(t, menu+" print detail where invalid")
		for _, c := range []string{"masq", "same", "rh", "hl"} {
			if strings.Contains(out, "comment="+c) || strings.Contains(out, ";;; "+c+"\n") {
				t.Errorf("%s: rule %s is invalid:\n%s", menu, c, out)
			}
		}
	}
	exp := r.run(t, "/export")
	for _, want := range []string{"psd=21,3s,3,1", "layer7-protocol=http", `regexp="^get /"`, "p2p=all-p2p", "route-dst=198.19.2.2",
		"sniff-target=198.19.2.2", "randomise-ports=yes", "same-not-by-dst=yes", "headers=route:contains,!frag:contains",
		"new-hop-limit=set:9", "src-prefix=fd00::/64", "content=badstr", "new-priority=from-dscp"} {
		if !strings.Contains(exp, want) {
			t.Errorf("export lacks %s:\n%s", want, exp)
		}
	}
	if out := r.run(t, "/ip firewall layer7-protocol print detail"); !strings.Contains(out, "http") || strings.Contains(out, "not applied") {
		t.Errorf("layer7-protocol print:\n%s", out)
	}
	// A name layer7-protocol= does not know is refused, as RouterOS does.
	if _, err := r.try(`/ip firewall filter add chain=forward layer7-protocol=nosuch`); err == nil ||
		!strings.Contains(err.Error(), "layer7-protocol") {
		t.Errorf("layer7-protocol naming no pattern: %v, want a refusal naming it", err)
	}
}
