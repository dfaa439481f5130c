package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/routerd/routerd/control/apiserver"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/service"
	"github.com/routerd/routerd/control/user"
)

// serviceBind limits the /ip service listeners to one address (tests bind them to
// 127.0.0.1 or a namespace's address); empty listens on all addresses.
var serviceBind = flag.String("service-bind", "", "address the /ip service listeners bind to (empty: all addresses)")

func init() {
	flag.DurationVar(&service.LoginTimeout, "login-timeout", service.LoginTimeout,
		"how long a connection to api, telnet, ftp or ssh may take to log in")
}

// managementEngine applies /user and /ip service and serves the RouterOS API. It offers
// the login checker (*user.Auth) and the /ip service manager (*service.Manager) to the
// engines after it, which plug their protocols into them.
func managementEngine(env *Env) engine.Engine {
	return engine.Func(engine.Spec{Name: "management", Menus: []string{service.Path, user.UserPath}},
		func(ctx context.Context, h *engine.Handle) error {
			user.Register(h.Ex, env.DataDir)
			if err := user.Seed(h.Ex, env.DataDir); err != nil {
				return err
			}
			auth := user.NewAuth(h.Ex, h.Metrics)
			svcs := service.New(h.Ex, env.DataDir, *serviceBind, h.Metrics)
			apis := apiserver.New(h.Ex, auth)
			svcs.Register("api", apis.Protocol("api"))
			svcs.Register("api-ssl", apis.Protocol("api-ssl"))
			if err := svcs.Start(ctx); err != nil {
				return fmt.Errorf("services: %w", err)
			}
			engine.Offer(h, auth)
			engine.Offer(h, svcs)
			return nil
		})
}
