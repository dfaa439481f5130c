package firewall

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// qaSetRule is issue 15's rule: 15 destination ports, 10 source ports and an interface
// list of three, which compiled to 450 kernel rules of up to ~110 expressions.
const qaSetRule = "chain=prerouting action=mark-packet new-packet-mark=x passthrough=yes protocol=tcp in-interface-list=WAN " +
	"dst-port=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15 src-port=21,22,23,24,25,26,27,28,29,30"

// setText renders a rule's set lookups: "!" for a negated one, then the elements
// (interval sets as from-to, the end exclusive as the kernel has it).
func setText(es []expr.Any) []string {
	var out []string
	for _, e := range es {
		s, ok := e.(*setLookup)
		if !ok {
			continue
		}
		var b strings.Builder
		if s.Invert {
			b.WriteString("!")
		}
		for i, el := range s.elems {
			switch {
			case s.key.Name == "ifname":
				fmt.Fprintf(&b, "%s,", strings.TrimRight(string(el.Key), "\x00"))
			case s.key.Name == "integer":
				fmt.Fprintf(&b, "%d,", binary.NativeEndian.Uint32(el.Key))
			case el.IntervalEnd:
				fmt.Fprintf(&b, "-%d,", int(el.Key[0])<<8|int(el.Key[1]))
			default:
				fmt.Fprintf(&b, "%d", int(el.Key[0])<<8|int(el.Key[1]))
				if s.interval && (i+1 == len(s.elems) || !s.elems[i+1].IntervalEnd) {
					b.WriteString("-max,")
				}
			}
		}
		out = append(out, strings.TrimSuffix(b.String(), ","))
	}
	return out
}

// TestCompileListsAsSets: issue 15's rule is one kernel rule with three set lookups
// (it was 450 rules, the cross product of exclusive alternatives); its negated forms
// are one rule each, a negated lookup; overlapping and adjacent ranges merge (the
// kernel refuses overlapping intervals), a range up to 65535 has no end element.
func TestCompileListsAsSets(t *testing.T) {
	wan := func(string) []string { return []string{"ether1", "ether3", "ether4"} }
	props := func(s string) []string {
		var out []string
		for _, f := range strings.Fields(s) {
			k, v, _ := strings.Cut(f, "=")
			out = append(out, k, v)
		}
		return out
	}
	for _, c := range []struct {
		rule string
		sets []string
	}{
		// The QA rule's ports are contiguous: one range compare each.
		{qaSetRule, []string{"ether1,ether3,ether4"}},
		{strings.Replace(qaSetRule, "in-interface-list=", "in-interface-list=!", 1), []string{"!ether1,ether3,ether4"}},
		{"chain=prerouting action=accept protocol=tcp in-interface-list=WAN dst-port=21,22,80,443,2000,8080,53 src-port=1024-2047,4000-4999",
			[]string{"1024-2048,4000-5000", "21-23,53-54,80-81,443-444,2000-2001,8080-8081", "ether1,ether3,ether4"}},
		{"chain=prerouting action=accept protocol=tcp in-interface-list=WAN dst-port=!21,22,80,443,2000,8080,53 src-port=1024-2047,4000-4999",
			[]string{"1024-2048,4000-5000", "!21-23,53-54,80-81,443-444,2000-2001,8080-8081", "ether1,ether3,ether4"}},
		{"chain=prerouting action=accept protocol=udp dst-port=53,80-90,85-100,101,443,60000-65535", []string{"53-54,80-102,443-444,60000-max"}},
		{"chain=prerouting action=accept dst-address-type=!local,broadcast,multicast", []string{"!2,3,5"}},
	} {
		pl := Compile(Config{IfLists: wan, Rules: []*Rule{rule(1, "mangle", props(c.rule)...)}})
		if len(pl.Invalid) != 0 {
			t.Fatalf("%s: invalid %v", c.rule, pl.Invalid)
		}
		r := chain(pl, "mangle/prerouting").Rules[0]
		if len(r.Exprs) != 1 {
			t.Errorf("%s: %d kernel rules, want 1", c.rule, len(r.Exprs))
			continue
		}
		if got := setText(r.Exprs[0]); strings.Join(got, " ") != strings.Join(c.sets, " ") {
			t.Errorf("%s: sets %q, want %q", c.rule, got, c.sets)
		}
		if n := len(r.Exprs[0]); n > 20 {
			t.Errorf("%s: %d expressions", c.rule, n)
		}
	}
}

// TestCompileMapsOneRule: set-priority new-priority=from-dscp (and from-dscp-high-3-bits)
// and change-ttl / change-hop-limit increment:N and decrement:N are one kernel rule each,
// a lookup in a constant map of the field's values to what the action writes; they were
// one kernel rule per value (main e3c784e: 64 for the DSCP, 256 for the TTL). The maps
// hold every value the field can have, each mapped to its result.
func TestCompileMapsOneRule(t *testing.T) {
	for _, c := range []struct {
		v6    bool
		props []string
		elems int
		key   []byte // a key as the rule loads it (DSCP 10: IPv4 TOS 0x28, IPv6 0x0280)
		want  []byte // the value it maps to
	}{
		{false, []string{"action", "set-priority", "new-priority", "from-dscp"}, 64, []byte{0x00, 0x28}, ne32(10)},
		{false, []string{"action", "set-priority", "new-priority", "from-dscp-high-3-bits"}, 64, []byte{0x00, 0x28}, ne32(1)},
		{true, []string{"action", "set-priority", "new-priority", "from-dscp"}, 64, []byte{0x02, 0x80}, ne32(10)},
		{false, []string{"action", "change-ttl", "new-ttl", "increment:10"}, 256, []byte{250}, []byte{255}},
		{false, []string{"action", "change-ttl", "new-ttl", "decrement:5"}, 256, []byte{3}, []byte{0}},
		{false, []string{"action", "change-ttl", "new-ttl", "decrement:5"}, 256, []byte{64}, []byte{59}},
		{true, []string{"action", "change-hop-limit", "new-hop-limit", "increment:3"}, 256, []byte{64}, []byte{67}},
	} {
		pl := Compile(Config{V6: c.v6, Rules: []*Rule{rule(1, "mangle", append([]string{"chain", "prerouting"}, c.props...)...)}})
		if len(pl.Invalid) != 0 {
			t.Fatalf("%v: invalid %v", c.props, pl.Invalid)
		}
		r := chain(pl, "mangle/prerouting").Rules[0]
		if len(r.Exprs) != 1 {
			t.Errorf("%v (v6 %v): %d kernel rules, want 1", c.props, c.v6, len(r.Exprs))
			continue
		}
		var m *setLookup
		for _, e := range r.Exprs[0] {
			if s, ok := e.(*setLookup); ok {
				m = s
			}
		}
		if m == nil || m.data == nil || !m.IsDestRegSet || len(m.elems) != c.elems {
			t.Errorf("%v (v6 %v): no map of %d values in %v", c.props, c.v6, c.elems, r.Exprs[0])
			continue
		}
		i := slices.IndexFunc(m.elems, func(el nftables.SetElement) bool { return bytes.Equal(el.Key, c.key) })
		if i < 0 || !bytes.Equal(m.elems[i].Val, c.want) {
			t.Errorf("%v (v6 %v): key %x maps to (index %d) %v, want %x", c.props, c.v6, c.key, i, m.elems, c.want)
		}
	}
}
