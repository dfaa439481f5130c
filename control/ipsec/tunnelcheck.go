package ipsec

import (
	"context"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// followKey marks the context of the sets that carry a changed ipsec-secret to the
// other tunnels to the same remote (they pass the check: they agree by construction).
type followKey struct{}

// follower is a tunnel that takes a changed ipsec-secret with the one it was set on.
type follower struct {
	path, name string
	id         uint64
	secret     string
}

// registerTunnelChecks refuses a tunnel whose ipsec-secret differs from that of an
// enabled tunnel to the same remote-address: the tunnels to one address share one
// dynamic peer (one IKE SA per address), so only one of them could work. Refusing the
// newcomer keeps the tunnel that works working, also after a restart, where the pass
// alone would have to guess which of the two came first (menu order).
//
// A set of the ipsec-secret on a tunnel that agreed with the others to its remote (a
// GRE and an EoIP to one router, sharing one peer, policy and CHILD SA) changes the
// remote's secret: the same set gives it to those others too, so that they still agree,
// and the shared peer re-keys with it (the daemon deletes an IKE SA whose identity's
// secret changed and initiates again). It was refused ("differs from that of eoip1"),
// so the secret of two tunnels to one remote could not be changed at all (QA). Should a
// follower's set fail, the tunnels disagree and the one left out says why in its status.
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
				if cmd == "set" && len(args) == 0 || ctx.Value(followKey{}) != nil {
					return fn(ctx, c)
				}
				var why error
				var follow []follower
				err = e.ex.View(c.Sess, func(tx *store.Tx) error {
					for _, it := range e.ex.Prospective(tx, c, args) {
						p := it.Props
						if p["ipsec-secret"] == "" || p["disabled"] == "yes" || p["remote-address"] == "" {
							continue
						}
						// The secret this tunnel shares now: a set of it alone (same
						// remote, enabled) takes the tunnels that agree with it along.
						var was map[string]string
						if cmd == "set" {
							if old, err := tx.Get(path, it.ID); err == nil && old.Props["disabled"] != "yes" &&
								old.Props["remote-address"] == p["remote-address"] && old.Props["ipsec-secret"] != "" {
								was = old.Props
							}
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
								if was != nil && op["ipsec-secret"] == was["ipsec-secret"] {
									follow = append(follow, follower{om.path, op["name"], o.ID, p["ipsec-secret"]})
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
				rep, err := fn(ctx, c)
				if err != nil || len(follow) == 0 {
					return rep, err
				}
				fctx := context.WithValue(ctx, followKey{}, true)
				for _, f := range follow {
					s := &control.Sentence{Path: f.path, Cmd: "set", Args: []control.Arg{
						{Name: "numbers", Value: control.FormatID(f.id)}, {Name: "ipsec-secret", Value: f.secret}}}
					if _, ferr := e.ex.Exec(fctx, c.Sess, s); ferr != nil {
						return rep, control.Failure("ipsec-secret set, but %s (same remote-address) did not take it: %v", f.name, ferr)
					}
					e.log.Info("ipsec: ipsec-secret changed for a remote-address: another tunnel to it takes it too", "tunnel", f.name)
				}
				return rep, nil
			})
		}
	}
}
