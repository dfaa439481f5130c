package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// Path is the menu this package serves.
const Path = menu.EmailPath

// ErrNoServer: neither the settings nor send name an SMTP server.
var ErrNoServer = errors.New("no SMTP server configured")

// maxAttachment bounds one attached file (the files/ folder holds backups and exports).
const maxAttachment = 64 << 20

// Options configure the client.
type Options struct {
	// DataDir holds files/, where file= attachments are read from.
	DataDir string
	// RootCAs verifies the server's certificate; nil means the system's roots.
	RootCAs *x509.CertPool
	// Timeout bounds one delivery (connect to QUIT); 0 means one minute.
	Timeout time.Duration
	// Dial opens the TCP connection (tests dial inside a namespace); nil is net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Settings are one delivery's parameters: the menu's values overridden by send's.
type Settings struct {
	Server, From, User, Password, TLS string
	Port                              int
}

// Message is what send composes.
type Message struct {
	To, Cc        []string
	Subject, Body string
	Files         []Attachment
}

// Attachment is one attached file.
type Attachment struct {
	Name string
	Data []byte
}

// Engine registers the send command and keeps the last delivery's status.
type Engine struct {
	ex   *control.Executor
	opts Options
	ctx  context.Context

	// hosts resolves a server given by name through /ip dns, as RouterOS does (the
	// daemon's shared resolver; the machine's resolv.conf knows nothing of /ip dns).
	hosts *hostname.Resolver

	mu     sync.Mutex
	status string
	wg     sync.WaitGroup
}

// New returns the engine for an engine host.
func New(opts Options) *Engine {
	if opts.Timeout == 0 {
		opts.Timeout = time.Minute
	}
	return &Engine{opts: opts}
}

// Spec declares the menu; there is nothing to converge, so no periodic pass.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "e-mail", Menus: []string{Path}, Resync: engine.Never}
}

// Start registers send and the status source; deliveries end with ctx.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.hosts = hostname.Of(h)
	e.register(ctx, h.Ex)
	return nil
}

// Reconcile has nothing to apply: the settings are read at each send.
func (e *Engine) Reconcile(context.Context) error { return nil }

// Close waits for deliveries under way (their context has ended).
func (e *Engine) Close() error {
	e.wg.Wait()
	return nil
}

func (e *Engine) register(ctx context.Context, ex *control.Executor) {
	e.ex, e.ctx = ex, ctx
	ex.Handle(Path, "send", control.CommandSpec{
		Args: []string{"to", "cc", "subject", "body", "file", "from", "server", "port", "tls", "user", "password"},
	}, e.send)
	ex.Provide(Path, e.source)
}

// Start registers /tool e-mail send on ex without a host (tests). Deliveries end with ctx.
func Start(ctx context.Context, ex *control.Executor, opts Options) (*Engine, error) {
	e := New(opts)
	e.hosts = hostname.New(ex)
	ex.SetEngine(Path, "e-mail")
	e.register(ctx, ex)
	return e, nil
}

// source adds last-status to the settings row.
func (e *Engine) source(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return []control.Row{{Props: map[string]string{"last-status": e.status}}}, nil
}

// Wait blocks until the deliveries under way have ended (tests, shutdown).
func (e *Engine) Wait() { e.wg.Wait() }

// LastStatus is the outcome of the last delivery ("" before the first).
func (e *Engine) LastStatus() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.status
}

func (e *Engine) setStatus(s string) {
	e.mu.Lock()
	e.status = s
	e.mu.Unlock()
}

// send composes the message at once (so a backup saved just before is attached as it is)
// and delivers it in the background.
func (e *Engine) send(ctx context.Context, c *control.Call) (*control.Reply, error) {
	st, err := e.settings(c)
	if err != nil {
		return nil, err
	}
	to, _ := c.S.Get("to")
	msg := Message{To: splitAddrs(to)}
	if cc, ok := c.S.Get("cc"); ok {
		msg.Cc = splitAddrs(cc)
	}
	if len(msg.To)+len(msg.Cc) == 0 {
		return nil, control.ArgError("missing value for argument to")
	}
	for _, a := range append(append([]string{}, msg.To...), msg.Cc...) {
		if _, err := mail.ParseAddress(a); err != nil {
			return nil, control.ArgError("invalid value for argument to: %s", a)
		}
	}
	msg.Subject, _ = c.S.Get("subject")
	msg.Body, _ = c.S.Get("body")
	if f, ok := c.S.Get("file"); ok && f != "" {
		for _, name := range strings.Split(f, ",") {
			a, err := e.readFile(strings.TrimSpace(name))
			if err != nil {
				return nil, err
			}
			// Backups and exported private keys leave the router only for who may
			// see secrets, as /file print and FTP treat them (control.SecretFile).
			if control.SecretFile(a.Name, a.Data) && !c.Sess.Can("sensitive") {
				return nil, control.ErrPermission
			}
			msg.Files = append(msg.Files, a)
		}
	}
	raw, err := Compose(st.From, msg, time.Now())
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	rcpts := append(append([]string{}, msg.To...), msg.Cc...)
	e.setStatus("sending")
	e.wg.Add(1)
	// Joined by the engine's Close. It reads the SMTP server's answers: a panic there
	// fails this message only.
	go func() {
		defer e.wg.Done()
		defer func() {
			if p := recover(); p != nil {
				e.setStatus(fmt.Sprintf("failed: internal error: %v", p))
				slog.Error("e-mail: internal error sending", "topics", "e-mail,error", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		dctx, cancel := context.WithTimeout(e.ctx, e.opts.Timeout)
		defer cancel()
		if err := e.Deliver(dctx, st, rcpts, raw); err != nil {
			e.setStatus("failed: " + err.Error())
			slog.Error("e-mail: sending failed", "topics", "e-mail,error", "to", strings.Join(rcpts, ","), "err", err)
			return
		}
		e.setStatus("sent")
		slog.Info("e-mail: sent", "topics", "e-mail,info", "to", strings.Join(rcpts, ","), "subject", msg.Subject)
	}()
	return &control.Reply{Menu: c.Menu}, nil
}

// settingsItem is what the /tool e-mail item decodes into (engine.Decode).
type settingsItem struct {
	Server   string `prop:"server"`
	Port     int    `prop:"port"`
	TLS      string `prop:"tls"`
	From     string `prop:"from"`
	User     string `prop:"user"`
	Password string `prop:"password"`
}

// TypedItems names the struct the menu's item decodes into (engine.Typed).
func (e *Engine) TypedItems() map[string]any { return map[string]any{Path: settingsItem{}} }

// settings reads the menu's values and applies send's overrides.
func (e *Engine) settings(c *control.Call) (Settings, error) {
	s := c.S
	st := Settings{Server: "0.0.0.0", Port: 25, TLS: "no", From: "<>"}
	// Read through the caller's session: a script that sets the server and then sends in
	// one unit sees its own set.
	var items []store.Item
	err := c.Ex.View(c.Sess, func(tx *store.Tx) error {
		var err error
		items, err = tx.List(Path)
		return err
	})
	if err != nil {
		return st, err
	}
	if len(items) > 0 {
		m, _ := c.Ex.Tree.Get(Path)
		var it settingsItem
		if err := engine.Decode(m, items[0], &it); err != nil {
			return st, control.Failure("%s: %v", Path, err)
		}
		st.Server, st.Port, st.TLS, st.From, st.User, st.Password = it.Server, it.Port, it.TLS, it.From, it.User, it.Password
	}
	for k, dst := range map[string]*string{"server": &st.Server, "from": &st.From, "user": &st.User,
		"password": &st.Password, "tls": &st.TLS} {
		if v, ok := s.Get(k); ok {
			*dst = v
		}
	}
	if v, ok := s.Get("port"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 65535 {
			return st, control.ArgError("value of port out of range (1..65535)")
		}
		st.Port = n
	}
	switch st.TLS {
	case "no", "yes", "starttls":
	default:
		return st, control.ArgError("input does not match any value of tls")
	}
	if st.Server == "" || st.Server == "0.0.0.0" || st.Server == "::" {
		return st, control.Failure("%v", ErrNoServer)
	}
	return st, nil
}

// readFile reads an attachment from files/, never outside it.
func (e *Engine) readFile(name string) (Attachment, error) {
	root, err := os.OpenRoot(filepath.Join(e.opts.DataDir, "files"))
	if err != nil {
		return Attachment{}, control.Failure("no such file %s", name)
	}
	defer root.Close()
	f, err := root.Open(strings.TrimPrefix(name, "/"))
	if err != nil {
		return Attachment{}, control.Failure("no such file %s", name)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAttachment+1))
	if err != nil {
		return Attachment{}, control.Failure("cannot read %s: %v", name, err)
	}
	if len(b) > maxAttachment {
		return Attachment{}, control.Failure("%s is larger than %d bytes", name, maxAttachment)
	}
	return Attachment{Name: filepath.Base(name), Data: b}, nil
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Compose writes the message as MIME: a text part with the body and one base64 part per
// attachment.
func Compose(from string, m Message, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	for _, v := range []string{from, m.Subject} {
		if strings.ContainsAny(v, "\r\n") {
			return nil, errors.New("header value holds a line break")
		}
	}
	for _, a := range append(append([]string{}, m.To...), m.Cc...) {
		if strings.ContainsAny(a, "\r\n") {
			return nil, errors.New("address holds a line break")
		}
	}
	h("From", from)
	h("To", strings.Join(m.To, ", "))
	if len(m.Cc) > 0 {
		h("Cc", strings.Join(m.Cc, ", "))
	}
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", now.Format(time.RFC1123Z))
	var id [12]byte
	rand.Read(id[:])
	h("Message-ID", "<"+hex.EncodeToString(id[:])+"@routerd>")
	h("MIME-Version", "1.0")
	mw := multipart.NewWriter(&b)
	h("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	b.WriteString("\r\n")
	tp, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=utf-8"},
		"Content-Transfer-Encoding": {"8bit"},
	})
	if err != nil {
		return nil, err
	}
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	io.WriteString(tp, body+"\r\n")
	for _, a := range m.Files {
		ap, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {mime.FormatMediaType("application/octet-stream", map[string]string{"name": a.Name})},
			"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
			"Content-Transfer-Encoding": {"base64"},
		})
		if err != nil {
			return nil, err
		}
		enc := base64.StdEncoding.EncodeToString(a.Data)
		for len(enc) > 76 {
			io.WriteString(ap, enc[:76]+"\r\n")
			enc = enc[76:]
		}
		io.WriteString(ap, enc+"\r\n")
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Deliver sends raw to rcpts through the server of st.
func (e *Engine) Deliver(ctx context.Context, st Settings, rcpts []string, raw []byte) error {
	host := st.Server
	if _, err := netip.ParseAddr(host); err != nil && e.hosts != nil {
		ips, err := e.hosts.Lookup(ctx, "ip", host)
		if err == nil && len(ips) == 0 {
			err = errors.New("no address")
		}
		if err != nil {
			return fmt.Errorf("cannot resolve server %s: %w", host, err)
		}
		host = ips[0].String()
	}
	addr := net.JoinHostPort(host, strconv.Itoa(st.Port))
	dial := e.opts.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	tcfg := &tls.Config{ServerName: st.Server, RootCAs: e.opts.RootCAs, MinVersion: tls.VersionTLS12}
	if st.TLS == "yes" {
		tc := tls.Client(conn, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS with %s: %w", addr, err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, st.Server)
	if err != nil {
		return fmt.Errorf("greeting from %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello("routerd"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	if st.TLS == "starttls" {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("server does not offer STARTTLS")
		}
		if err := c.StartTLS(tcfg); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if st.User != "" {
		ok, mechs := c.Extension("AUTH")
		if !ok {
			return errors.New("server does not offer AUTH")
		}
		if _, isTLS := c.TLSConnectionState(); !isTLS {
			return errCleartext
		}
		if err := authenticate(c, mechs, st.User, st.Password); err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
	}
	from := st.From
	if pa, err := mail.ParseAddress(from); err == nil {
		from = pa.Address
	} else if from == "<>" {
		from = ""
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("MAIL FROM: %w", err)
	}
	for _, r := range rcpts {
		if pa, err := mail.ParseAddress(r); err == nil {
			r = pa.Address
		}
		if err := c.Rcpt(r); err != nil {
			return fmt.Errorf("RCPT TO %s: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return c.Quit()
}

func hasMech(list, m string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, m) {
			return true
		}
	}
	return false
}

// errCleartext refuses to send credentials without TLS: RouterOS servers on the same
// link are the only exception worth making, and they can offer STARTTLS.
var errCleartext = errors.New("refusing to send the password without TLS (set tls=starttls or tls=yes)")

// authenticate runs AUTH PLAIN (RFC 4616) or, when the server offers only that, AUTH
// LOGIN. It speaks the exchange itself: net/smtp answers a rejected AUTH with "*" and
// waits for a reply some servers never send.
func authenticate(c *smtp.Client, mechs, user, pass string) error {
	b64 := base64.StdEncoding.EncodeToString
	step := func(expect int, format string, args ...any) error {
		id, err := c.Text.Cmd(format, args...)
		if err != nil {
			return err
		}
		c.Text.StartResponse(id)
		defer c.Text.EndResponse(id)
		_, _, err = c.Text.ReadResponse(expect)
		return err
	}
	switch {
	case hasMech(mechs, "PLAIN"):
		return step(235, "AUTH PLAIN %s", b64([]byte("\x00"+user+"\x00"+pass)))
	case hasMech(mechs, "LOGIN"):
		if err := step(334, "AUTH LOGIN"); err != nil {
			return err
		}
		if err := step(334, "%s", b64([]byte(user))); err != nil {
			return err
		}
		return step(235, "%s", b64([]byte(pass)))
	}
	return fmt.Errorf("server offers neither PLAIN nor LOGIN (%s)", mechs)
}
