package main

import (
	"context"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/ipcfg"
	"github.com/routerd/routerd/control/link"
)

// linkEngine applies /interface, bridges and VLANs (control/link).
func linkEngine() engine.Engine {
	return engine.Func(engine.Spec{Name: "link", Menus: []string{"/interface"}},
		func(ctx context.Context, h *engine.Handle) error {
			_, err := link.Start(ctx, h.Ex)
			return err
		})
}

// ipEngine applies addresses and routes, and serves /ip pool, /ip dns and /ping (control/ipcfg).
func ipEngine() engine.Engine {
	return engine.Func(engine.Spec{Name: "ip", Menus: []string{"/ip/address", "/ipv6/address", "/ip/route", "/ipv6/route", "/ip/pool", "/ip/dns"}},
		func(ctx context.Context, h *engine.Handle) error {
			_, err := ipcfg.Start(ctx, h.Ex)
			return err
		})
}
