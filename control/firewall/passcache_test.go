package firewall

import (
	"errors"
	"reflect"
	"testing"

	"github.com/routerd/routerd/control/store"
)

// TestDecodeCached: a pass decodes only the items whose stored properties changed and
// keeps the Rule (and what Compile memoized in it) of the others; the rules removed,
// disabled or no longer decoding are forgotten, so a later pass does not reuse them.
func TestDecodeCached(t *testing.T) {
	dm := map[uint64]decodedRule{}
	decodes := 0
	pass := func(items []store.Item, bad uint64) map[uint64]*Rule {
		got := map[uint64]*Rule{}
		used := 0
		for _, it := range items {
			if it.Props["disabled"] == "yes" {
				continue
			}
			r, err := decodeCached(dm, it, func() (*Rule, error) {
				decodes++
				if it.ID == bad {
					return nil, errors.New("bad")
				}
				return rawRule("filter", it.ID, it.Props), nil
			})
			if err != nil {
				continue
			}
			used++
			got[it.ID] = r
		}
		if len(dm) > used {
			forgetDecoded(dm, items)
		}
		return got
	}
	a := store.Item{ID: 1, Props: map[string]string{"chain": "forward"}}
	b := store.Item{ID: 2, Props: map[string]string{"chain": "input"}}
	first := pass([]store.Item{a, b}, 0)
	if decodes != 2 {
		t.Fatalf("first pass decoded %d rules, want 2", decodes)
	}
	second := pass([]store.Item{a, b}, 0)
	if decodes != 2 || second[1] != first[1] || second[2] != first[2] {
		t.Fatalf("an unchanged pass decoded again (%d decodes) or gave new Rules", decodes)
	}
	// b changed: only b is decoded, into a new Rule.
	b2 := store.Item{ID: 2, Props: map[string]string{"chain": "output"}}
	third := pass([]store.Item{a, b2}, 0)
	if decodes != 3 || third[1] != first[1] || third[2] == first[2] || third[2].Chain != "output" {
		t.Fatalf("after b changed: %d decodes, b's chain %q", decodes, third[2].Chain)
	}
	// b disabled, then enabled again as it was: decoded anew, not the old Rule.
	pass([]store.Item{a, {ID: 2, Props: map[string]string{"chain": "output", "disabled": "yes"}}}, 0)
	if _, ok := dm[2]; ok || len(dm) != 1 {
		t.Fatalf("a disabled rule is still remembered: %v", dm)
	}
	fourth := pass([]store.Item{a, b2}, 0)
	if decodes != 4 || fourth[2] == third[2] {
		t.Fatalf("the enabled rule was not decoded anew (%d decodes)", decodes)
	}
	// A rule that no longer decodes is forgotten; a removed one too.
	pass([]store.Item{a, {ID: 2, Props: map[string]string{"chain": "x"}}}, 2)
	if _, ok := dm[2]; ok {
		t.Fatal("a rule that failed to decode is still remembered")
	}
	pass([]store.Item{b2}, 0)
	if _, ok := dm[1]; ok || len(dm) != 1 {
		t.Fatalf("a removed rule is still remembered: %v", dm)
	}
}

// TestCompileMemo: Compile with a cache reuses the kernel rules it made of a Rule on the
// next Compile of the same Rule in the same context (an unchanged pass), and compiles
// the Rule anew when its context changed, to what a Compile without cache makes.
func TestCompileMemo(t *testing.T) {
	members := []string{"ether1"}
	cfg := Config{Cache: &CompileCache{}, IfLists: func(string) []string { return members },
		Rules: []*Rule{rule(1, "filter", "chain", "forward", "in-interface-list", "lan", "action", "drop"),
			rule(2, "filter", "chain", "forward", "protocol", "tcp", "dst-port", "22")}}
	first := Compile(cfg)
	second := Compile(cfg)
	for i, r := range chain(second, "filter/forward").Rules {
		if &r.Exprs[0][0] != &chain(first, "filter/forward").Rules[i].Exprs[0][0] {
			t.Fatalf("rule %d was compiled again in an unchanged context", r.Key.ID)
		}
	}
	members = []string{"ether2"}
	got := Compile(cfg)
	want := Compile(Config{IfLists: cfg.IfLists, Rules: []*Rule{rule(1, "filter", "chain", "forward", "in-interface-list", "lan", "action", "drop"),
		rule(2, "filter", "chain", "forward", "protocol", "tcp", "dst-port", "22")}})
	g, w := chain(got, "filter/forward").Rules, chain(want, "filter/forward").Rules
	if len(g) != 2 || len(w) != 2 || !reflect.DeepEqual(g[0].Exprs, w[0].Exprs) || !reflect.DeepEqual(g[1].Exprs, w[1].Exprs) {
		t.Fatalf("after the list changed, the cached compile gives\n%v\nwithout the cache\n%v", g, w)
	}
	if reflect.DeepEqual(g[0].Exprs, chain(first, "filter/forward").Rules[0].Exprs) {
		t.Fatal("the list's new member compiled to the same rule")
	}
}
