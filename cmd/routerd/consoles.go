package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/ftpd"
	"github.com/routerd/routerd/control/rest"
	"github.com/routerd/routerd/control/service"
	"github.com/routerd/routerd/control/sshd"
	"github.com/routerd/routerd/control/telnet"
	"github.com/routerd/routerd/control/user"
)

// consolesEngine plugs www, www-ssl (REST and the status page), telnet, ftp and ssh into
// the /ip service manager that "management" offers; the manager opens their listeners
// as /ip service says.
func consolesEngine(env *Env) engine.Engine {
	return engine.Func(engine.Spec{Name: "consoles"}, func(_ context.Context, h *engine.Handle) error {
		auth, ok1 := engine.Lookup[*user.Auth](h)
		svcs, ok2 := engine.Lookup[*service.Manager](h)
		if !ok1 || !ok2 {
			return errors.New("the management engine did not start")
		}
		id := identity(env.Ex)
		env.ConsoleSession = auth.Console
		for _, svc := range []string{"www", "www-ssl"} {
			s := &rest.Server{Ex: env.Ex, Auth: auth, Service: svc, Identity: id, CRL: func(serial string) ([]byte, bool) {
				// Looked up per request: the certificate engine starts after this one.
				certs, ok := engine.Lookup[*certificate.Store](h)
				if !ok {
					return nil, false
				}
				return certs.PublishedCRL(serial)
			}}
			svcs.Register(svc, s.Serve)
		}
		tn := &telnet.Server{Interp: env.Interp, Auth: auth, Identity: id}
		svcs.Register(telnet.Service, tn.Serve)
		fs := &ftpd.Server{Auth: auth, Dir: filepath.Join(env.DataDir, "files")}
		svcs.Register(ftpd.Service, fs.Serve)
		key, err := sshd.LoadHostKey(env.DataDir)
		if err != nil {
			// Without a host key ssh stays unregistered and /ip service shows it invalid.
			return fmt.Errorf("ssh: %w", err)
		}
		ss := &sshd.Server{Interp: env.Interp, Auth: auth, HostKey: key, Identity: id}
		svcs.Register(sshd.Service, ss.Serve)
		return nil
	})
}
