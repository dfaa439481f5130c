package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/routerd/routerd/control/apiserver"
	"github.com/routerd/routerd/control/service"
	"github.com/routerd/routerd/control/user"
)

// serviceBind limits the /ip service listeners to one address (tests bind them to
// 127.0.0.1 or a namespace's address); empty listens on all addresses.
var serviceBind = flag.String("service-bind", "", "address the /ip service listeners bind to (empty: all addresses)")

// mgmt is what the management protocols (api, www, ssh, telnet, ftp) plug into: the
// login checker and the /ip service manager. Engines listed after "management" use it
// (mgmt.Services.Register("ssh", ...), mgmt.Auth.Login(...)).
var mgmt struct {
	Auth     *user.Auth
	Services *service.Manager
}

// startManagement applies /user and /ip service and serves the RouterOS API.
func startManagement(ctx context.Context, env *Env) error {
	user.Register(env.Ex, env.DataDir)
	if err := user.Seed(env.Ex, env.DataDir); err != nil {
		return err
	}
	mgmt.Auth = user.NewAuth(env.Ex, env.Metrics.Registry)
	mgmt.Services = service.New(env.Ex, env.DataDir, *serviceBind, env.Metrics.Registry)
	apis := apiserver.New(env.Ex, mgmt.Auth)
	mgmt.Services.Register("api", apis.Protocol("api"))
	mgmt.Services.Register("api-ssl", apis.Protocol("api-ssl"))
	if err := mgmt.Services.Start(ctx); err != nil {
		return fmt.Errorf("services: %w", err)
	}
	return nil
}
