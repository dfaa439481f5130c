package service

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/store"
)

type rig struct {
	ex  *control.Executor
	m   *Manager
	dir string
}

// greet is a protocol that says hello and echoes a line, so a test can tell a served
// connection from a refused one. Its connections count as logged in at once.
func greet(ctx context.Context, ln net.Listener) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer c.Close()
			LoggedIn(c)
			fmt.Fprintf(c, "hello\n")
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				io.WriteString(c, line)
			}
		}()
	}
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	m := New(ex, dir, "127.0.0.1", prometheus.NewRegistry())
	// Only the services under test run: the rest are disabled so the test never binds
	// the well-known ports.
	r := &rig{ex: ex, m: m, dir: dir}
	r.set(t, "[find] disabled=yes")
	for _, s := range []string{"api", "api-ssl", "winbox"} {
		m.Register(s, greet)
	}
	m.Register("winbox", winbox)
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) set(t *testing.T, args string) {
	t.Helper()
	s := &control.Sentence{Path: Path, Cmd: "set"}
	ref, rest, _ := strings.Cut(args, " ")
	if ref == "[find]" {
		ref = "telnet,ftp,www,ssh,www-ssl,api,winbox,api-ssl"
	}
	s.Args = append(s.Args, control.Arg{Name: "numbers", Value: ref})
	for _, kv := range strings.Fields(rest) {
		k, v, _ := strings.Cut(kv, "=")
		s.Args = append(s.Args, control.Arg{Name: k, Value: v})
	}
	if _, err := r.ex.Exec(context.Background(), nil, s); err != nil {
		t.Fatalf("set %s: %v", args, err)
	}
	r.m.reconcile() // what the watcher's wake-up does, without waiting for it
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// served dials the port and reports whether the protocol answered.
func served(t *testing.T, port int) (net.Conn, bool) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, false
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "hello\n" {
		c.Close()
		return nil, false
	}
	c.SetReadDeadline(time.Time{})
	return c, true
}

func (r *rig) state(t *testing.T, name string) control.ItemState {
	t.Helper()
	var id uint64
	r.ex.Store.View(func(tx *store.Tx) error { id, _ = tx.ByName(Path, name); return nil })
	st, _ := r.ex.State.Get(Path, id)
	return st
}

func TestAddressListAndRestart(t *testing.T) {
	r := newRig(t)
	port := freePort(t)
	r.set(t, fmt.Sprintf("api port=%d disabled=no address=198.19.0.0/16,2001:db8::/32", port))
	if c, ok := served(t, port); ok {
		c.Close()
		t.Fatal("connection from outside the address list was served")
	}
	if n := testutil.ToFloat64(r.m.refused.WithLabelValues("api", "acl")); n != 1 {
		t.Fatalf("refused by acl = %v, want 1", n)
	}
	r.set(t, "api address=127.0.0.0/8")
	c, ok := served(t, port)
	if !ok {
		t.Fatal("connection from inside the address list refused")
	}
	c.Close()
	// A new port restarts the listener; the old port closes.
	port2 := freePort(t)
	r.set(t, fmt.Sprintf("api port=%d", port2))
	if _, ok := served(t, port2); !ok {
		t.Fatal("not served on the new port")
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Fatal("old port still listening")
	}
	r.set(t, "api disabled=yes")
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port2)); err == nil {
		c.Close()
		t.Fatal("disabled service still listening")
	}
}

func TestMaxSessions(t *testing.T) {
	r := newRig(t)
	port := freePort(t)
	r.set(t, fmt.Sprintf("api port=%d disabled=no max-sessions=2", port))
	a, ok1 := served(t, port)
	b, ok2 := served(t, port)
	if !ok1 || !ok2 {
		t.Fatal("sessions within max-sessions refused")
	}
	if c, ok := served(t, port); ok {
		c.Close()
		t.Fatal("max-sessions+1 was served")
	}
	if n := testutil.ToFloat64(r.m.refused.WithLabelValues("api", "max-sessions")); n != 1 {
		t.Fatalf("refused by max-sessions = %v", n)
	}
	if n := testutil.ToFloat64(r.m.sessions.WithLabelValues("api")); n != 2 {
		t.Fatalf("sessions gauge = %v", n)
	}
	// Ending a session frees its slot once the server side closes it.
	io.WriteString(a, "bye\n")
	io.ReadAll(a)
	a.Close()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(r.m.sessions.WithLabelValues("api")) != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c, ok := served(t, port)
	if !ok {
		t.Fatal("slot not freed")
	}
	c.Close()
	b.Close()
}

func TestPortInUse(t *testing.T) {
	r := newRig(t)
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := other.Addr().(*net.TCPAddr).Port
	r.set(t, fmt.Sprintf("api port=%d disabled=no", port))
	st := r.state(t, "api")
	if !st.Invalid || !strings.Contains(st.Status, "in use") {
		t.Fatalf("state %+v, want invalid: port in use", st)
	}
	other.Close()
	r.m.reconcile() // the retry tick
	if st := r.state(t, "api"); st.Invalid {
		t.Fatalf("still invalid after the port was freed: %+v", st)
	}
	if c, ok := served(t, port); !ok {
		t.Fatal("not served after retry")
	} else {
		c.Close()
	}
}

func TestTLS(t *testing.T) {
	r := newRig(t)
	port := freePort(t)
	r.set(t, fmt.Sprintf("api-ssl port=%d disabled=no", port))
	fi, err := os.Stat(filepath.Join(r.dir, selfKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("self-signed key: %v %v", fi, err)
	}
	dial := func(minV, maxV uint16) error {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port),
			&tls.Config{InsecureSkipVerify: true, MinVersion: minV, MaxVersion: maxV})
		if err != nil {
			return err
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		if err != nil || line != "hello\n" {
			return fmt.Errorf("greeting %q: %v", line, err)
		}
		return nil
	}
	if err := dial(tls.VersionTLS13, tls.VersionTLS13); err != nil {
		t.Fatalf("tls-version=any refuses TLS 1.3: %v", err)
	}
	r.set(t, "api-ssl tls-version=only-1.2")
	if err := dial(tls.VersionTLS13, tls.VersionTLS13); err == nil {
		t.Fatal("tls-version=only-1.2 accepted TLS 1.3")
	}
	if err := dial(tls.VersionTLS10, tls.VersionTLS11); err == nil {
		t.Fatal("tls-version=only-1.2 accepted TLS 1.1")
	}
	if err := dial(tls.VersionTLS12, tls.VersionTLS13); err != nil {
		t.Fatalf("TLS 1.2 refused: %v", err)
	}
	r.set(t, "api-ssl certificate=nosuch")
	if st := r.state(t, "api-ssl"); !st.Invalid || !strings.Contains(st.Status, "certificate nosuch") {
		t.Fatalf("missing certificate: %+v", st)
	}
	r.set(t, "api-ssl certificate=../service-tls")
	if st := r.state(t, "api-ssl"); !st.Invalid {
		t.Fatalf("certificate outside files/: %+v", st)
	}
	// A named certificate from files/.
	os.MkdirAll(filepath.Join(r.dir, "files"), 0o700)
	crt, _ := os.ReadFile(filepath.Join(r.dir, selfCertFile))
	key, _ := os.ReadFile(filepath.Join(r.dir, selfKeyFile))
	os.WriteFile(filepath.Join(r.dir, "files", "mine.crt"), crt, 0o600)
	os.WriteFile(filepath.Join(r.dir, "files", "mine.key"), key, 0o600)
	r.set(t, "api-ssl certificate=mine")
	if err := dial(tls.VersionTLS12, tls.VersionTLS12); err != nil {
		t.Fatalf("named certificate: %v", err)
	}
}

func TestWinbox(t *testing.T) {
	r := newRig(t)
	port := freePort(t)
	r.set(t, fmt.Sprintf("winbox port=%d disabled=no", port))
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), "not available") {
		t.Fatalf("winbox answered %q", b)
	}
}

func TestNoProtocol(t *testing.T) {
	r := newRig(t)
	r.set(t, fmt.Sprintf("telnet port=%d disabled=no", freePort(t)))
	if st := r.state(t, "telnet"); !strings.Contains(st.Status, "not available") {
		t.Fatalf("telnet without protocol: %+v", st)
	}
}

// Connections from one source that have not logged in hold at most half of
// max-sessions; once logged in they count like any other.
func TestPreLoginShare(t *testing.T) {
	r := newRig(t)
	port := freePort(t)
	r.m.Register("api", func(ctx context.Context, ln net.Listener) error {
		for {
			c, err := ln.Accept()
			if err != nil {
				return err
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "hello\n")
				line, _ := bufio.NewReader(c).ReadString('\n')
				if line == "login\n" {
					LoggedIn(c)
					io.WriteString(c, line)
					bufio.NewReader(c).ReadString('\n')
				}
			}()
		}
	})
	r.set(t, fmt.Sprintf("api port=%d disabled=no max-sessions=4", port))
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 2; i++ {
		c, ok := served(t, port)
		if !ok {
			t.Fatalf("pre-login connection %d of 2 refused", i+1)
		}
		held = append(held, c)
	}
	if c, ok := served(t, port); ok {
		c.Close()
		t.Fatal("a third pre-login connection from one source was served with max-sessions=4")
	}
	if n := testutil.ToFloat64(r.m.refused.WithLabelValues("api", "pre-login")); n != 1 {
		t.Fatalf("refused pre-login = %v", n)
	}
	// Logged in, the first two free the share.
	for _, c := range held {
		io.WriteString(c, "login\n")
		bufio.NewReader(c).ReadString('\n')
	}
	for i := 0; i < 2; i++ {
		c, ok := served(t, port)
		if !ok {
			t.Fatalf("pre-login connection %d after two logins refused", i+1)
		}
		held = append(held, c)
	}
}
