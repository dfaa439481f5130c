package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/routerd/routerd/control/ftpd"
	"github.com/routerd/routerd/control/rest"
	"github.com/routerd/routerd/control/sshd"
	"github.com/routerd/routerd/control/telnet"
)

// startConsoles plugs www, www-ssl (REST and the status page), telnet, ftp and ssh into
// the /ip service manager that "management" started; the manager opens their listeners
// as /ip service says.
func startConsoles(ctx context.Context, env *Env) error {
	if mgmt.Services == nil || mgmt.Auth == nil {
		return errors.New("the management engine did not start")
	}
	id := identity(env.Ex)
	for _, svc := range []string{"www", "www-ssl"} {
		s := &rest.Server{Ex: env.Ex, Auth: mgmt.Auth, Service: svc, Identity: id}
		mgmt.Services.Register(svc, s.Serve)
	}
	tn := &telnet.Server{Interp: env.Interp, Auth: mgmt.Auth, Identity: id}
	mgmt.Services.Register(telnet.Service, tn.Serve)
	fs := &ftpd.Server{Auth: mgmt.Auth, Dir: filepath.Join(env.DataDir, "files")}
	mgmt.Services.Register(ftpd.Service, fs.Serve)
	key, err := sshd.LoadHostKey(env.DataDir)
	if err != nil {
		// Without a host key ssh stays unregistered and /ip service shows it invalid.
		return fmt.Errorf("ssh: %w", err)
	}
	ss := &sshd.Server{Interp: env.Interp, Auth: mgmt.Auth, HostKey: key, Identity: id}
	mgmt.Services.Register(sshd.Service, ss.Serve)
	return nil
}
