package ipsec

import (
	"context"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// registerTunnelChecks refuses a tunnel whose ipsec-secret differs from that of an
// enabled tunnel to the same remote-address: the tunnels to one address share one
// dynamic peer (one IKE SA per address), so only one of them could work. Refusing the
// newcomer keeps the tunnel that works working, also after a restart, where the pass
// alone would have to guess which of the two came first (menu order).
func (e *Engine) registerTunnelChecks() {
	for _, tm := range tunnelMenus {
		path := tm.path
		m, ok := e.ex.Tree.Get(path)
		if !ok {
			continue
		}
		for _, cmd := range []string{"add", "set", "enable"} {
			fn, spec, ok := e.ex.Generic(path, cmd)
			if !ok {
				continue
			}
			cmd := cmd
			e.ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
				args := map[string]string{}
				for _, a := range c.S.Args {
					if a.Flag || a.Unset {
						continue
					}
					switch a.Name {
					case "ipsec-secret", "remote-address", "disabled":
						p, _ := m.Prop(a.Name)
						v, err := control.ParseValue(p, a.Value)
						if err != nil {
							return fn(ctx, c) // the generic command refuses it
						}
						args[a.Name] = v
					}
				}
				if cmd == "set" && len(args) == 0 {
					return fn(ctx, c)
				}
				if cmd == "enable" {
					args["disabled"] = "no"
				}
				var why error
				err := e.ex.View(c.Sess, func(tx *store.Tx) error {
					var targets []store.Item
					if cmd == "add" {
						targets = []store.Item{{Props: map[string]string{}}}
					} else {
						ref, _ := c.S.Get("numbers")
						ids, err := e.ex.Resolve(tx, c.Sess, m, ref)
						if err != nil {
							return nil // the generic command reports it
						}
						for _, id := range ids {
							if it, err := tx.Get(path, id); err == nil {
								targets = append(targets, it)
							}
						}
					}
					for _, it := range targets {
						p := map[string]string{}
						for k, v := range it.Props {
							p[k] = v
						}
						for k, v := range args {
							p[k] = v
						}
						if p["ipsec-secret"] == "" || p["disabled"] == "yes" || p["remote-address"] == "" {
							continue
						}
						for _, om := range tunnelMenus {
							others, err := tx.List(om.path)
							if err != nil {
								return err
							}
							for _, o := range others {
								if om.path == path && o.ID == it.ID && cmd != "add" {
									continue
								}
								op := o.Props
								if op["ipsec-secret"] == "" || op["disabled"] == "yes" ||
									op["remote-address"] != p["remote-address"] || op["ipsec-secret"] == p["ipsec-secret"] {
									continue
								}
								why = control.Failure("ipsec-secret differs from that of %s, which has the same remote-address %s (one IPsec peer per address)",
									op["name"], op["remote-address"])
								return nil
							}
						}
					}
					return nil
				})
				if err != nil {
					return nil, err
				}
				if why != nil {
					return nil, why
				}
				return fn(ctx, c)
			})
		}
	}
}
