package firewall

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// DynamicRule is a rule another engine adds (flag D in print, never exported): the IPsec
// engine's NAT bypass and notrack-chain rules, mode-config's src-address-list src-nat.
// Props are those of a rule menu's item (chain=, action=, matchers, comment=).
type DynamicRule struct {
	V6    bool
	Table string // filter, nat, mangle, raw
	Props map[string]string
	// Counters, when set, makes the rule a display-only row: it is not put in the kernel
	// and print shows these counters (RouterOS's "special dummy rule to show fasttrack
	// counters", whose packets the fast path counts).
	Counters func() Counter
}

// DynamicRules is the firewall's service to other engines: the dynamic rules each owner
// (an engine's name) adds and withdraws. The firewall engine offers it through the engine
// host; an engine started later finds it with engine.Lookup[*firewall.DynamicRules](h) in
// its Start.
type DynamicRules struct{ e *Engine }

// Dynamic returns the engine's dynamic-rules service.
func (e *Engine) Dynamic() *DynamicRules { return &DynamicRules{e: e} }

// Set replaces the dynamic rules of owner and has them applied (asynchronously, in the
// engine's next pass; nil or empty rules withdraw them all). They come before the
// configured rules of their table, as RouterOS lists dynamic rules first, in the order
// of owner names and then of rules. A rule that cannot apply on its own (unknown table,
// missing chain, action of another table, a matcher the kernel cannot express) is refused
// with the reason and nothing of owner's changes.
func (d *DynamicRules) Set(owner string, rules []DynamicRule) error {
	for i, r := range rules {
		if !slices.Contains(tablesOf, r.Table) {
			return fmt.Errorf("firewall: dynamic rule %d of %s: no table %q", i, owner, r.Table)
		}
		if r.Counters != nil {
			continue
		}
		dr, err := d.e.decodeRule(r.V6, r.Table, store.Item{Props: r.Props})
		if err == nil {
			err = dr.Check(r.V6)
		}
		if err != nil {
			return fmt.Errorf("firewall: dynamic rule %d of %s: %w", i, owner, err)
		}
	}
	e := d.e
	e.mu.Lock()
	if e.dynamic == nil {
		e.dynamic = map[string][]DynamicRule{}
	}
	if len(rules) == 0 {
		delete(e.dynamic, owner)
	} else {
		cl := make([]DynamicRule, len(rules))
		for i, r := range rules {
			r.Props = cloneProps(r.Props)
			cl[i] = r
		}
		e.dynamic[owner] = cl
	}
	e.mu.Unlock()
	e.poke()
	return nil
}

// Withdraw removes every dynamic rule of owner (as when its engine stops or its
// configuration no longer asks for them).
func (d *DynamicRules) Withdraw(owner string) { _ = d.Set(owner, nil) }

// Rules returns a copy of owner's dynamic rules as set last.
func (d *DynamicRules) Rules(owner string) []DynamicRule {
	d.e.mu.Lock()
	defer d.e.mu.Unlock()
	return slices.Clone(d.e.dynamic[owner])
}

var tablesOf = []string{"filter", "nat", "mangle", "raw"}

func cloneProps(p map[string]string) map[string]string {
	out := make(map[string]string, len(p))
	for k, v := range p {
		out[k] = v
	}
	return out
}

// poke asks the loop for a pass (see settle).
func (e *Engine) poke() {
	e.poked.Store(int64(e.sinceEpoch()))
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// dynItem is a dynamic rule with its id.
type dynItem struct {
	store.Item
	counters func() Counter
}

// dynamicRules returns the dynamic rules of a family and table with their ids, the
// firewall's own (the fasttrack counter row) first.
func (e *Engine) dynamicRules(v6 bool, table string) []dynItem {
	e.mu.Lock()
	defer e.mu.Unlock()
	owners := make([]string, 0, len(e.dynamic))
	for o := range e.dynamic {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	var out []dynItem
	add := func(o string, i int, r DynamicRule) {
		key := "rule/" + o + "/" + table + "/" + strconv.FormatBool(v6) + "/" + strconv.Itoa(i)
		id, ok := e.dynIDs[key]
		if !ok {
			id = dynBase + uint64(len(e.dynIDs))
			e.dynIDs[key] = id
		}
		out = append(out, dynItem{Item: store.Item{ID: id, Props: r.Props}, counters: r.Counters})
	}
	if table == "filter" && e.fasttrack[v6] {
		add("", 0, e.fastTrackDummy(v6))
	}
	for _, o := range owners {
		for i, r := range e.dynamic[o] {
			if r.V6 == v6 && r.Table == table {
				add(o, i, r)
			}
		}
	}
	return out
}

// dynamicRuleRows shows the dynamic rules of a rule menu with their counters.
func (e *Engine) dynamicRuleRows(v6 bool, table string) []control.Row {
	cs, _ := e.k.Counters(v6, false)
	var rows []control.Row
	for _, it := range e.dynamicRules(v6, table) {
		p := cloneProps(it.Props)
		c := cs[CounterName(RuleKey{table, it.ID})]
		if it.counters != nil {
			c = it.counters()
		}
		p["bytes"], p["packets"] = strconv.FormatUint(c.Bytes, 10), strconv.FormatUint(c.Packets, 10)
		p["dynamic"] = "yes"
		if p["action"] == "" {
			p["action"] = "accept"
		}
		st, _ := e.ex.State.Get(rulePath(v6, table), it.ID)
		flags := "D"
		if st.Invalid {
			flags = "XD"
			p["invalid"] = "yes"
		}
		// The kernel evaluates dynamic rules before the configured ones: print says so.
		rows = append(rows, control.Row{ID: it.ID, Props: p, Flags: flags, First: true})
	}
	return rows
}

// Chains lists the chains of the family's dynamic rules that go into the kernel (the
// display-only rows aside), of every table.
func (d *DynamicRules) Chains(v6 bool) []string {
	var out []string
	for _, t := range tablesOf {
		for _, it := range d.e.dynamicRules(v6, t) {
			if it.counters == nil {
				out = append(out, it.Props["chain"])
			}
		}
	}
	return out
}

// RulesApplied reports whether the family's table, as the firewall applied it last, has
// any rule in the kernel (configured or dynamic; the dummy fasttrack row is none): what a
// fast path that bypasses nftables needs to know before it forwards a packet on its own.
func (d *DynamicRules) RulesApplied(v6 bool) bool {
	d.e.mu.Lock()
	defer d.e.mu.Unlock()
	pl := d.e.applied[v6]
	return pl != nil && len(pl.Counters) > 0
}
