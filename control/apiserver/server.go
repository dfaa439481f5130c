package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/api"
	svc "github.com/routerd/routerd/control/service"
	"github.com/routerd/routerd/control/user"
)

// A connection may stay open without logging in for svc.LoginTimeout: until it does,
// it holds one of the service's sessions for nothing. Logged-in connections may stay
// idle for as long as the client likes.

// Before login a connection may send only short words and sentences: /login with a
// name and a password. Without this, ten strangers sending 16 MiB words pinned about
// half a gigabyte.
const (
	preLoginWord     = 4096
	preLoginSentence = 16384
)

// After login a word may be as long as the longest value a client sends: a /system
// script source, which REST also takes in bodies of up to 1 MiB (/file contents are at
// most 4 KiB, /import takes a file name). A longer word or sentence is read through
// without being kept and refused with a !trap, the connection still in step: the
// protocol's 16 MiB words and 32 MiB sentences would let each logged-in connection
// pin twice that.
const (
	loginWord     = 1<<20 + 256 // a 1 MiB value and its =name=
	loginSentence = 2 << 20
)

// maxRunning bounds the tagged commands one connection may have running at once:
// each is a goroutine (a monitor or a ping may run until cancelled).
const maxRunning = 64

// maxLoginFailures closes a connection after that many failed logins on it.
const maxLoginFailures = 3

// Server runs API connections against one executor.
type Server struct {
	ex   *control.Executor
	auth *user.Auth
	log  *slog.Logger

	mu   sync.Mutex
	subs map[*subscription]bool
}

// New returns a server; it follows every committed change for the listen command.
func New(ex *control.Executor, auth *user.Auth) *Server {
	s := &Server{ex: ex, auth: auth, log: slog.Default().With("service", "api"),
		subs: map[*subscription]bool{}}
	ex.Watch("", s.dispatch)
	return s
}

// Protocol returns the service protocol for api or api-ssl.
func (s *Server) Protocol(service string) func(ctx context.Context, ln net.Listener) error {
	return func(ctx context.Context, ln net.Listener) error {
		return svc.ServeConns(ctx, ln, service, func(ctx context.Context, c net.Conn) { s.ServeConn(ctx, c, service) })
	}
}

// conn is one API connection.
type conn struct {
	s       *Server
	c       net.Conn
	r       *api.Reader
	w       *api.Writer
	service string
	remote  netip.Addr

	sess      *control.Session
	challenge string
	failures  int

	mu      sync.Mutex
	running map[string]*job // by tag; "" for untagged listens
	wg      sync.WaitGroup
}

type job struct {
	cancel   context.CancelFunc
	canceled bool
}

// ServeConn serves one connection until the client closes it, sends /quit, or breaks
// the protocol; c is closed on return.
func (s *Server) ServeConn(ctx context.Context, c net.Conn, service string) {
	s.serve(ctx, c, service, nil)
}

// serve serves a connection; a non-nil sess starts it logged in (the fuzz target, which
// must not spend an argon2 hash on every input).
func (s *Server) serve(ctx context.Context, c net.Conn, service string, sess *control.Session) {
	ctx, cancel := context.WithCancel(ctx)
	cn := &conn{s: s, c: c, r: api.NewReader(c), w: api.NewWriter(c), service: service,
		running: map[string]*job{}, sess: sess}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		cn.remote = a.AddrPort().Addr().Unmap()
	}
	// Closing the connection when ctx ends (routerd stops, the service is disabled)
	// unblocks the reader.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer func() {
		cancel()
		cn.wg.Wait()
		stop()
		c.Close()
		cn.sess.End() // off /user active
	}()
	if sess == nil {
		c.SetReadDeadline(time.Now().Add(svc.LoginTimeout))
		cn.r.SetLimits(preLoginWord, preLoginSentence)
	} else {
		cn.loggedIn()
	}
	for {
		words, err := cn.r.ReadSentence()
		var skipped *api.SkippedError
		if errors.As(err, &skipped) {
			cn.trap(api.Request{API: tagOf(words)}, control.CatAPI, strings.TrimPrefix(err.Error(), "api: "))
			continue
		}
		if err != nil {
			switch {
			case errors.Is(err, io.EOF), ctx.Err() != nil, errors.Is(err, net.ErrClosed):
			case cn.sess == nil && isTimeout(err):
				cn.fatal("login timeout")
			default:
				cn.fatal(err.Error())
			}
			return
		}
		if len(words) == 0 {
			continue
		}
		if !cn.handle(ctx, words) {
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// send writes one reply sentence; a failed write ends the connection through the
// reader, which then fails too.
func (cn *conn) send(words ...string) {
	if err := cn.w.WriteSentence(words...); err != nil {
		cn.c.Close()
	}
}

func (cn *conn) fatal(msg string) {
	cn.send("!fatal", msg)
}

func withTag(words []string, req api.Request) []string {
	if t, ok := req.API[".tag"]; ok && len(words) > 0 {
		// Right after the reply word, where RouterOS puts it (see api.ExecStream).
		return append([]string{words[0], ".tag=" + t}, words[1:]...)
	}
	return words
}

func (cn *conn) trap(req api.Request, cat int, msg string) {
	cn.send(withTag([]string{"!trap", fmt.Sprintf("=category=%d", cat), "=message=" + msg}, req)...)
	cn.send(withTag([]string{"!done"}, req)...)
}

// handle runs one request; false ends the connection.
func (cn *conn) handle(ctx context.Context, words []string) bool {
	req, err := api.ParseRequest(words)
	if err != nil {
		if cn.sess == nil {
			cn.fatal("not logged in")
			return false
		}
		// The sentence was framed correctly, so the stream is still in step. Its tag
		// still names the reply: clients match replies by tag (node-routeros keeps the
		// connection alive with a tagged `#` and waits for that tag).
		cn.trap(api.Request{API: tagOf(words)}, control.CatAPI, err.Error())
		return true
	}
	switch req.Command {
	case "/login":
		return cn.login(ctx, req)
	case "/quit":
		cn.fatal("session terminated on request")
		return false
	}
	if cn.sess == nil {
		cn.fatal("not logged in")
		return false
	}
	if req.Command == "/cancel" {
		cn.cancel(req)
		return true
	}
	tag, tagged := req.API[".tag"]
	streaming := api.Streams(req)
	listen := strings.HasSuffix(req.Command, "/listen")
	if !tagged && !streaming {
		// Untagged replies are matched by order: run in order.
		cn.exec(ctx, req)
		return true
	}
	jctx, cancel := context.WithCancel(ctx)
	j := &job{cancel: cancel}
	cn.mu.Lock()
	if old := cn.running[tag]; old != nil {
		cn.mu.Unlock()
		cancel()
		cn.trap(req, control.CatAPI, "tag is in use by a running command")
		return true
	}
	if cn.live() >= maxRunning {
		cn.mu.Unlock()
		cancel()
		cn.trap(req, control.CatAPI, fmt.Sprintf("too many running commands (at most %d): cancel one first", maxRunning))
		return true
	}
	cn.running[tag] = j
	cn.mu.Unlock()
	cn.wg.Add(1)
	// One goroutine per running command, joined when the connection ends. Commands run
	// through the executor, which recovers their panics; this recovers the API's own
	// part (listen, the rows of a stream), so a bug a client's sentence hits ends that
	// command with a trap, not the daemon.
	go func() {
		defer cn.wg.Done()
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				slog.Error("api: command panicked", "command", req.Command, "panic", p, "stack", string(debug.Stack()))
				cn.trap(req, control.CatFailure, fmt.Sprintf("failure: internal error: %v", p))
				cn.mu.Lock()
				delete(cn.running, tag)
				cn.mu.Unlock()
			}
		}()
		switch {
		case listen:
			cn.listen(jctx, req)
		case streaming:
			cn.stream(jctx, req)
		default:
			cn.exec(jctx, req)
		}
		cn.mu.Lock()
		delete(cn.running, tag)
		cn.mu.Unlock()
	}()
	return true
}

// exec runs a command and sends its replies, or the interrupted trap when /cancel
// stopped it first.
func (cn *conn) exec(ctx context.Context, req api.Request) {
	out := api.Exec(ctx, cn.s.ex, cn.sess, req)
	if ctx.Err() != nil && cn.wasCanceled(req) {
		cn.interrupted(req)
		return
	}
	for _, words := range out {
		cn.send(words...)
	}
}

// stream runs a command that goes on, sending each update's rows as they come, until it
// ends by itself (count, duration, once) or /cancel interrupts it.
func (cn *conn) stream(ctx context.Context, req api.Request) {
	out := api.ExecStream(ctx, cn.s.ex, cn.sess, req, func(words []string) { cn.send(words...) })
	if ctx.Err() != nil && cn.wasCanceled(req) {
		cn.interrupted(req)
		return
	}
	for _, words := range out {
		cn.send(words...)
	}
}

// tagOf finds the .tag word of a sentence that did not parse.
func tagOf(words []string) map[string]string {
	for _, w := range words {
		if t, ok := strings.CutPrefix(w, ".tag="); ok {
			return map[string]string{".tag": t}
		}
	}
	return nil
}

// live counts the running commands not cancelled yet (a cancelled one is ending);
// cn.mu is held.
func (cn *conn) live() int {
	n := 0
	for _, j := range cn.running {
		if !j.canceled {
			n++
		}
	}
	return n
}

func (cn *conn) wasCanceled(req api.Request) bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	j := cn.running[req.API[".tag"]]
	return j != nil && j.canceled
}

func (cn *conn) interrupted(req api.Request) {
	cn.trap(req, control.CatExecute, "interrupted")
}

// cancel stops the command with =tag=, or every running command without it.
func (cn *conn) cancel(req api.Request) {
	tag, one := req.Get("tag")
	cn.mu.Lock()
	found := false
	for t, j := range cn.running {
		if !one || t == tag {
			j.canceled = true
			j.cancel()
			found = true
		}
	}
	cn.mu.Unlock()
	if one && !found {
		cn.trap(req, control.CatMissing, "no such command or tag")
		return
	}
	cn.send(withTag([]string{"!done"}, req)...)
}

// login handles /login: =name= and =password= (RouterOS 6.43+), or the legacy
// challenge. The challenge is issued as RouterOS issued it, but its response is an md5
// over the plain password, which routerd does not keep (only salted hashes), so it is
// refused with a message that says to send the password form.
func (cn *conn) login(ctx context.Context, req api.Request) bool {
	name, hasName := req.Get("name")
	password, hasPassword := req.Get("password")
	_, hasResponse := req.Get("response")
	switch {
	case !hasName && !hasPassword && !hasResponse:
		b := make([]byte, 16)
		rand.Read(b)
		cn.challenge = hex.EncodeToString(b)
		cn.send(withTag([]string{"!done", "=ret=" + cn.challenge}, req)...)
		return true
	case hasResponse && !hasPassword:
		if cn.challenge == "" {
			cn.trap(req, control.CatFailure, "no challenge issued: send /login first")
		} else {
			cn.s.log.Warn(fmt.Sprintf("login failure for user %s from %s via %s: legacy challenge login", name, cn.remote, cn.service))
			cn.trap(req, control.CatFailure, "legacy challenge login is not supported (passwords are stored hashed): log in with =name= and =password=")
		}
		cn.challenge = ""
		return cn.loginFailed()
	}
	sess, err := cn.s.auth.Login(ctx, name, password, cn.remote, cn.service)
	switch {
	case err == nil:
		cn.sess = sess
		svc.LoggedIn(cn.c)
		cn.failures = 0
		cn.c.SetReadDeadline(time.Time{})
		cn.loggedIn()
		cn.send(withTag([]string{"!done"}, req)...)
		return true
	case errors.Is(err, user.ErrDenied), errors.Is(err, user.ErrRateLimited):
		cn.trap(req, control.CatFailure, err.Error())
	default:
		cn.trap(req, control.CatFailure, "failure: "+err.Error())
	}
	return cn.loginFailed()
}

// loggedIn sets the limits of a logged-in connection.
func (cn *conn) loggedIn() {
	cn.r.SetLimits(loginWord, loginSentence)
	cn.r.SetSkip(true)
}

func (cn *conn) loginFailed() bool {
	cn.failures++
	if cn.failures >= maxLoginFailures {
		cn.fatal("too many failed logins")
		return false
	}
	return true
}
