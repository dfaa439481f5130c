package telnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/service"
	"github.com/routerd/routerd/control/terminal"
)

// Service is the /ip service name logins are made for.
const Service = "telnet"

// Authenticator checks logins against /user (control/user.Auth).
type Authenticator interface {
	Login(ctx context.Context, name, password string, remote netip.Addr, service string) (*control.Session, error)
}

// Server is the telnet service.
type Server struct {
	Interp *script.Interp
	Auth   Authenticator
	// Identity names the router in the prompt (nil: MikroTik).
	Identity func() string
}

const (
	// loginTries is how many name/password attempts one connection gets.
	loginTries = 3
	// loginTimeout bounds the login exchange, so that an idle connection does not keep
	// a session slot.
	loginTimeout = time.Minute
)

// Serve runs the service on ln until ln fails or ctx ends (then nil).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return service.ServeConns(ctx, ln, "telnet", s.serveConn)
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	tc := &conn{c: c}
	if _, err := c.Write(tc.dec.Start()); err != nil {
		return
	}
	t := terminal.New(tc, tc)
	tc.resize = t.Resize
	var remote netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		remote = a.AddrPort().Addr().Unmap()
	}
	c.SetDeadline(time.Now().Add(min(loginTimeout, service.LoginTimeout)))
	var sess *control.Session
	for try := 0; try < loginTries && sess == nil; try++ {
		name, err := t.ReadLine("Login: ")
		if err != nil {
			return
		}
		pw, err := t.ReadPassword("Password: ")
		if err != nil {
			return
		}
		sess, err = s.Auth.Login(ctx, strings.TrimSpace(name), pw, remote, Service)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(t, "Login failed, incorrect username or password\n\n")
			sess = nil
		}
	}
	if sess == nil {
		return
	}
	defer sess.End() // off /user active
	service.LoggedIn(c)
	c.SetDeadline(time.Time{})
	err := t.Run(ctx, terminal.Shell{Interp: s.Interp, Sess: sess, Identity: s.Identity})
	if err != nil && ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
		slog.Debug("telnet session ended", "remote", c.RemoteAddr(), "err", err)
	}
}

// conn is the telnet layer over a TCP connection: Read returns data only (commands
// answered on the way), Write escapes IAC.
type conn struct {
	c      net.Conn
	dec    Decoder
	resize func(w, h int)
	buf    [4096]byte
	// pending is decoded data the last Read had no room for.
	pending []byte
	wmu     sync.Mutex
}

func (tc *conn) Read(p []byte) (int, error) {
	if len(tc.pending) > 0 {
		n := copy(p, tc.pending)
		tc.pending = tc.pending[n:]
		return n, nil
	}
	for {
		n, err := tc.c.Read(tc.buf[:])
		if n > 0 {
			data, reply, sizes := tc.dec.Decode(tc.buf[:n])
			if len(reply) > 0 {
				tc.wmu.Lock()
				_, werr := tc.c.Write(reply)
				tc.wmu.Unlock()
				if werr != nil {
					return 0, werr
				}
			}
			for _, sz := range sizes {
				if tc.resize != nil {
					tc.resize(sz.Width, sz.Height)
				}
			}
			if len(data) > 0 {
				k := copy(p, data)
				tc.pending = append(tc.pending[:0], data[k:]...)
				return k, nil
			}
		}
		if err != nil {
			return 0, err
		}
	}
}

func (tc *conn) Write(p []byte) (int, error) {
	tc.wmu.Lock()
	defer tc.wmu.Unlock()
	if _, err := tc.c.Write(Escape(p)); err != nil {
		return 0, err
	}
	return len(p), nil
}
