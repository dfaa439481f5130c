package firewall

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// TestListsAsSetsTraffic: issue 15's rule (as UDP, so the test picks source ports), with
// port lists that are not ranges, marks exactly the packets it matches in the kernel, as
// one kernel rule with anonymous sets; the negated list marks the others; a change of the
// interface list's members is followed (the rule comes again with a new set). The mark
// is seen by a forward rule dropping packet-mark=x.
func TestListsAsSetsTraffic(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	members := []string{"x1", "lan", "x2"}
	setWAN := func(m ...string) {
		r.e.passMu.Lock()
		members = m
		r.e.opts.IfLists = func(name string) ([]string, error) {
			if name == "WAN" {
				return members, nil
			}
			return nil, nil
		}
		r.e.passMu.Unlock()
	}
	setWAN("x1", "lan", "x2")
	const (
		dports = "1,3,5,7,9,11,13,15,17,19,21,23,25,27,29"
		sports = "31,33,35,37,39,41,43,45,47,49"
	)
	r.run(t, `/interface list add name=WAN`)
	r.run(t, `/ip firewall filter add chain=forward action=drop packet-mark=x`)
	r.run(t, `/ip firewall mangle add chain=prerouting action=mark-packet new-packet-mark=x passthrough=yes protocol=udp in-interface-list=WAN dst-port=`+dports+` src-port=`+sports+` comment=qa`)
	rs := ruleset(t, tp)
	chainText := regexp.MustCompile(`(?s)chain mangle/prerouting \{.*?\n\t\}`).FindString(rs)
	if n := strings.Count(chainText, "counter name"); n != 1 {
		t.Fatalf("%d kernel rules for the rule, want 1:\n%s", n, chainText)
	}
	if !strings.Contains(chainText, `iifname { `) || !strings.Contains(chainText, "udp dport { 1, 3, 5") {
		t.Errorf("no sets in the kernel's rule:\n%s", chainText)
	}
	// passes sends one datagram from source port sport to the server's port dport and
	// reports whether it arrived (not marked, so not dropped).
	passes := func(sport, dport int) bool {
		t.Helper()
		l := udpListen(t, tp.s, dport)
		defer l.Close()
		c := udpDial(t, tp.c, fmt.Sprintf("198.18.1.2:%d", sport), "198.19.2.2", dport)
		defer c.Close()
		if _, err := c.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		return received(l) != ""
	}
	check := func(what string, cases map[[2]int]bool) {
		t.Helper()
		for c, want := range cases {
			if got := passes(c[0], c[1]); got != want {
				t.Errorf("%s: sport %d dport %d passed=%v, want %v\n%s", what, c[0], c[1], got, want, ruleset(t, tp))
			}
		}
	}
	check("in the lists", map[[2]int]bool{{33, 7}: false, {49, 29}: false, {34, 7}: true, {33, 8}: true, {50, 30}: true})
	r.run(t, `/ip firewall mangle set [find comment=qa] dst-port=!`+dports)
	check("dst-port negated", map[[2]int]bool{{33, 8}: false, {33, 7}: true, {34, 8}: true})
	r.run(t, `/ip firewall mangle set [find comment=qa] dst-port=`+dports+` in-interface-list=!WAN`)
	check("interface list negated", map[[2]int]bool{{33, 7}: true})
	setWAN("x1", "x2")
	if _, err := r.try(`:put pass`); err != nil {
		t.Fatal(err)
	}
	check("lan left WAN, rule negated", map[[2]int]bool{{35, 7}: false})
	r.run(t, `/ip firewall mangle set [find comment=qa] in-interface-list=WAN`)
	check("lan left WAN", map[[2]int]bool{{37, 7}: true})
	setWAN("lan")
	if _, err := r.try(`:put pass`); err != nil {
		t.Fatal(err)
	}
	check("lan back in WAN", map[[2]int]bool{{39, 7}: false})
}
