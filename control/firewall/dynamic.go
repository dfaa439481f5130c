package firewall

import (
	"slices"
	"strconv"
	"sync/atomic"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// DynamicRule is a rule another engine adds (flag D in print): IPsec mode-config's
// src-address-list NAT, the IPsec engine's own bypass. Props are those of a rule menu's
// item (chain=, action=, matchers).
type DynamicRule struct {
	V6    bool
	Table string // filter, nat, mangle, raw
	Props map[string]string
}

var running atomic.Pointer[Engine]

// SetDynamic replaces the dynamic rules of owner (an engine's name) and applies them. The
// rules come before the configured ones of their table, as RouterOS lists dynamic rules
// first. It returns false when no firewall engine runs.
func SetDynamic(owner string, rules []DynamicRule) bool {
	e := running.Load()
	if e == nil {
		return false
	}
	e.mu.Lock()
	if e.dynamic == nil {
		e.dynamic = map[string][]DynamicRule{}
	}
	if len(rules) == 0 {
		delete(e.dynamic, owner)
	} else {
		e.dynamic[owner] = slices.Clone(rules)
	}
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return true
}

// dynamicRules returns the dynamic rules of a family and table as items with their ids.
func (e *Engine) dynamicRules(v6 bool, table string) []store.Item {
	e.mu.Lock()
	owners := make([]string, 0, len(e.dynamic))
	for o := range e.dynamic {
		owners = append(owners, o)
	}
	slices.Sort(owners)
	var out []store.Item
	for _, o := range owners {
		for i, r := range e.dynamic[o] {
			if r.V6 != v6 || r.Table != table {
				continue
			}
			key := "rule/" + o + "/" + table + "/" + strconv.FormatBool(v6) + "/" + strconv.Itoa(i)
			id, ok := e.dynIDs[key]
			if !ok {
				id = dynBase + uint64(len(e.dynIDs))
				e.dynIDs[key] = id
			}
			out = append(out, store.Item{ID: id, Props: r.Props})
		}
	}
	e.mu.Unlock()
	return out
}

// dynamicRows shows the dynamic rules of a rule menu with their counters.
func (e *Engine) dynamicRuleRows(v6 bool, table string) []control.Row {
	cs, _ := e.k.Counters(v6, false)
	var rows []control.Row
	for _, it := range e.dynamicRules(v6, table) {
		p := map[string]string{}
		for k, v := range it.Props {
			p[k] = v
		}
		c := cs[CounterName(RuleKey{table, it.ID})]
		p["bytes"], p["packets"] = strconv.FormatUint(c.Bytes, 10), strconv.FormatUint(c.Packets, 10)
		p["dynamic"] = "yes"
		if p["action"] == "" {
			p["action"] = "accept"
		}
		rows = append(rows, control.Row{ID: it.ID, Props: p, Flags: "D"})
	}
	return rows
}
