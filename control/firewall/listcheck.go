package firewall

import (
	"context"
	"net/netip"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// registerListMenu puts the duplicate check in front of the address list's add and set:
// RouterOS refuses a second entry with the same list and address, with or without a
// timeout ("failure: already have such entry"), also when the entry there is a dynamic
// one a rule added (add-src/dst-to-address-list).
func (e *Engine) registerListMenu(path string) {
	v6 := path == listPath(true)
	m, ok := e.ex.Tree.Get(path)
	if !ok {
		return
	}
	for _, cmd := range []string{"add", "set"} {
		fn, spec, ok := e.ex.Generic(path, cmd)
		if !ok {
			continue
		}
		cmd := cmd
		e.ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			args := map[string]string{}
			for _, a := range c.S.Args {
				if a.Flag || a.Unset || (a.Name != "list" && a.Name != "address") {
					continue
				}
				p, _ := m.Prop(a.Name)
				v, err := control.ParseValue(p, a.Value)
				if err != nil {
					return nil, err
				}
				args[a.Name] = v
			}
			if err := checkListName(args["list"]); err != nil {
				return nil, ruleError(err)
			}
			if cmd == "set" && len(args) == 0 {
				return fn(ctx, c)
			}
			err := e.ex.View(c.Sess, func(tx *store.Tx) error {
				items, err := tx.List(path)
				if err != nil {
					return err
				}
				var targets []store.Item
				if cmd == "add" {
					targets = []store.Item{{Props: map[string]string{}}}
				} else {
					ref, ok := c.S.Get("numbers")
					if !ok {
						return nil // the generic command reports the missing argument
					}
					ids, err := e.ex.Resolve(tx, c.Sess, m, ref)
					if err != nil {
						return nil
					}
					for _, id := range ids {
						if it, err := tx.Get(path, id); err == nil {
							targets = append(targets, it)
						}
					}
				}
				seen := map[[2]string]bool{}
				for _, it := range targets {
					k := [2]string{it.Props["list"], it.Props["address"]}
					if v, ok := args["list"]; ok {
						k[0] = v
					}
					if v, ok := args["address"]; ok {
						k[1] = v
					}
					if k[0] == "" {
						continue // the generic command reports the missing property
					}
					// Several items set to one list and address collide with each other.
					if seen[k] {
						return control.Failure("already have such entry")
					}
					seen[k] = true
					if e.dynamicEntry(v6, k[0], k[1]) {
						return control.Failure("already have such entry")
					}
					for _, o := range items {
						if (cmd == "add" || o.ID != it.ID) && o.Props["list"] == k[0] && o.Props["address"] == k[1] {
							return control.Failure("already have such entry")
						}
					}
				}
				return nil
			})
			if err != nil {
				return nil, err
			}
			return fn(ctx, c)
		})
	}
}

// dynamicEntry reports whether a rule has added address (one host, as a rule adds) to
// list.
func (e *Engine) dynamicEntry(v6 bool, list, address string) bool {
	a, ok := hostAddr(address)
	if !ok {
		return false
	}
	ds, err := e.k.Dynamic(v6)
	if err != nil {
		return false
	}
	for _, d := range ds {
		if d.List == list && d.Addr == a {
			return true
		}
	}
	return false
}

// hostAddr is the one address an address-list value names ("192.0.2.1" or a host
// prefix such as "192.0.2.1/32"); false for networks, ranges and DNS names.
func hostAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.IsSingleIP() {
		return p.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
