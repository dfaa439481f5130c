package main

import (
	"context"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/tunnel"
)

// tunnelEngine applies /interface gre, eoip, ipip and 6to4 with the eBPF dataplane.
func tunnelEngine(env *Env) engine.Engine {
	return engine.Func(engine.Spec{Name: "tunnel", Menus: []string{"/interface/gre", "/interface/eoip", "/interface/ipip", "/interface/6to4"}},
		func(ctx context.Context, h *engine.Handle) error {
			return tunnel.Start(ctx, h.Ex, h.Metrics, env.BPFFS)
		})
}
