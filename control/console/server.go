package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/script"
)

// drainTimeout is how long Serve waits, after ctx ends, for commands in progress to
// notice and return, so that the caller can close the store after it.
const drainTimeout = 5 * time.Second

// Serve accepts console connections on ln until ctx ends, then closes ln and every
// connection, interrupts the commands in progress and waits (a bounded time) for them.
// identity names the router for routerctl's prompt. It returns nil when stopped by ctx.
// Each hook is called with a connection's session and its lifetime (the console lists
// itself in /user active).
func Serve(ctx context.Context, ln net.Listener, in *script.Interp, identity func() string, hooks ...func(context.Context, *control.Session)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	var wg sync.WaitGroup
	var err error
	backoff := 5 * time.Millisecond
	for {
		conn, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil || errors.Is(aerr, net.ErrClosed) {
				if ctx.Err() == nil {
					err = fmt.Errorf("console: %w", aerr)
				}
				break
			}
			// Out of descriptors and the like: wait for connections to end rather
			// than spin.
			slog.Warn("console accept failed", "err", aerr)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			// handle recovers each request's panics; this, the rest of the
			// connection's (its hooks, its replies): the connection ends, not the daemon.
			defer func() {
				if p := recover(); p != nil {
					slog.Error("console connection panicked", "panic", p, "stack", string(debug.Stack()))
				}
			}()
			serveConn(ctx, conn, in, identity, hooks)
		}()
	}
	cancel()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		slog.Warn("console commands still running at shutdown")
	}
	return err
}

// conn is one client connection.
type conn struct {
	c        net.Conn
	in       *script.Interp
	identity func() string
	sess     *control.Session

	wmu sync.Mutex
	enc *json.Encoder

	mu      sync.Mutex
	running context.CancelFunc // the command in progress
}

// item is a request read from the client, or the reason it could not be read.
type item struct {
	req request
	bad string
}

func serveConn(ctx context.Context, nc net.Conn, in *script.Interp, identity func() string, hooks []func(context.Context, *control.Session)) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer nc.Close()
	// Closing the socket is what unblocks a read or a write to a client that has
	// stopped reading.
	go func() {
		<-ctx.Done()
		nc.Close()
	}()
	c := &conn{c: nc, in: in, identity: identity, enc: json.NewEncoder(nc),
		sess: &control.Session{User: User, ShowSensitive: true}}
	// Ending the session drops the globals its lines made.
	defer c.sess.End()
	for _, h := range hooks {
		h(ctx, c.sess)
	}

	items := make(chan item)
	go c.read(ctx, cancel, items)
	for {
		select {
		case it := <-items:
			if it.bad != "" {
				c.send(response{Done: true, Error: it.bad})
				continue
			}
			c.handle(ctx, it.req)
		case <-ctx.Done():
			return
		}
	}
}

// read decodes requests and passes them on, except cancel, which it acts on at once
// since the main loop is busy with the command to cancel. End of input cancels the
// connection and with it the command in progress: the client is gone.
func (c *conn) read(ctx context.Context, cancel context.CancelFunc, items chan<- item) {
	defer cancel()
	// It runs beside the connection's goroutine, outside its recovery: a panic while
	// decoding a request ends the connection (cancel), not the daemon.
	defer func() {
		if p := recover(); p != nil {
			slog.Error("console: internal error reading requests", "panic", p, "stack", string(debug.Stack()))
		}
	}()
	sc := bufio.NewScanner(c.c)
	sc.Buffer(make([]byte, 0, 64<<10), maxRequest)
	pass := func(it item) bool {
		select {
		case items <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			if !pass(item{bad: "bad request: " + err.Error()}) {
				return
			}
			continue
		}
		if req.Op == "cancel" {
			c.mu.Lock()
			if c.running != nil {
				c.running()
			}
			c.mu.Unlock()
			continue
		}
		if !pass(item{req: req}) {
			return
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		// The stream cannot be resynchronised after a line that did not fit. Swallow
		// the rest for a while, so that the client gets to its read and sees why
		// instead of a connection reset.
		pass(item{bad: "bad request: longer than the limit"})
		c.c.SetReadDeadline(time.Now().Add(drainTimeout))
		io.Copy(io.Discard, c.c)
	}
}

func (c *conn) send(r response) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.enc.Encode(r)
}

// handle answers one request; a panic in the interpreter becomes an error reply and a
// log entry, never a dead daemon.
func (c *conn) handle(ctx context.Context, req request) {
	resp := response{Done: true}
	func() {
		defer func() {
			if r := recover(); r != nil {
				slog.Error("console command panicked", "op", req.Op, "panic", r, "stack", string(debug.Stack()))
				resp.Error = fmt.Sprintf("failure: internal error: %v", r)
			}
		}()
		switch req.Op {
		case "run":
			resp.Path, resp.Error = c.run(ctx, req)
		case "help":
			resp.Path = c.menu(req.Path)
			resp.Out = c.in.Help(resp.Path, req.Line)
		case "complete":
			resp.Path = c.menu(req.Path)
			resp.Words = c.in.Complete(resp.Path, req.Line)
		case "identity":
			if c.identity != nil {
				resp.Identity = c.identity()
			}
		default:
			resp.Error = fmt.Sprintf("bad request: unknown op %q", req.Op)
		}
	}()
	c.send(resp)
}

// menu returns path when it names a menu, else root: a client's idea of the current menu
// is not trusted.
func (c *conn) menu(path string) string {
	if _, ok := c.in.Ex.Tree.Get(path); ok {
		return path
	}
	return ""
}

func (c *conn) run(ctx context.Context, req request) (path, errMsg string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.mu.Lock()
	c.running = cancel
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.running = nil
		c.mu.Unlock()
	}()
	con := &script.Console{Sess: c.sess, Path: c.menu(req.Path), Interactive: req.Interactive, Width: req.Width}
	w := &outWriter{c: c, cancel: cancel}
	run := c.in.Run
	if req.File {
		run = c.in.RunFile
	}
	c.sess.V6 = req.V6 // for this run only: the next request says again
	c.sess.Import = req.File
	err := run(ctx, con, req.Src, w)
	if err != nil {
		errMsg = err.Error()
		if errMsg == "" {
			errMsg = "failure"
		}
	}
	return con.Path, errMsg
}

// outWriter streams a command's output as out messages. A client that cannot take it any
// more has gone, and the command is interrupted.
type outWriter struct {
	c      *conn
	cancel context.CancelFunc
}

func (w *outWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	resp := response{Out: string(p)}
	if !utf8.Valid(p) {
		resp = response{Raw: append([]byte(nil), p...)}
	}
	if err := w.c.send(resp); err != nil {
		w.cancel()
		return 0, err
	}
	return len(p), nil
}
