package firewall

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/value"
)

func rule(id uint64, table string, props ...string) *Rule {
	p := map[string]string{}
	for i := 0; i+1 < len(props); i += 2 {
		p[props[i]] = props[i+1]
	}
	r := &Rule{ID: id, Table: table, Chain: p["chain"], Action: p["action"], Props: p}
	if r.Action == "" {
		r.Action = "accept"
	}
	return r
}

func chain(pl *Plan, name string) *ChainPlan {
	for _, c := range pl.Chains {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestCompileExpressions checks the kernel expressions of typical rules, exactly.
func TestCompileExpressions(t *testing.T) {
	pl := Compile(Config{Rules: []*Rule{
		rule(1, "nat", "chain", "srcnat", "action", "accept", "src-address", "10.1.202.0/24", "dst-address", "10.1.101.0/24"),
		rule(2, "nat", "chain", "srcnat", "action", "masquerade", "out-interface", "ether1"),
		rule(3, "filter", "chain", "input", "action", "drop", "protocol", "udp", "dst-port", "1701", "ipsec-policy", "in,none"),
	}})
	if len(pl.Invalid) != 0 {
		t.Fatalf("invalid: %v", pl.Invalid)
	}
	src := chain(pl, "nat/srcnat")
	if src == nil || src.Hook != nil || len(src.Rules) != 2 {
		t.Fatalf("nat/srcnat: %+v", src)
	}
	want := []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 1, 202, 0}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: []byte{255, 255, 255, 0}, Xor: []byte{0, 0, 0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 1, 101, 0}},
		&expr.Objref{Type: objCounter, Name: "nat/1"},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
	if got := src.Rules[0].Exprs; len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("bypass rule:\n got %#v\nwant %#v", got, want)
	}
	want = []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: append([]byte("ether1"), make([]byte, 10)...)},
		&expr.Objref{Type: objCounter, Name: "nat/2"},
		&expr.Masq{},
	}
	if got := src.Rules[1].Exprs; len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("masquerade rule:\n got %#v\nwant %#v", got, want)
	}
	hook := chain(pl, hookChainName("nat", "postrouting"))
	if hook == nil || hook.Hook == nil || *hook.Prio != 100 {
		t.Fatalf("no postrouting hook for srcnat: %+v", hook)
	}
	in := chain(pl, "filter/input")
	if in == nil || in.Hook == nil {
		t.Fatalf("filter/input is not a base chain: %+v", in)
	}
	// in,none: no secpath (kernel IPsec) and not from the userspace path's TUN.
	es := in.Rules[0].Exprs[0]
	n := len(es)
	wantTail := []expr.Any{
		&expr.Meta{Key: metaSecpath, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}},
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: append([]byte("ipsec0"), make([]byte, 10)...)},
		&expr.Objref{Type: objCounter, Name: "filter/3"},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
	if len(in.Rules[0].Exprs) != 1 || n < 6 || !reflect.DeepEqual(es[n-6:], wantTail) {
		t.Errorf("ipsec-policy=in,none:\n got %#v\nwant tail %#v", es, wantTail)
	}
	// in,ipsec: secpath, or no secpath and from the TUN: two exclusive kernel rules.
	pl = Compile(Config{Rules: []*Rule{rule(1, "filter", "chain", "input", "ipsec-policy", "in,ipsec")}})
	if got := len(chain(pl, "filter/input").Rules[0].Exprs); got != 2 {
		t.Errorf("ipsec-policy=in,ipsec: %d alternatives, want 2", got)
	}
}

// TestCompileDisjunctions: a list match and port= become mutually exclusive kernel rules
// sharing one counter.
func TestCompileDisjunctions(t *testing.T) {
	pl := Compile(Config{Rules: []*Rule{
		rule(1, "filter", "chain", "forward", "action", "drop", "src-address-list", "bad", "protocol", "tcp", "port", "22,80"),
	}})
	r := chain(pl, "filter/forward").Rules[0]
	// (static | !static & dynamic) x (sport in P | sport not in P & dport in P), P of two
	// ports, each "in P" one lookup in an anonymous set (issue 15; it was 2*4 rules, "in
	// P" two exclusive alternatives).
	if len(r.Exprs) != 2*2 {
		t.Fatalf("%d alternatives, want 4", len(r.Exprs))
	}
	for _, es := range r.Exprs {
		n := 0
		for _, e := range es {
			if o, ok := e.(*expr.Objref); ok && o.Name == "filter/1" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("alternative without its counter: %#v", es)
		}
	}
	if !reflect.DeepEqual(pl.Lists, []string{"bad"}) {
		t.Errorf("lists %v", pl.Lists)
	}
}

// TestCompileRefusals: jump to a chain with no rules, loops between chains, NAT actions
// where the chain is reached from the wrong hook, unsupported actions (the matchers
// nothing carries out are the schema's: engine.Decode refuses them, TestKeptUnsupported).
func TestCompileRefusals(t *testing.T) {
	pl := Compile(Config{Rules: []*Rule{
		rule(1, "filter", "chain", "input", "action", "jump", "jump-target", "nowhere"),
		rule(2, "filter", "chain", "a", "action", "jump", "jump-target", "b"),
		rule(3, "filter", "chain", "b", "action", "jump", "jump-target", "a"),
		rule(4, "filter", "chain", "input", "action", "jump", "jump-target", "a"),
		rule(5, "nat", "chain", "srcnat", "action", "jump", "jump-target", "x"),
		rule(6, "nat", "chain", "x", "action", "dst-nat", "to-addresses", "10.0.0.1"),
		rule(7, "mangle", "chain", "prerouting", "action", "sniff-tzsp", "sniff-target", "198.18.0.9"),
		rule(8, "filter", "chain", "input", "action", "drop", "out-interface", "ether1"),
	}})
	for id, want := range map[RuleKey]string{
		{"filter", 1}: "no such chain nowhere",
		{"filter", 3}: "loop",
		{"nat", 6}:    "only in dstnat and output chains",
		{"mangle", 7}: "no kernel support: there is no TZSP sender here",
		{"filter", 8}: "outgoing interface matching not possible in input chain",
	} {
		if !strings.Contains(pl.Invalid[id], want) {
			t.Errorf("%v: invalid=%q, want it to say %q", id, pl.Invalid[id], want)
		}
	}
	if _, bad := pl.Invalid[RuleKey{"filter", 2}]; bad {
		t.Errorf("the first jump of the loop is valid; only the closing one is not: %v", pl.Invalid)
	}
	if err := rule(9, "filter", "chain", "input", "action", "tarpit").Check(false); !errors.Is(err, ErrNotSupported) {
		t.Errorf("tarpit: %v", err)
	}
}

// TestMenuValues: the menus' value types refuse NAT actions in filter and unknown words.
func TestMenuValues(t *testing.T) {
	tree := menu.Default()
	m, _ := tree.Get("/ip/firewall/filter")
	act, _ := m.Prop("action")
	if _, err := act.Type.Parse("masquerade"); !errors.Is(err, value.ErrNoMatch) {
		t.Errorf("action=masquerade in filter: %v", err)
	}
	for prop, bad := range map[string]string{"src-address": "10.0.0.300", "protocol": "tcpx", "dst-port": "70000",
		"connection-state": "estab", "ipsec-policy": "in,maybe"} {
		p, _ := m.Prop(prop)
		if _, err := p.Type.Parse(bad); err == nil {
			t.Errorf("%s=%s accepted", prop, bad)
		}
	}
	for prop, good := range map[string]string{"src-address": "!10.0.0.0/8", "protocol": "ipsec-esp", "dst-port": "500,4500",
		"connection-state": "established,related", "ipsec-policy": "out,ipsec", "dst-address": "10.0.0.1-10.0.0.9"} {
		p, _ := m.Prop(prop)
		if _, err := p.Type.Parse(good); err != nil {
			t.Errorf("%s=%s refused: %v", prop, good, err)
		}
	}
}

// TestDefaultConfigFasttrack: RouterOS 7's default configuration writes its fasttrack
// rule with hw-offload=yes, so every real export has it; it parses and compiles (the
// property is stored with a no-effect status: no switch chip here).
func TestDefaultConfigFasttrack(t *testing.T) {
	m, _ := menu.Default().Get("/ip/firewall/filter")
	p, ok := m.Prop("hw-offload")
	if !ok || p.NoEffect == "" {
		t.Fatalf("hw-offload: declared %v, no-effect %q", ok, p.NoEffect)
	}
	if _, err := p.Type.Parse("yes"); err != nil {
		t.Fatal(err)
	}
	pl := Compile(Config{Rules: []*Rule{rule(1, "filter", "chain", "forward", "action", "fasttrack-connection",
		"connection-state", "established,related", "hw-offload", "yes")}})
	if len(pl.Invalid) != 0 {
		t.Fatalf("invalid: %v", pl.Invalid)
	}
}

// TestBridgePortClasses: ports the rules always take or leave together share a class
// (the members of a list), so the 4 bits of the mark tell apart what the rules ask; a
// configuration needing more than 15 classes leaves the rules that need them out.
func TestBridgePortClasses(t *testing.T) {
	lists := func(name string) []string {
		if name == "lan" {
			return []string{"e1", "e2", "e3", "e4", "e5"}
		}
		var out []string
		for i := range 20 {
			out = append(out, "x"+strings.Repeat("x", i))
		}
		return out
	}
	pl := Compile(Config{IfLists: lists, Rules: []*Rule{
		rule(1, "filter", "chain", "forward", "in-bridge-port-list", "lan", "action", "drop"),
		rule(2, "filter", "chain", "forward", "in-bridge-port", "e3", "action", "accept"),
		rule(3, "filter", "chain", "input", "in-bridge-port", "!e9", "action", "accept"),
	}})
	if len(pl.Invalid) != 0 {
		t.Fatalf("invalid: %v", pl.Invalid)
	}
	class := map[string]uint32{}
	for i, n := range pl.BridgePorts {
		class[n] = pl.BridgeClasses[i]
	}
	if class["e1"] != class["e2"] || class["e1"] != class["e5"] || class["e3"] == class["e1"] || class["e9"] == class["e1"] ||
		class["e9"] == class["e3"] || class["e1"] == 0 {
		t.Fatalf("classes %v", class)
	}
	// 20 ports each named by its own rule: 20 classes.
	var rs []*Rule
	for i := range 20 {
		rs = append(rs, rule(uint64(i+1), "filter", "chain", "forward", "in-bridge-port", "x"+strings.Repeat("x", i), "action", "drop"))
	}
	pl = Compile(Config{Rules: rs})
	if len(pl.Invalid) != 20-maxPortClasses {
		t.Fatalf("%d rules invalid, want %d: %v", len(pl.Invalid), 20-maxPortClasses, pl.Invalid)
	}
	for _, why := range pl.Invalid {
		if !strings.Contains(why, "at most 15 groups of bridge ports") {
			t.Fatalf("reason %q", why)
		}
	}
	// The same with the names sorting against the rules' order: still the last rules
	// lose, with the port named (issue 15 low: the ports sorting last lost, here the
	// first rules).
	rs = nil
	for i := range 20 {
		rs = append(rs, rule(uint64(i+1), "filter", "chain", "forward", "in-bridge-port", fmt.Sprintf("p%02d", 20-i), "action", "drop"))
	}
	pl = Compile(Config{Rules: rs})
	for i := range 20 {
		why, bad := pl.Invalid[RuleKey{"filter", uint64(i + 1)}]
		if bad != (i >= maxPortClasses) {
			t.Errorf("rule %d (port p%02d): invalid %v %q", i+1, 20-i, bad, why)
		}
		if bad && !strings.Contains(why, fmt.Sprintf("port p%02d would be group %d", 20-i, i+1)) {
			t.Errorf("rule %d: reason %q", i+1, why)
		}
	}
}

// TestKernelNames: interface names reach the kernel as Config.KernelName maps them
// (RouterOS names longer than 15 bytes), and a changed mapping compiles the rule anew.
func TestKernelNames(t *testing.T) {
	long := "ether2-master-local"
	kn := map[string]string{long: "ether2-mas~1a2b"}
	cfg := Config{KernelName: func(n string) string {
		if k, ok := kn[n]; ok {
			return k
		}
		return n
	}, Cache: &CompileCache{}, Rules: []*Rule{rule(1, "filter", "chain", "forward", "in-interface", long, "action", "drop"),
		rule(2, "filter", "chain", "forward", "in-bridge-port", long, "action", "drop")}}
	has := func(pl *Plan, name string) bool {
		for _, r := range chain(pl, "filter/forward").Rules {
			for _, es := range r.Exprs {
				for _, e := range es {
					if c, ok := e.(*expr.Cmp); ok && string(c.Data) == string(ifname(name)) {
						return true
					}
				}
			}
		}
		return false
	}
	pl := Compile(cfg)
	if !has(pl, "ether2-mas~1a2b") || has(pl, long[:15]) {
		t.Fatal("in-interface does not carry the kernel name")
	}
	if !reflect.DeepEqual(pl.BridgePorts, []string{"ether2-mas~1a2b"}) {
		t.Fatalf("bridge ports %v", pl.BridgePorts)
	}
	kn[long] = "ether2-mas~ffff"
	if pl = Compile(cfg); !has(pl, "ether2-mas~ffff") {
		t.Fatal("a changed kernel name was not compiled anew")
	}
}

// TestLimitAnyTime: RouterOS takes limit= with any time; the kernel's limit gets the
// same rate in one of its named units.
func TestLimitAnyTime(t *testing.T) {
	for _, c := range []struct {
		in          string
		rate        uint64
		unit        expr.LimitTime
		burst       uint32
		bytes, fail bool
	}{
		{in: "50/5s,2:packet", rate: 10, unit: expr.LimitTimeSecond, burst: 2},
		{in: "50/5s,2", rate: 10, unit: expr.LimitTimeSecond, burst: 2},
		{in: "100/10m,10", rate: 10, unit: expr.LimitTimeMinute, burst: 10},
		{in: "1/7s", rate: 86400, unit: expr.LimitTimeWeek},
		{in: "1/7s,5", rate: 86400, unit: expr.LimitTimeWeek, burst: 5},
		{in: "3/2d", rate: 11, unit: expr.LimitTimeWeek}, // 10.5 a week, rounded
		{in: "1/3w", rate: 1, unit: expr.LimitTimeWeek},  // less than one a week: one
		{in: "10/500ms", rate: 20, unit: expr.LimitTimeSecond},
		// RouterOS's bit mode (QA: refused): 1 Mbit/s with a 64 kbit burst is nftables'
		// 125000 bytes/second burst 8000 bytes; 1M is RouterOS's 1000000.
		{in: "1000000/1s,64000:bit", rate: 125000, unit: expr.LimitTimeSecond, burst: 8000, bytes: true},
		{in: "1M/1s,5:bit", rate: 125000, unit: expr.LimitTimeSecond, burst: 1, bytes: true},
		{in: "8000/1m,0:bit", rate: 1000, unit: expr.LimitTimeMinute, bytes: true},
		{in: "1000000/1s,100000:bytes", fail: true}, // not RouterOS's
		{in: "50/1s,2:packet", rate: 50, unit: expr.LimitTimeSecond, burst: 2},
		{in: "5", rate: 5, unit: expr.LimitTimeSecond},
		{in: "50/0s", fail: true},
		{in: "50/x", fail: true},
		{in: "0/1s", fail: true},
		{in: "18446744073709551615/1ms", fail: true},
	} {
		l, err := parseLimit(c.in)
		if c.fail {
			if err == nil {
				t.Errorf("limit=%s accepted", c.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("limit=%s: %v", c.in, err)
			continue
		}
		want := &expr.Limit{Type: expr.LimitTypePkts, Rate: c.rate, Unit: c.unit, Burst: c.burst}
		if c.bytes {
			want.Type = expr.LimitTypePktBytes
		}
		if got := limitExpr(l); !reflect.DeepEqual(got, want) {
			t.Errorf("limit=%s: %+v, want %+v", c.in, got, want)
		}
	}
}

// TestJumpDepth: a jump nesting chains deeper than the kernel follows is invalid with
// the reason and left out, and the rest of the table compiles; the kernel's limit is
// checked by TestJumpDepthKernel.
func TestJumpDepth(t *testing.T) {
	deep := func(table, from string, n int) ([]*Rule, *Plan) {
		rs := []*Rule{rule(1, table, "chain", from, "action", "jump", "jump-target", "d1")}
		for i := 1; i <= n; i++ {
			rs = append(rs, rule(uint64(i+1), table, "chain", fmt.Sprintf("d%d", i), "action", "jump", "jump-target", fmt.Sprintf("d%d", i+1)))
		}
		rs = append(rs, rule(uint64(n+2), table, "chain", fmt.Sprintf("d%d", n+1), "action", "accept"))
		return rs, Compile(Config{Rules: rs})
	}
	// filter: forward is level 0, d1 level 1 ... d15 level 15: the jump to d16 is too deep.
	_, pl := deep("filter", "forward", 15)
	if why := pl.Invalid[RuleKey{"filter", 16}]; !strings.Contains(why, "deeper than the kernel's 16 levels") {
		t.Errorf("the jump to d16: %q (invalid: %v)", why, pl.Invalid)
	}
	if len(pl.Invalid) != 1 {
		t.Errorf("invalid: %v, want only the jump to d16", pl.Invalid)
	}
	_, pl = deep("filter", "forward", 14)
	if len(pl.Invalid) != 0 {
		t.Errorf("15 levels: %v", pl.Invalid)
	}
	// nat: srcnat is level 1, so one level less.
	_, pl = deep("nat", "srcnat", 14)
	if len(pl.Invalid) != 1 || pl.Invalid[RuleKey{"nat", 15}] == "" {
		t.Errorf("nat: %v, want the jump to d15", pl.Invalid)
	}
}

// TestInterfaceKinds: in-interface=all-ethernet (all-vlan, all-ppp, all-wireless) names
// every interface of the kind as on RouterOS, resolved by the link engine like a list,
// where it was taken as an interface called "all-ethernet"; a kind with no interface
// here (all-ppp) makes a rule that never matches, and its negation matches everything.
func TestInterfaceKinds(t *testing.T) {
	kinds := map[string][]string{"all-ethernet": {"ether1", "ether2"}, "all-vlan": {"vlan10"}}
	pl := Compile(Config{IfLists: func(n string) []string { return kinds[n] }, Rules: []*Rule{
		rule(1, "filter", "chain", "forward", "in-interface", "all-ethernet", "out-interface", "!all-vlan", "action", "drop"),
		rule(2, "filter", "chain", "forward", "in-interface", "all-ppp", "action", "drop"),
		rule(3, "filter", "chain", "forward", "in-interface", "!all-wireless", "action", "accept"),
	}})
	if len(pl.Invalid) != 0 {
		t.Fatalf("invalid: %v", pl.Invalid)
	}
	rs := chain(pl, "filter/forward").Rules
	if len(rs) != 3 || len(rs[0].Exprs) != 1 || len(rs[1].Exprs) != 0 || len(rs[2].Exprs) != 1 {
		t.Fatalf("kernel rules per rule: %v", rs)
	}
	// The names each alternative compares the interface with.
	names := func(es []expr.Any) []string {
		var out []string
		for _, e := range es {
			if c, ok := e.(*expr.Cmp); ok && len(c.Data) == 16 {
				op := "=="
				if c.Op == expr.CmpOpNeq {
					op = "!="
				}
				out = append(out, op+strings.TrimRight(string(c.Data), "\x00"))
			}
			if s, ok := e.(*setLookup); ok {
				var els []string
				for _, el := range s.elems {
					els = append(els, strings.TrimRight(string(el.Key), "\x00"))
				}
				out = append(out, map[bool]string{false: "in", true: "!in"}[s.Invert]+"{"+strings.Join(els, ",")+"}")
			}
		}
		return out
	}
	// One kernel rule: the kind's interfaces are an anonymous set (issue 15).
	for i, want := range []string{"in{ether1,ether2} !=vlan10"} {
		if got := strings.Join(names(rs[0].Exprs[i]), " "); got != want {
			t.Errorf("in-interface=all-ethernet out-interface=!all-vlan, alternative %d: %s, want %s", i, got, want)
		}
	}
	if got := names(rs[2].Exprs[0]); len(got) != 0 {
		t.Errorf("in-interface=!all-wireless compares names: %v", got)
	}
}

// TestBridgePortListOneRule: an in-bridge-port-list whose ports fall in several classes
// (other rules name some of them alone) is one kernel rule, a lookup in the set of the
// classes' mark values; it was one kernel rule per class (main e3c784e: 3 here).
func TestBridgePortListOneRule(t *testing.T) {
	lan := func(string) []string { return []string{"e1", "e2", "e3", "e4", "e5"} }
	pl := Compile(Config{IfLists: lan, Rules: []*Rule{
		rule(1, "filter", "chain", "forward", "in-bridge-port", "e3", "action", "accept"),
		rule(2, "filter", "chain", "forward", "in-bridge-port", "e4", "action", "accept"),
		rule(3, "filter", "chain", "forward", "in-bridge-port-list", "lan", "action", "drop"),
	}})
	if len(pl.Invalid) != 0 {
		t.Fatalf("invalid: %v", pl.Invalid)
	}
	r := chain(pl, "filter/forward").Rules[2]
	if len(r.Exprs) != 1 {
		t.Fatalf("in-bridge-port-list of 3 classes: %d kernel rules, want 1", len(r.Exprs))
	}
	var n int
	for _, e := range r.Exprs[0] {
		if s, ok := e.(*setLookup); ok {
			n = len(s.elems)
		}
	}
	if n != 3 {
		t.Fatalf("in-bridge-port-list: a set of %d classes, want 3: %v", n, r.Exprs[0])
	}
}

// TestRemovedPortList: a bridge port list removed since the rule was written is named by
// its id (control's staleRefs), and the rule is invalid with the interface lists' words;
// negated, it was valid and matched every packet.
func TestRemovedPortList(t *testing.T) {
	for _, k := range []string{"in-bridge-port-list", "out-bridge-port-list"} {
		pl := Compile(Config{Rules: []*Rule{rule(1, "filter", "chain", "forward", k, "!*5", "action", "drop")}})
		if why := pl.Invalid[RuleKey{"filter", 1}]; why != "interface list *5 not present" {
			t.Errorf("%s=!*5: invalid %q", k, why)
		}
	}
}
