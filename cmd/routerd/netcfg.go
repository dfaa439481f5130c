package main

import (
	"context"

	"github.com/routerd/routerd/control/ipcfg"
	"github.com/routerd/routerd/control/link"
)

// startLinks applies /interface, bridges and VLANs (control/link).
func startLinks(ctx context.Context, env *Env) error {
	_, err := link.Start(ctx, env.Ex)
	return err
}

// startIP applies addresses and routes, and serves /ip pool, /ip dns and /ping (control/ipcfg).
func startIP(ctx context.Context, env *Env) error {
	_, err := ipcfg.Start(ctx, env.Ex)
	return err
}
