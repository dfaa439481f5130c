package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/arp"
	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/control/dns"
	"github.com/routerd/routerd/control/email"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/fastpath"
	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/ipcfg"
	"github.com/routerd/routerd/control/ipsec"
	"github.com/routerd/routerd/control/ipsettings"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/metrics"
	"github.com/routerd/routerd/control/nd"
	"github.com/routerd/routerd/control/queue"
	"github.com/routerd/routerd/control/radius"
	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/control/scheduler"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/tftp"
	"github.com/routerd/routerd/control/tunnel"
	"github.com/routerd/routerd/control/usermanager"
)

// Env is what the registration list builds engines from: the executor (configuration,
// state, commands), the interpreter (for engines that run scripts), the daemon's options
// and the metrics registry.
type Env struct {
	Ex     *control.Executor
	Interp *script.Interp
	// Hosts resolves host names through /ip dns (:resolve, and the engines through
	// the hostname engine).
	Hosts   *hostname.Resolver
	Metrics *metrics.Metrics
	DataDir string
	BPFFS   string
	Opts    options
	// Events is the /log buffer that /system logging routes entries to.
	Events *eventlog.Buffer
	// ConsoleSession, set by the consoles engine, lists a console connection in
	// /user active.
	ConsoleSession func(context.Context, *control.Session)
}

// engines is the registration list: one line per engine, started in this order (links
// before the addresses and tunnels that use them; management before the consoles that
// plug into its /ip service manager). docs/architecture.md says how to write one.
func engines(env *Env) []engine.Engine {
	return []engine.Engine{
		hostname.NewEngine(env.Hosts), // before the engines that resolve names (logging's remote=)
		eventlog.NewEngine(env.Events, env.DataDir),
		link.New(),
		ipcfg.New(),
		ipsettings.New(ipsettings.Options{}),
		arp.New(nil),
		managementEngine(env),
		consolesEngine(env),
		tunnel.New(env.BPFFS),
		fastpath.New(),
		ptpEngine(env),
		scheduler.New(env.Interp, scheduler.SystemClock{}, time.Now()),
		routing.New(routing.Options{}),
		firewall.New(firewall.Options{}),
		dns.New(dns.Options{}),
		nd.New(),
		queue.New(queue.Options{}),
		email.New(email.Options{DataDir: env.DataDir}),
		certificate.New(certificate.Options{DataDir: env.DataDir}),
		// RADIUS before the services that ask it (IPsec's eap-radius).
		radius.New(),
		usermanager.New(usermanager.Options{}),
		ipsec.New(ipsec.Options{}),
		tftp.New(tftp.Options{DataDir: env.DataDir}),
	}
}

// startEngines starts every engine on one host; Stop on the host ends them all. An
// engine the host refuses (its Spec names an undeclared menu: TestEnginesNameDeclaredMenus
// keeps that out of a build) is logged and its menus say why; the others run.
func startEngines(ctx context.Context, env *Env) *engine.Host {
	h := engine.New(env.Ex, env.Metrics.Registry)
	for _, e := range engines(env) {
		h.Register(e)
	}
	if err := h.Start(ctx); err != nil {
		slog.Error("engines not started", "err", err)
	}
	return h
}
