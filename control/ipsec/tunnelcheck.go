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
		if _, ok := e.ex.Tree.Get(path); !ok {
			continue
		}
		for _, cmd := range []string{"add", "set", "enable"} {
			fn, spec, ok := e.ex.Generic(path, cmd)
			if !ok {
				continue
			}
			cmd := cmd
			e.ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
				args, err := control.ArgValues(c, "ipsec-secret", "remote-address", "disabled")
				if err != nil {
					return fn(ctx, c) // the generic command refuses it
				}
				if cmd == "set" && len(args) == 0 {
					return fn(ctx, c)
				}
				var why error
				err = e.ex.View(c.Sess, func(tx *store.Tx) error {
					for _, it := range e.ex.Prospective(tx, c, args) {
						p := it.Props
						if p["ipsec-secret"] == "" || p["disabled"] == "yes" || p["remote-address"] == "" {
							continue
						}
						for _, om := range tunnelMenus {
							others, err := tx.List(om.path)
							if err != nil {
								return err
							}
							for _, o := range others {
								if om.path == path && o.ID == it.ID {
									continue // the row itself (add's new row, ID 0, is no stored row)
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
