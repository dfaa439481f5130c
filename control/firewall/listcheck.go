package firewall

import (
	"context"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// registerListMenu puts the duplicate check in front of the address list's add and set:
// RouterOS refuses a second entry with the same list and address, with or without a
// timeout ("failure: already have such entry").
func (e *Engine) registerListMenu(path string) {
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
					if k[0] == "" || k[1] == "" {
						continue // the generic command reports the missing property
					}
					// Several items set to one list and address collide with each other.
					if seen[k] {
						return control.Failure("already have such entry")
					}
					seen[k] = true
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
