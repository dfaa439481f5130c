package firewall

import (
	"bytes"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/routerd/routerd/control/controltest"
)

// cmpsData is every Cmp's data of the rule key's kernel rules in pl.
func cmpsData(pl *Plan, k RuleKey) [][]byte {
	var out [][]byte
	for _, c := range pl.Chains {
		for _, rp := range c.Rules {
			if rp.Key != k {
				continue
			}
			for _, alt := range rp.Exprs {
				for _, e := range alt {
					if c, ok := e.(*expr.Cmp); ok {
						out = append(out, c.Data)
					}
				}
			}
		}
	}
	return out
}

func hasData(ds [][]byte, v uint32) bool {
	for _, d := range ds {
		if bytes.Equal(d, ne32(v)) {
			return true
		}
	}
	return false
}

// TestMarkAllocation: two packet-mark names whose hashes collide (QA's user98 and
// user1220, both 0xc50b) get two numbers, and so do two connection-mark names; every
// rule is valid and carries its name's number. The name a rule sets keeps the hash's
// number (what its connections carried before allocation); the table is one for both
// families, survives an encode and load (a restart) whatever order the rules then
// come in, and a name left when the other goes keeps its number (issue 15). Fails
// before allocation: the user1220 rules were invalid (markClashes).
func TestMarkAllocation(t *testing.T) {
	if NameMark("user98", PacketMarkBits) != 0xc50b || NameMark("user1220", PacketMarkBits) != 0xc50b {
		t.Fatal("user98 and user1220 no longer share a number: pick another pair")
	}
	a, b := "c268724", "c698200" // the first pair of names c<N> with one connection mark
	if ConnMark(a) != ConnMark(b) {
		t.Fatalf("%s and %s no longer share a connection mark: pick another pair", a, b)
	}
	m := NewMarks()
	v4 := Compile(Config{Marks: m, Rules: []*Rule{
		rule(1, "filter", "chain", "forward", "action", "drop", "packet-mark", "user1220"),
		rule(2, "filter", "chain", "forward", "action", "drop", "packet-mark", "!user98"),
		rule(3, "filter", "chain", "forward", "action", "drop", "connection-mark", b),
		rule(4, "mangle", "chain", "forward", "action", "mark-packet", "new-packet-mark", "user98"),
		rule(5, "mangle", "chain", "forward", "action", "mark-connection", "new-connection-mark", a),
	}})
	if len(v4.Invalid) != 0 {
		t.Fatalf("invalid: %v", v4.Invalid)
	}
	u98, u1220, ca, cb := m.Packet("user98"), m.Packet("user1220"), m.Conn(a), m.Conn(b)
	if u98 != 0xc50b || u1220 == u98 || u1220 == 0 || u1220 >= 1<<PacketMarkBits {
		t.Errorf("user98 0x%x, user1220 0x%x: want 0xc50b and another", u98, u1220)
	}
	if ca != ConnMark(a) || cb == ca || cb == 0 || cb > ConnMarkMask {
		t.Errorf("%s 0x%x, %s 0x%x", a, ca, b, cb)
	}
	for k, v := range map[RuleKey]uint32{{"filter", 1}: u1220, {"filter", 2}: u98, {"filter", 3}: cb} {
		if !hasData(cmpsData(v4, k), v) {
			t.Errorf("%v does not compare with 0x%x: %v", k, v, cmpsData(v4, k))
		}
	}
	// The other family matches the same numbers.
	v6 := Compile(Config{V6: true, Marks: m, Rules: []*Rule{
		rule(1, "filter", "chain", "forward", "action", "drop", "packet-mark", "user1220"),
		rule(2, "filter", "chain", "forward", "action", "drop", "connection-mark", b),
	}})
	if !hasData(cmpsData(v6, RuleKey{"filter", 1}), u1220) || !hasData(cmpsData(v6, RuleKey{"filter", 2}), cb) {
		t.Errorf("ipv6 rules do not compare with the ipv4 numbers")
	}
	// A restart: the table loaded first, then the rules in another order.
	enc, dirty := m.encode()
	if !dirty {
		t.Error("a new table is not dirty")
	}
	m2 := NewMarks()
	m2.load(enc, nil)
	m2.allocate([]*Rule{rule(1, "mangle", "new-packet-mark", "user1220"), rule(2, "mangle", "new-connection-mark", b)})
	if m2.Packet("user1220") != u1220 || m2.Packet("user98") != u98 || m2.Conn(b) != cb || m2.Conn(a) != ca {
		t.Errorf("after load: %s, want\n%s", func() string { s, _ := m2.encode(); return s }(), enc)
	}
	// user98 goes from the configuration: user1220 keeps its number, and a name that
	// comes later takes user98's free one only if it hashes there.
	m3 := NewMarks()
	m3.load(enc, func(kind int, name string) bool { return name != "user98" })
	if got := m3.Packet("user1220"); got != u1220 {
		t.Errorf("user1220 renumbered 0x%x -> 0x%x", u1220, got)
	}
	if got := m3.Packet("user98"); got != 0xc50b {
		t.Errorf("user98 back: 0x%x", got)
	}
}

// TestMarksEncode: names with spaces and newlines survive, bad lines are dropped.
func TestMarksEncode(t *testing.T) {
	m := NewMarks()
	m.Packet("a b\nc")
	m.Conn("x")
	enc, _ := m.encode()
	m2 := NewMarks()
	if m2.load(enc+"junk\np \"y\" 0\np \"z\" 70000\nc \"w\" 5\n", nil); m2.Packet("a b\nc") != m.Packet("a b\nc") || m2.Conn("x") != m.Conn("x") {
		t.Errorf("load(%q): %+v", enc, m2.num)
	}
	if len(m2.num[packetKind]) != 1 || len(m2.num[connKind]) != 2 {
		t.Errorf("kept: %+v", m2.num)
	}
}

// TestMarkPairTraffic: QA's pair in the kernel, both names in use. A mangle rule
// marks another host's packets user1220 (it comes first and keeps the hash's number),
// one marks the client's user98; a filter rule dropping packet-mark=user1220 is valid
// and lets the client's datagrams pass, one dropping user98 drops them. After a restart
// with the user98 rule moved first, user98 keeps its number (the store has the table).
// Fails before allocation: the user1220 filter rule was invalid; fails without the
// saved table: user98 takes 0xc50b after the restart.
func TestMarkPairTraffic(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall mangle add chain=forward action=mark-packet new-packet-mark=user1220 src-address=198.18.9.9 comment=other`)
	r.run(t, `/ip firewall mangle add chain=forward action=mark-packet new-packet-mark=user98 src-address=198.18.1.2 passthrough=yes comment=client`)
	r.run(t, `/ip firewall filter add chain=forward action=drop packet-mark=user1220 comment=other`)
	st := controltest.State(t, r.ex, rulePath(false, "filter"), "comment", "other")
	if st.Invalid {
		t.Errorf("the user1220 rule: %+v", st)
	}
	u98 := r.e.Marks().Packet("user98")
	if u98 == 0xc50b || r.e.Marks().Packet("user1220") != 0xc50b {
		t.Errorf("user98 0x%x user1220 0x%x", u98, r.e.Marks().Packet("user1220"))
	}
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5100); got == "" {
		t.Errorf("user98's datagram dropped by the user1220 rule\n%s", ruleset(t, tp))
	}
	r.run(t, `/ip firewall filter add chain=forward action=drop packet-mark=user98 comment=same`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5101); got != "" {
		t.Errorf("the user98 rule did not drop user98's datagram (server saw %s)\n%s", got, ruleset(t, tp))
	}
	r.run(t, `/ip firewall mangle move [find comment=client] [find comment=other]`)
	r2 := r.restart(t, tp)
	if got := r2.e.Marks().Packet("user98"); got != u98 {
		t.Errorf("user98 renumbered after a restart: 0x%x -> 0x%x", u98, got)
	}
	r2.run(t, `/ip firewall filter disable [find comment=same]`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5102); got == "" {
		t.Errorf("after the restart user98's datagram dropped by the user1220 rule\n%s", ruleset(t, tp))
	}
	r2.run(t, `/ip firewall filter enable [find comment=same]`)
	if got := tp.udp(t, tp.c, tp.s, "198.19.2.2", 5103); got != "" {
		t.Errorf("after the restart the user98 rule did not drop user98's datagram\n%s", ruleset(t, tp))
	}
}
