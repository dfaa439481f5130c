package interop

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/apiserver"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/service"
	"github.com/routerd/routerd/control/user"
)

// router is routerd's management side in-process: store, users, /ip service and the API
// server, with only the api service enabled on a free port of bind.
type router struct {
	ex   *control.Executor
	auth *user.Auth
	svc  *service.Manager
	port int
	pw   string
	bind string
}

func newRouter(t *testing.T, bind string) *router {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	user.Register(ex, dir)
	if err := user.Seed(ex, dir); err != nil {
		t.Fatal(err)
	}
	pw, _ := os.ReadFile(filepath.Join(dir, user.InitialPasswordFile))
	r := &router{ex: ex, auth: user.NewAuth(ex, nil), pw: strings.TrimSpace(string(pw)), bind: bind}
	r.svc = service.New(ex, dir, bind, prometheus.NewRegistry())
	srv := apiserver.New(ex, r.auth)
	r.svc.Register("api", srv.Protocol("api"))
	ln, err := net.Listen("tcp", net.JoinHostPort(bind, "0"))
	if err != nil {
		t.Fatal(err)
	}
	r.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r.run(t, "/ip/service", "set", "numbers", "telnet,ftp,www,ssh,www-ssl,winbox,api-ssl", "disabled", "yes")
	r.run(t, "/ip/service", "set", "numbers", "api", "port", fmt.Sprint(r.port))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	if err := r.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.waitListening(t)
	return r
}

func (r *router) run(t *testing.T, path, cmd string, kv ...string) {
	t.Helper()
	s := &control.Sentence{Path: path, Cmd: cmd}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Args = append(s.Args, control.Arg{Name: kv[i], Value: kv[i+1]})
	}
	if _, err := r.ex.Exec(context.Background(), nil, s); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
}

// waitListening waits for the manager to apply the api service's settings.
func (r *router) waitListening(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if a, ok := r.svc.Addr("api"); ok && a.(*net.TCPAddr).Port == r.port {
			return
		}
	}
	t.Fatal("api service did not start")
}

func need(t *testing.T, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Skipf("%s not installed (see .ci/run): %v", bin, err)
	}
	return p
}

func runClient(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestLibrouteros(t *testing.T) {
	py := need(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import librouteros").Run(); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	r := newRouter(t, "127.0.0.1")
	out := runClient(t, py, "librouteros_client.py", "127.0.0.1", fmt.Sprint(r.port), "admin", r.pw)
	if !strings.Contains(out, "OK") {
		t.Fatal(out)
	}
}

func TestNodeClients(t *testing.T) {
	node := need(t, "node")
	if _, err := os.Stat("node/node_modules/node-routeros"); err != nil {
		t.Skip("node modules not installed: run npm ci in test/interop/node (.ci/run does)")
	}
	r := newRouter(t, "127.0.0.1")
	out := runClient(t, node, "node/clients.js", "127.0.0.1", fmt.Sprint(r.port), "admin", r.pw)
	if !strings.Contains(out, "OK") {
		t.Fatal(out)
	}
}

func TestAnsible(t *testing.T) {
	pb := need(t, "ansible-playbook")
	if _, err := os.Stat("/usr/lib/python3/dist-packages/ansible_collections/community/routeros"); err != nil {
		t.Skip("community.routeros collection not installed (Debian package ansible)")
	}
	r := newRouter(t, "127.0.0.1")
	cmd := exec.Command(pb, "-i", "localhost,", "-c", "local", "ansible-playbook.yml",
		"-e", fmt.Sprintf("host=127.0.0.1 api_port=%d user=admin password=%s", r.port, r.pw))
	cmd.Env = append(os.Environ(), "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP="+t.TempDir(), "ANSIBLE_NOCOLOR=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "failed=0") {
		t.Fatalf("ansible-playbook: %v\n%s", err, out)
	}
	var name string
	rows, _ := r.ex.Items("/system/identity")
	if len(rows) == 1 {
		name = rows[0].Props["name"]
	}
	if name != "ansible-router" {
		t.Fatalf("identity after api_modify: %q", name)
	}
}

// TestWrongPasswordsAndMaxSessions uses librouteros: wrong passwords are refused, then
// rate-limited (even the right one), and max-sessions+1 connections are refused.
func TestWrongPasswordsAndMaxSessions(t *testing.T) {
	py := need(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import librouteros").Run(); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	r := newRouter(t, "127.0.0.1")
	r.auth.MaxFailures = 3
	script := `
import sys, socket
from librouteros import connect
from librouteros.exceptions import TrapError, ConnectionClosed
port, pw = int(sys.argv[1]), sys.argv[2]
def login(p):
    try:
        connect(host="127.0.0.1", port=port, username="admin", password=p).close()
        return "ok"
    except TrapError as e:
        return str(e)
    except (ConnectionClosed, OSError) as e:
        return "closed"
print(login("wrong1")); print(login("wrong2")); print(login("wrong3")); print(login(pw))
`
	out := runClient(t, py, "-c", script, fmt.Sprint(r.port), r.pw)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "invalid user name or password") ||
		!strings.Contains(lines[2], "invalid user name or password") || !strings.Contains(lines[3], "too many failed logins") {
		t.Fatalf("wrong passwords:\n%s", out)
	}

	r2 := newRouter(t, "127.0.0.1")
	r2.run(t, "/ip/service", "set", "numbers", "api", "max-sessions", "2")
	script = `
import sys
from librouteros import connect
port, pw = int(sys.argv[1]), sys.argv[2]
held = [connect(host="127.0.0.1", port=port, username="admin", password=pw) for _ in range(2)]
try:
    connect(host="127.0.0.1", port=port, username="admin", password=pw, timeout=20)
    print("third served")
except Exception as e:
    print("third refused:", type(e).__name__)
held[0].close()
`
	// Setting max-sessions does not restart the listener; give the watcher's wake-up a
	// moment by retrying until the third connection is refused.
	var last string
	for i := 0; i < 20; i++ {
		last = runClient(t, py, "-c", script, fmt.Sprint(r2.port), r2.pw)
		if strings.Contains(last, "third refused") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("max-sessions+1: %s", last)
}

// TestConcurrentLoginsOneAddress: twenty librouteros clients logging in at once from
// one address all get in (correct logins are no failed ones, though each counts while
// its check runs), and a stranger's guesses from that address still meet the limit:
// twenty parallel wrong passwords get MaxFailures checks, the rest and then the right
// password are refused as too many failed logins.
func TestConcurrentLoginsOneAddress(t *testing.T) {
	py := need(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import librouteros").Run(); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	r := newRouter(t, "127.0.0.1")
	r.run(t, "/ip/service", "set", "numbers", "api", "max-sessions", "40")
	script := `
import sys, threading
from librouteros import connect
from librouteros.exceptions import TrapError, ConnectionClosed
port, pw = int(sys.argv[1]), sys.argv[2]
def login(p, out, i):
    try:
        api = connect(host="127.0.0.1", port=port, username="admin", password=p, timeout=60)
        out[i] = "ok " + list(api.path("/system/identity"))[0]["name"]
        api.close()
    except TrapError as e:
        out[i] = str(e)
    except (ConnectionClosed, OSError) as e:
        out[i] = "closed " + type(e).__name__
def burst(p):
    out = [None] * 20
    ts = [threading.Thread(target=login, args=(p, out, i)) for i in range(20)]
    for t in ts: t.start()
    for t in ts: t.join()
    return out
for line in burst(pw): print("right:", line)
for line in burst("guess"): print("guess:", line)
out = [None]
login(pw, out, 0)
print("after:", out[0])
`
	out := runClient(t, py, "-c", script, fmt.Sprint(r.port), r.pw)
	var ok, denied, limited int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case strings.HasPrefix(l, "right: ok "):
			ok++
		case strings.HasPrefix(l, "guess:") && strings.Contains(l, "invalid user name or password"):
			denied++
		case strings.HasPrefix(l, "guess:") && strings.Contains(l, "too many failed logins"):
			limited++
		}
	}
	if ok != 20 || denied != user.DefaultMaxFailures || limited != 20-user.DefaultMaxFailures ||
		!strings.Contains(out, "after: too many failed logins") {
		t.Fatalf("want 20 logged in, %d guesses checked and %d refused, then the right password refused; got %d, %d, %d:\n%s",
			user.DefaultMaxFailures, 20-user.DefaultMaxFailures, ok, denied, limited, out)
	}
}

// TestMikronodeLegacyLogin: mikronode-ng (npm), which logs in only with the pre-6.43 MD5
// challenge, gets the challenge (it reads .tag right after the reply word) and then a
// trap saying why the response is refused, instead of crashing on the reply.
func TestMikronodeLegacyLogin(t *testing.T) {
	node := need(t, "node")
	if _, err := os.Stat("node/node_modules/mikronode-ng"); err != nil {
		t.Skip("node modules not installed: run npm ci in test/interop/node (.ci/run does)")
	}
	r := newRouter(t, "127.0.0.1")
	out := runClient(t, node, "node/legacy.js", "127.0.0.1", fmt.Sprint(r.port), "admin", r.pw)
	if !strings.Contains(out, "REFUSED: legacy challenge login is not supported") {
		t.Fatal(out)
	}
}
