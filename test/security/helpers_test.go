package security

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// binDir holds routerd and routerctl, built once by TestMain.
var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.MainInNetns(m, &binDir)) }

// router is one routerd process started by a test (testbin.Router), its services on
// 127.0.0.1.
type router struct {
	*testbin.Router
	t     *testing.T
	data  string
	sock  string
	args  []string       // routerd flags of the next start
	ports map[string]int // /ip service name -> port
}

// newRouter starts routerd on a fresh data dir with extra flags and enables the given
// services on free ports of 127.0.0.1. It is stopped in t.Cleanup.
func newRouter(t *testing.T, services []string, args ...string) *router {
	t.Helper()
	r := startRouter(t, "", args...)
	r.enable(services...)
	return r
}

// startRouter starts routerd on data dir (a fresh one when "") and waits for its console.
func startRouter(t *testing.T, data string, args ...string) *router {
	t.Helper()
	tr := testbin.New(t, binDir, testbin.Options{Data: data})
	r := &router{Router: tr, t: t, data: tr.Opts.Data, sock: tr.Sock, args: args, ports: map[string]int{}}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// start runs routerd with r.args and waits until its console answers; an early exit is
// an error carrying the process's output.
func (r *router) start() error {
	r.Opts.Args = append([]string{"--service-bind", "127.0.0.1"}, r.args...)
	return r.Start()
}

// alive fails the test when routerd has exited.
func (r *router) alive() {
	r.t.Helper()
	if !r.Running() {
		r.t.Fatalf("routerd died: %v\n%s", r.ProcessState(), tail(r.Log.String(), 4000))
	}
	r.must("/system/identity/print")
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func (r *router) stop() { r.Stop() }

// ctl runs routerctl (root's console) with stdin (nil: none) and arguments.
func (r *router) ctl(stdin io.Reader, args ...string) (string, error) { return r.Ctl(stdin, args...) }

// must runs a console command as root and fails the test when it fails.
func (r *router) must(args ...string) string {
	r.t.Helper()
	out, err := r.ctl(nil, args...)
	if err != nil {
		r.t.Fatalf("routerctl %q: %v\n%s", args, err, out)
	}
	return out
}

// script runs src as root through `routerctl -f -` and fails the test when it fails.
func (r *router) script(src string) string {
	r.t.Helper()
	out, err := r.ctl(strings.NewReader(src), "-f", "-")
	if err != nil {
		r.t.Fatalf("routerctl -f -: %v\n%s\nscript:\n%s", err, out, src)
	}
	return out
}

// enable gives each service a free port on 127.0.0.1 and enables it.
func (r *router) enable(services ...string) {
	r.t.Helper()
	var b strings.Builder
	for _, s := range services {
		p := freePort(r.t)
		r.ports[s] = p
		fmt.Fprintf(&b, "/ip service set %s port=%d disabled=no\n", s, p)
	}
	r.script(b.String())
	for _, s := range services {
		waitPort(r.t, r.addr(s))
	}
}

func (r *router) addr(service string) string {
	return fmt.Sprintf("127.0.0.1:%d", r.ports[service])
}

// addUser adds a user in group with a password.
func (r *router) addUser(name, group, password string) {
	r.t.Helper()
	r.must("/user/add", "name="+name, "group="+group, "password="+password)
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

func waitPort(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// telnetClient is a minimal telnet client: it refuses every option the server offers
// and reads text with the protocol bytes taken out.
type telnetClient struct {
	c   net.Conn
	br  *bufio.Reader
	out bytes.Buffer
}

func dialTelnet(t *testing.T, addr string) *telnetClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &telnetClient{c: c, br: bufio.NewReader(c)}
}

// until reads until the text seen so far contains s, or d passes.
func (tc *telnetClient) until(s string, d time.Duration) (string, error) {
	tc.c.SetReadDeadline(time.Now().Add(d))
	defer tc.c.SetReadDeadline(time.Time{})
	for !strings.Contains(tc.out.String(), s) {
		b, err := tc.br.ReadByte()
		if err != nil {
			return tc.out.String(), err
		}
		if b != 255 { // IAC
			tc.out.WriteByte(b)
			continue
		}
		cmd, err := tc.br.ReadByte()
		if err != nil {
			return tc.out.String(), err
		}
		switch cmd {
		case 251, 252, 253, 254: // WILL WONT DO DONT
			opt, _ := tc.br.ReadByte()
			reply := byte(254) // DONT
			if cmd == 253 || cmd == 254 {
				reply = 252 // WONT
			}
			tc.c.Write([]byte{255, reply, opt})
		case 250: // SB ... IAC SE
			for {
				x, err := tc.br.ReadByte()
				if err != nil {
					return tc.out.String(), err
				}
				if x == 255 {
					if y, _ := tc.br.ReadByte(); y == 240 {
						break
					}
				}
			}
		case 255:
			tc.out.WriteByte(255)
		}
	}
	out := tc.out.String()
	tc.out.Reset()
	return out, nil
}

func (tc *telnetClient) send(s string) error {
	_, err := tc.c.Write([]byte(s))
	return err
}

// login answers the login and password prompts and waits for the console prompt.
func (tc *telnetClient) login(t *testing.T, name, password string) {
	t.Helper()
	for _, step := range []struct{ prompt, answer string }{{"Login: ", name}, {"Password: ", password}} {
		if out, err := tc.until(step.prompt, 10*time.Second); err != nil {
			t.Fatalf("telnet: waiting for %q: %v\n%s", step.prompt, err, out)
		}
		tc.send(step.answer + "\r")
	}
	if out, err := tc.until("] > ", 20*time.Second); err != nil {
		t.Fatalf("telnet: no prompt after login: %v\n%s", err, out)
	}
}

// run sends one console line and returns what came back up to the next prompt.
func (tc *telnetClient) run(t *testing.T, line string) string {
	t.Helper()
	if err := tc.send(line + "\r"); err != nil {
		t.Fatal(err)
	}
	out, err := tc.until("] > ", 60*time.Second)
	if err != nil {
		t.Fatalf("telnet %q: %v\n%s", line, err, out)
	}
	return out
}

// console logs in over telnet as name.
func (r *router) console(name, password string) *telnetClient {
	r.t.Helper()
	tc := dialTelnet(r.t, r.addr("telnet"))
	tc.login(r.t, name, password)
	return tc
}
