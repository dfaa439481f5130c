package firewall

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

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
