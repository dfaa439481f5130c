package routing

import (
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// TestDesiredRules: fwmark rules per table, /routing rule items in order, unknown tables
// reported.
func TestDesiredRules(t *testing.T) {
	tree := menu.Default()
	tm, _ := tree.Get(TablePath)
	rm, _ := tree.Get(RulePath)
	ts, _ := tables(tm, []store.Item{{ID: 1, Props: map[string]string{"name": "backup"}},
		{ID: 2, Props: map[string]string{"name": "off", "disabled": "yes"}}})
	var rs []rule
	for _, it := range []store.Item{
		{ID: 1, Props: map[string]string{"src-address": "198.18.0.0/24", "table": "backup"}},
		{ID: 2, Props: map[string]string{"dst-address": "2001:db8::/32", "table": "backup"}},
		{ID: 3, Props: map[string]string{"routing-mark": "nosuch"}},
		{ID: 4, Props: map[string]string{"interface": "lan", "action": "lookup-only-in-table", "table": "backup"}},
		{ID: 5, Props: map[string]string{"min-prefix": "0"}},
		{ID: 6, Props: map[string]string{"min-prefix": "0", "table": "backup"}},
	} {
		r := rule{id: it.ID}
		if err := engine.Decode(rm, it, &r.ruleItem); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	rules, invalid := desired(unix.AF_INET, ts, rs)
	if len(rules) != 5 {
		t.Fatalf("%d rules: %+v", len(rules), rules)
	}
	if r := rules[0]; r.Priority != MarkPriority || r.Mark != 1<<MarkShift || *r.Mask != MarkMask || r.Table != TableBase+1 {
		t.Errorf("fwmark rule: %+v", r)
	}
	if r := rules[1]; r.Priority != RulePriority || r.Src.String() != "198.18.0.0/24" || r.Table != TableBase+1 {
		t.Errorf("src rule: %+v", r)
	}
	if r := rules[3]; r.Type != unix.RTN_UNREACHABLE || r.IifName != "lan" || r.Priority != rules[2].Priority+1 {
		t.Errorf("lookup-only-in-table: %+v then %+v", rules[2], r)
	}
	// min-prefix is the kernel's suppress_prefixlength; unset, the library's -1 (none).
	if r := rules[4]; r.SuppressPrefixlen != 0 || r.Table != unix.RT_TABLE_MAIN {
		t.Errorf("min-prefix=0: %+v", r)
	}
	for _, r := range rules[:4] {
		if r.SuppressPrefixlen != -1 {
			t.Errorf("rule without min-prefix suppresses /%d: %+v", r.SuppressPrefixlen, r)
		}
	}
	// An IPv6 source with an IPv4 destination is no rule of either family (QA: it was
	// valid with nothing installed).
	_, mixed := desired(unix.AF_INET, ts, []rule{{id: 9, ruleItem: ruleItem{
		Src: netip.MustParsePrefix("2001:db8::/32"), Dst: netip.MustParsePrefix("198.18.0.0/15")}}})
	if !strings.Contains(mixed[9], "different address families") {
		t.Errorf("mixed families: %q", mixed[9])
	}
	// Not with a table of its own (the library drops it there): invalid, not flapping.
	if !strings.Contains(invalid[6], "table=main only") {
		t.Errorf("min-prefix with table=backup: %q", invalid[6])
	}
	if invalid[3] == "" {
		t.Errorf("routing-mark=nosuch not reported")
	}
}

// TestApplyKeepsOtherRules: applying in a fresh namespace adds routerd's rules and never
// removes the kernel's own (local, main, default).
func TestApplyKeepsOtherRules(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, _ := netns.Get()
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	defer netns.Set(orig)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	e := &Engine{k: netlinkKernel{h}}
	before, _ := h.RuleList(unix.AF_INET)
	tm, _ := menu.Default().Get(TablePath)
	ts, _ := tables(tm, []store.Item{{ID: 3, Props: map[string]string{"name": "backup"}}})
	// Rules of every type: a drop or unreachable rule read back must match the one asked
	// for (the library's dump leaves the type out; every apply re-added them with "file
	// exists" and removed them).
	want, _ := desired(unix.AF_INET, ts, []rule{
		{id: 1, ruleItem: ruleItem{Src: netip.MustParsePrefix("198.18.0.0/24"), Action: "drop"}},
		{id: 2, ruleItem: ruleItem{Dst: netip.MustParsePrefix("198.19.66.0/24"), Action: "unreachable"}},
		{id: 3, ruleItem: ruleItem{RoutingMark: "backup", Action: "lookup-only-in-table", Table: "backup"}},
		{id: 4, ruleItem: ruleItem{Dst: netip.MustParsePrefix("198.19.0.0/16"), MinPrefix: "0"}},
		// src-address=0.0.0.0/0 is no selector in the kernel: read back, it must match
		// (every pass re-added it and failed with "file exists", QA).
		{id: 5, ruleItem: ruleItem{Src: netip.MustParsePrefix("0.0.0.0/0"), Interface: "lo"}},
		// A rule the kernel refuses (an iif name longer than IFNAMSIZ) fails alone.
		{id: 6, ruleItem: ruleItem{Interface: strings.Repeat("x", 20)}},
	})
	for i := 0; i < 3; i++ { // again and again: the later applies change nothing
		failed, err := e.apply(unix.AF_INET, want)
		if err != nil {
			t.Fatalf("apply %d: %v", i, err)
		}
		if len(failed) != 1 || failed[6] == nil {
			t.Fatalf("apply %d: refused %v, want rule 6 only", i, failed)
		}
	}
	after, _ := h.RuleList(unix.AF_INET)
	if len(after) != len(before)+7 {
		t.Fatalf("rules before %d, after %d: %+v", len(before), len(after), after)
	}
	if _, err := e.apply(unix.AF_INET, nil); err != nil {
		t.Fatal(err)
	}
	if final, _ := h.RuleList(unix.AF_INET); len(final) != len(before) {
		t.Fatalf("rules after removing routerd's: %d, want %d", len(final), len(before))
	}
}
