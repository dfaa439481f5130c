package firewall

import (
	"fmt"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/controltest"
)

// TestMarkClashes: two packet-mark names with the same kernel number (QA's user98 and
// user1220, both 0xc50b) are never one mark in the kernel: the rule that only matches
// user1220 is invalid with the reason, whatever its table's order, while the rule
// setting user98 and one matching it apply; the same for connection marks (issue 15,
// qa15: the filter rule for user1220 dropped user98's packets). Fails without
// markClashes: every rule is valid.
func TestMarkClashes(t *testing.T) {
	if NameMark("user98", PacketMarkBits) != NameMark("user1220", PacketMarkBits) {
		t.Fatal("user98 and user1220 no longer share a number: pick another pair")
	}
	// The first pair of names c<N> with one connection mark (found by counting up).
	a, b := "c268724", "c698200"
	if ConnMark(a) != ConnMark(b) {
		t.Fatalf("%s and %s no longer share a connection mark: pick another pair", a, b)
	}
	pl := Compile(Config{Rules: []*Rule{
		rule(1, "filter", "chain", "forward", "action", "drop", "packet-mark", "user1220"),
		rule(2, "filter", "chain", "forward", "action", "drop", "packet-mark", "!user98"),
		rule(3, "filter", "chain", "forward", "action", "drop", "connection-mark", b),
		rule(4, "mangle", "chain", "forward", "action", "mark-packet", "new-packet-mark", "user98"),
		rule(5, "mangle", "chain", "forward", "action", "mark-connection", "new-connection-mark", a),
		rule(6, "mangle", "chain", "forward", "action", "mark-packet", "new-packet-mark", "user1220"),
		rule(7, "mangle", "chain", "forward", "action", "accept", "connection-mark", a),
	}})
	want := map[RuleKey]string{
		{"filter", 1}: "packet-mark user1220 has the kernel mark 0xc50b of packet-mark user98",
		{"filter", 3}: fmt.Sprintf("connection-mark %s has the kernel mark 0x%x of connection-mark %s", b, ConnMark(a), a),
		{"mangle", 6}: "packet-mark user1220 has the kernel mark 0xc50b of packet-mark user98",
	}
	for k, w := range want {
		if !strings.Contains(pl.Invalid[k], w) {
			t.Errorf("%v: invalid=%q, want %q", k, pl.Invalid[k], w)
		}
	}
	if len(pl.Invalid) != len(want) {
		t.Errorf("invalid: %v", pl.Invalid)
	}
}

// TestMarkClashTraffic: QA's pair in the kernel. The mangle rule marks the client's
// packets user98; a filter rule dropping packet-mark=user1220 placed first is invalid
// (flag I, the reason in its status) and the client's datagrams pass; a rule dropping
// user98 drops them (the mark is there).
func TestMarkClashTraffic(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall mangle add chain=forward action=mark-packet new-packet-mark=user98 src-address=198.18.1.2 passthrough=yes`)
	r.run(t, `/ip firewall filter add chain=forward action=drop packet-mark=user1220 comment=other`)
	st := controltest.State(t, r.ex, rulePath(false, "filter"), "comment", "other")
	if !st.Invalid || !strings.Contains(st.Status, "packet-mark user1220 has the kernel mark 0xc50b of packet-mark user98") {
		t.Errorf("the user1220 rule: %+v", st)
	}
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5100); got == "" {
		t.Errorf("user98's datagram dropped by the user1220 rule\n%s", ruleset(t, tp))
	}
	r.run(t, `/ip firewall filter add chain=forward action=drop packet-mark=user98 comment=same`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5101); got != "" {
		t.Errorf("the user98 rule did not drop user98's datagram (server saw %s)\n%s", got, ruleset(t, tp))
	}
}
