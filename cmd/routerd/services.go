package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"

	"github.com/routerd/routerd/control/apiserver"
	"github.com/routerd/routerd/control/certificate"
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
func managementEngine(env *Env) engine.Engine { return &management{env: env} }

type management struct{ env *Env }

// Spec: the service manager follows /ip service itself (its loop also retries ports
// another program held), so the host's pass has nothing to add.
func (m *management) Spec() engine.Spec {
	return engine.Spec{Name: "management", Menus: []string{service.Path, user.UserPath}, Resync: engine.Never}
}

func (m *management) Start(ctx context.Context, h *engine.Handle) error {
	user.Register(h.Ex, m.env.DataDir)
	auth := user.NewAuth(h.Ex, h.Metrics)
	svcs := service.New(h.Ex, m.env.DataDir, *serviceBind, h.Metrics)
	// api-ssl and www-ssl name certificates of /certificate, whose engine starts later.
	svcs.Certs = func(name string) (tls.Certificate, bool) {
		for _, st := range engine.All[*certificate.Store](h) {
			c, ok := st.Get(name)
			if !ok || c.Key == nil {
				continue
			}
			tc := tls.Certificate{PrivateKey: c.Key, Leaf: c.X509}
			for _, x := range st.Chain(c) {
				tc.Certificate = append(tc.Certificate, x.Raw)
			}
			return tc, true
		}
		return tls.Certificate{}, false
	}
	apis := apiserver.New(h.Ex, auth)
	svcs.Register("api", apis.Protocol("api"))
	svcs.Register("api-ssl", apis.Protocol("api-ssl"))
	if err := svcs.Prepare(ctx); err != nil {
		return fmt.Errorf("services: %w", err)
	}
	h.Go(ctx, svcs.Loop) // joined on shutdown; closes the listeners when ctx ends
	engine.Offer(h, auth)
	engine.Offer(h, svcs)
	return nil
}

func (m *management) Reconcile(context.Context) error { return nil }

// TypedItems: /ip service items decode in the service manager (engine.Typed).
func (m *management) TypedItems() map[string]any { return (*service.Manager).TypedItems(nil) }
