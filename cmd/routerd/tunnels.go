package main

import (
	"context"

	"github.com/routerd/routerd/control/tunnel"
)

// startTunnels applies /interface gre, eoip, ipip and 6to4 with the eBPF dataplane.
func startTunnels(ctx context.Context, env *Env) error {
	return tunnel.Start(ctx, env.Ex, env.Metrics.Registry, env.BPFFS)
}
