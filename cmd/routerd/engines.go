package main

import (
	"context"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/metrics"
	"github.com/routerd/routerd/control/script"
)

// Env is what an engine gets at start: the executor (configuration, state, commands), the
// interpreter (for engines that run scripts), the daemon's options and the metrics
// registry. An engine applies the committed configuration, follows changes through
// ex.Watch, and returns once it has registered; its goroutines end with ctx.
type Env struct {
	Ex      *control.Executor
	Interp  *script.Interp
	Metrics *metrics.Metrics
	DataDir string
	BPFFS   string
	Opts    options
}

// engines start in this order (links before the addresses and tunnels that use them).
// Each subsystem adds one line here.
var engines = []struct {
	name  string
	start func(ctx context.Context, env *Env) error
}{
	{"link", startLinks},
	{"ip", startIP},
	{"management", startManagement},
	{"consoles", startConsoles},
	{"tunnel", startTunnels},
	{"ptp", startPTP},
}

func startEngines(ctx context.Context, env *Env) error {
	for _, e := range engines {
		if err := e.start(ctx, env); err != nil {
			// One subsystem that cannot start must not take the router down: its menus
			// keep their configuration and say why they are not applied.
			slogEngineError(e.name, err)
		}
	}
	return nil
}
