package main

import (
	"context"
	"fmt"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/email"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/ipsec"
	"github.com/routerd/routerd/control/metrics"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/tftp"
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
	menus []string // the menus it applies, which say so when it cannot start
}{
	{"link", startLinks, []string{"/interface"}},
	{"ip", startIP, []string{"/ip/address", "/ipv6/address", "/ip/route", "/ipv6/route", "/ip/pool", "/ip/dns"}},
	{"management", startManagement, []string{"/ip/service", "/user"}},
	{"consoles", startConsoles, nil},
	{"tunnel", startTunnels, []string{"/interface/gre", "/interface/eoip", "/interface/ipip", "/interface/6to4"}},
	{"ptp", startPTP, []string{"/system/ptp"}},
	{"scheduler", startScheduler, []string{"/system/scheduler"}},
	{"firewall", func(ctx context.Context, env *Env) error {
		_, err := firewall.Start(ctx, env.Ex, env.Metrics.Registry, firewall.Options{})
		return err
	}, []string{"/ip/firewall", "/ipv6/firewall"}},
	{"e-mail", func(ctx context.Context, env *Env) error {
		_, err := email.Start(ctx, env.Ex, email.Options{DataDir: env.DataDir})
		return err
	}, []string{"/tool/e-mail"}},
	{"ipsec", func(ctx context.Context, env *Env) error {
		_, err := ipsec.Start(ctx, env.Ex, env.Metrics.Registry, ipsec.Options{})
		return err
	}, []string{"/ip/ipsec"}},
	{"tftp", func(ctx context.Context, env *Env) error {
		_, err := tftp.Start(ctx, env.Ex, env.Metrics.Registry, tftp.Options{DataDir: env.DataDir})
		return err
	}, []string{"/ip/tftp"}},
}

func startEngines(ctx context.Context, env *Env) error {
	for _, e := range engines {
		if err := e.start(ctx, env); err != nil {
			// One subsystem that cannot start must not take the router down: its menus
			// keep their configuration and say why they are not applied.
			slogEngineError(e.name, err)
			for _, m := range e.menus {
				env.Ex.EngineFailed(m, fmt.Sprintf("%s engine did not start: %v", e.name, err))
			}
		}
	}
	return nil
}
