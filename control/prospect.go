package control

import (
	"slices"

	"github.com/routerd/routerd/control/store"
)

// ArgValues returns the values the sentence gives the properties names (of the call's
// menu), parsed as the generic add and set parse them, for a check that runs before the
// generic command. Flags and unset arguments are left out.
func ArgValues(c *Call, names ...string) (map[string]string, error) {
	vals := map[string]string{}
	for _, a := range c.S.Args {
		if a.Flag || a.Unset || !slices.Contains(names, a.Name) {
			continue
		}
		p, ok := c.Menu.Prop(a.Name)
		if !ok {
			continue // checkArgs refused unknown names before the handler ran
		}
		v, err := ParseValue(p, a.Value)
		if err != nil {
			return nil, err
		}
		vals[a.Name] = v
	}
	return vals, nil
}

// Prospective returns the rows an add, set, enable or disable would leave, for a check
// that must see them before the generic command writes them (a duplicate across rows or
// against state outside the store): add's one new row (ID 0) holds vals alone; for the
// other commands each row numbers names holds its props with vals laid over them, and
// enable and disable also set disabled. Only commands on existing rows read tx, so an
// add's check needs no transaction (tx may be nil). A reference that names nothing, and
// rows gone meanwhile, give no rows: the generic command reports them.
func (x *Executor) Prospective(tx *store.Tx, c *Call, vals map[string]string) []store.Item {
	if c.S.Cmd == "add" {
		p := make(map[string]string, len(vals))
		for k, v := range vals {
			p[k] = v
		}
		return []store.Item{{Props: p}}
	}
	ref, _ := c.S.Get("numbers")
	ids, err := x.resolve(tx, c.Sess, c.Menu, ref)
	if err != nil {
		return nil
	}
	var rows []store.Item
	for _, id := range ids {
		it, err := tx.Get(c.Menu.Path, id)
		if err != nil {
			continue
		}
		p := make(map[string]string, len(it.Props)+len(vals)+1)
		for k, v := range it.Props {
			p[k] = v
		}
		for k, v := range vals {
			p[k] = v
		}
		switch c.S.Cmd {
		case "enable":
			p["disabled"] = "no"
		case "disable":
			p["disabled"] = "yes"
		}
		rows = append(rows, store.Item{ID: id, Props: p})
	}
	return rows
}
