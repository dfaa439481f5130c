package sshd

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/service"
	"github.com/routerd/routerd/control/terminal"
)

// Service is the /ip service name logins are made for.
const Service = "ssh"

// HostKeyFile is the host key's file name in the data dir.
const HostKeyFile = "ssh_host_ed25519_key"

// Authenticator checks logins against /user (control/user.Auth).
type Authenticator interface {
	Login(ctx context.Context, name, password string, remote netip.Addr, service string) (*control.Session, error)
	LoginKey(ctx context.Context, name string, key ssh.PublicKey, remote netip.Addr, service string) (*control.Session, error)
}

// Server is the ssh service.
type Server struct {
	Interp  *script.Interp
	Auth    Authenticator
	HostKey ssh.Signer
	// Identity names the router in the prompt (nil: MikroTik).
	Identity func() string
}

// handshakeTimeout bounds the key exchange and login, so that a connection that says
// nothing does not hold a session slot.
const handshakeTimeout = 30 * time.Second

// sessionKey is where the login callbacks leave the executor session.
type sessionKey struct{}

// LoadHostKey reads the host key from dataDir, generating and saving it (0600) when
// there is none yet, so that clients see the same key across restarts.
func LoadHostKey(dataDir string) (ssh.Signer, error) {
	path := filepath.Join(dataDir, HostKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("ssh host key: %w", gerr)
		}
		blk, merr := ssh.MarshalPrivateKey(priv, "routerd")
		if merr != nil {
			return nil, fmt.Errorf("ssh host key: %w", merr)
		}
		b = pem.EncodeToMemory(blk)
		f, ferr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(ferr, fs.ErrExist) {
			// Another start won the race: use its key.
			return LoadHostKey(dataDir)
		}
		if ferr != nil {
			return nil, fmt.Errorf("ssh host key: %w", ferr)
		}
		_, werr := f.Write(b)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return nil, fmt.Errorf("ssh host key: %w", werr)
		}
	} else if err != nil {
		return nil, fmt.Errorf("ssh host key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("ssh host key %s: %w", path, err)
	}
	return signer, nil
}

func (s *Server) config(ctx context.Context) *ssh.ServerConfig {
	remote := func(c ssh.ConnMetadata) netip.Addr {
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			return a.AddrPort().Addr().Unmap()
		}
		return netip.Addr{}
	}
	perms := func(sess *control.Session) *ssh.Permissions {
		return &ssh.Permissions{ExtraData: map[any]any{sessionKey{}: sess}}
	}
	cfg := &ssh.ServerConfig{
		PasswordCallback: func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
			sess, err := s.Auth.Login(ctx, c.User(), string(pw), remote(c), Service)
			if err != nil {
				return nil, err
			}
			return perms(sess), nil
		},
		PublicKeyCallback: func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			sess, err := s.Auth.LoginKey(ctx, c.User(), key, remote(c), Service)
			if err != nil {
				return nil, err
			}
			return perms(sess), nil
		},
		ServerVersion: "SSH-2.0-ROSSSH",
		MaxAuthTries:  6,
	}
	cfg.AddHostKey(s.HostKey)
	return cfg
}

// Serve runs the service on ln until ln fails or ctx ends (then nil).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.HostKey == nil {
		return errors.New("ssh: no host key")
	}
	cfg := s.config(ctx)
	return service.ServeConns(ctx, ln, "ssh", func(ctx context.Context, c net.Conn) { s.serveConn(ctx, cfg, c) })
}

func (s *Server) serveConn(ctx context.Context, cfg *ssh.ServerConfig, c net.Conn) {
	c.SetDeadline(time.Now().Add(min(handshakeTimeout, service.LoginTimeout)))
	sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		slog.Debug("ssh handshake failed", "remote", c.RemoteAddr(), "err", err)
		return
	}
	defer sc.Close()
	c.SetDeadline(time.Time{})
	go ssh.DiscardRequests(reqs)
	login, _ := sc.Permissions.ExtraData[sessionKey{}].(*control.Session)
	if login == nil {
		return
	}
	defer login.End() // off /user active
	service.LoggedIn(c)
	var wg sync.WaitGroup
	defer wg.Wait()
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		// Each channel is a console of its own: print numbers and batches are per
		// console.
		sess := &control.Session{User: login.User, Policies: login.Policies, ShowSensitive: login.ShowSensitive}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The channel's globals and jobs end with it.
			defer sess.End()
			defer func() {
				if p := recover(); p != nil {
					slog.Error("ssh session panicked", "panic", p, "stack", string(debug.Stack()))
					ch.Close()
				}
			}()
			s.session(ctx, ch, creqs, sess)
		}()
	}
}

// session serves one session channel: pty-req, window-change, env, then shell or exec.
func (s *Server) session(ctx context.Context, ch ssh.Channel, reqs <-chan *ssh.Request, sess *control.Session) {
	defer ch.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	t := terminal.New(ch, ch)
	started := false
	done := make(chan uint32, 1)
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				return
			}
			ok = false
			switch req.Type {
			case "pty-req":
				if w, h, good := ptySize(req.Payload); good {
					t.Resize(w, h)
				}
				ok = true
			case "window-change":
				if w, h, good := windowSize(req.Payload); good {
					t.Resize(w, h)
				}
				ok = true
			case "env":
				ok = true
			case "shell":
				if !started {
					started, ok = true, true
					program(done, func() uint32 {
						err := t.Run(ctx, terminal.Shell{Interp: s.Interp, Sess: sess, Identity: s.Identity})
						if err != nil && ctx.Err() == nil {
							return 1
						}
						return 0
					})
				}
			case "exec":
				cmd, good := sshString(req.Payload)
				if !started && good {
					started, ok = true, true
					program(done, func() uint32 { return s.exec(ctx, ch, sess, cmd) })
				}
			}
			if req.WantReply {
				req.Reply(ok, nil)
			}
		case status := <-done:
			ch.SendRequest("exit-status", false, binary.BigEndian.AppendUint32(nil, status))
			return
		case <-ctx.Done():
			return
		}
	}
}

// program runs a session's shell or command beside its request loop and sends its exit
// status to done (which has room for it). The session's goroutine recovers only its own
// panics: a panic in the program (a bug what the user typed hits, in the line editor or
// the interpreter) ends this session with status 1 and a log line, never the daemon.
func program(done chan<- uint32, run func() uint32) {
	go func() {
		status := uint32(1)
		defer func() {
			if p := recover(); p != nil {
				slog.Error("ssh session program panicked", "panic", p, "stack", string(debug.Stack()))
			}
			done <- status
		}()
		status = run()
	}()
}

// exec runs one command line, as `ssh router '/ip service print'` does: output on
// stdout, the RouterOS message on stderr, exit status 1 on error.
func (s *Server) exec(ctx context.Context, ch ssh.Channel, sess *control.Session, cmd string) uint32 {
	con := &script.Console{Sess: sess}
	if err := s.Interp.Run(ctx, con, cmd, ch); err != nil {
		fmt.Fprintln(ch.Stderr(), err.Error())
		return 1
	}
	return 0
}

// sshString reads an RFC 4251 string from the start of p.
func sshString(p []byte) (string, bool) {
	if len(p) < 4 {
		return "", false
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(p)-4) {
		return "", false
	}
	return string(p[4 : 4+n]), true
}

// ptySize reads the width and height of a pty-req (RFC 4254 6.2): TERM string, then
// columns and rows.
func ptySize(p []byte) (int, int, bool) {
	term, ok := sshString(p)
	if !ok {
		return 0, 0, false
	}
	return windowSize(p[4+len(term):])
}

// windowSize reads columns and rows (window-change, RFC 4254 6.7).
func windowSize(p []byte) (int, int, bool) {
	if len(p) < 8 {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint32(p)), int(binary.BigEndian.Uint32(p[4:])), true
}
