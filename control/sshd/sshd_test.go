package sshd

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/user"
)

const adminPW, viewerPW = "ssh-admin-pw", "ssh-viewer-pw"

type rig struct {
	ex   *control.Executor
	dir  string
	port string
}

func identity(ex *control.Executor) func() string {
	return func() string {
		m, _ := ex.Tree.Get("/system/identity")
		rows, err := ex.Rows(context.Background(), nil, m, false)
		if err != nil || len(rows) != 1 {
			return ""
		}
		return rows[0].Props["name"]
	}
}

func run(t *testing.T, ex *control.Executor, path, cmd string, args ...string) {
	t.Helper()
	s := &control.Sentence{Path: path, Cmd: cmd}
	for i := 0; i+1 < len(args); i += 2 {
		s.Args = append(s.Args, control.Arg{Name: args[i], Value: args[i+1]})
	}
	if _, err := ex.Exec(context.Background(), nil, s); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
}

func newRig(t *testing.T) *rig {
	t.Helper()
	for _, tool := range []string{"ssh", "sshpass", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install openssh-client sshpass)", tool)
		}
	}
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	user.Register(ex, dir)
	run(t, ex, "/user", "set", "numbers", "admin", "password", adminPW)
	run(t, ex, "/user", "add", "name", "viewer", "group", "read", "password", viewerPW)
	key, err := LoadHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Interp: &script.Interp{Ex: ex, Globals: &script.Globals{}}, Auth: user.NewAuth(ex, nil),
		HostKey: key, Identity: identity(ex)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &rig{ex: ex, dir: dir, port: port}
}

func (r *rig) sshArgs(extra ...string) []string {
	return append([]string{"-p", r.port, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "LogLevel=ERROR", "-o", "ConnectTimeout=20"}, extra...)
}

func TestHostKeyKept(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, HostKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("host key file: %v %v", fi.Mode(), err)
	}
	k2, err := LoadHostKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.PublicKey().Marshal(), k2.PublicKey().Marshal()) {
		t.Fatal("host key changed between starts")
	}
}

// TestExec runs single commands with OpenSSH: public-key and password logins, the
// user's policies applied, errors on stderr with exit status 1.
func TestExec(t *testing.T) {
	r := newRig(t)
	keyFile := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester@test", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, err := os.ReadFile(keyFile + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	run(t, r.ex, "/user/ssh-keys", "add", "user", "admin", "key", strings.TrimSpace(string(pub)))

	// Public key.
	cmd := exec.Command("ssh", r.sshArgs("-i", keyFile, "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"admin@127.0.0.1", "/system identity set name=keyed; /ip service print")...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "www-ssl") || identity(r.ex)() != "keyed" {
		t.Fatalf("ssh with a key: %v\n%s", err, out)
	}

	// Password, read-only user: print works, set is refused.
	cmd = exec.Command("sshpass", append([]string{"-p", viewerPW, "ssh"}, r.sshArgs("viewer@127.0.0.1", "/ip service print count-only")...)...)
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "8" {
		t.Fatalf("viewer print: %v %q", err, out)
	}
	cmd = exec.Command("sshpass", append([]string{"-p", viewerPW, "ssh"}, r.sshArgs("viewer@127.0.0.1", "/system identity set name=nope")...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "not enough permissions") {
		t.Fatalf("viewer set: %v %q", err, stderr.String())
	}
	if identity(r.ex)() != "keyed" {
		t.Fatal("a read-only user changed the identity")
	}

	// Wrong password.
	cmd = exec.Command("sshpass", append([]string{"-p", "wrong", "ssh"}, r.sshArgs("-o", "NumberOfPasswordPrompts=1", "admin@127.0.0.1", "/ip service print")...)...)
	if out, err := cmd.CombinedOutput(); err == nil || strings.Contains(string(out), "www-ssl") {
		t.Fatalf("wrong password accepted: %s", out)
	}
}

// tmux drives an interactive session.
type tmux struct {
	t    *testing.T
	name string
}

func (m *tmux) run(args ...string) string {
	m.t.Helper()
	out, err := exec.Command("tmux", args...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %v: %v %s", args, err, out)
	}
	return string(out)
}

func (m *tmux) screen() string { return m.run("capture-pane", "-p", "-t", m.name) }

// wait polls the screen until it shows want; the deadline only bounds a failing test.
func (m *tmux) wait(want string) {
	m.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := m.screen()
		if strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("screen never showed %q:\n%s", want, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestInteractive logs in with OpenSSH in tmux and uses the console: prompt, commands,
// the prompt following the identity and the menu, Tab completion, Ctrl-C, quit.
func TestInteractive(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	r := newRig(t)
	m := &tmux{t: t, name: fmt.Sprintf("sshd-%d", os.Getpid())}
	sshCmd := "sshpass -p " + adminPW + " ssh -tt " + strings.Join(r.sshArgs("admin@127.0.0.1"), " ") +
		"; echo SSH-EXIT-$?; sleep 60"
	m.run("new-session", "-d", "-s", m.name, "-x", "120", "-y", "40", sshCmd)
	t.Cleanup(func() { exec.Command("tmux", "kill-session", "-t", m.name).Run() })

	m.wait("[admin@MikroTik] >")
	m.run("send-keys", "-t", m.name, "/system identity set name=tmuxed", "Enter")
	m.wait("[admin@tmuxed] >")
	m.run("send-keys", "-t", m.name, "/ip ser", "Tab")
	m.wait("/ip service")
	// Completion added the separating space (tmux trims it from the screen).
	m.run("send-keys", "-t", m.name, "print")
	m.wait("/ip service print")
	m.run("send-keys", "-t", m.name, "Enter")
	m.wait("www-ssl")
	m.run("send-keys", "-t", m.name, "/ip service", "Enter")
	m.wait("[admin@tmuxed] /ip/service>")
	m.run("send-keys", "-t", m.name, "set www port=99999", "Enter")
	m.wait("value of port out of range")
	m.run("send-keys", "-t", m.name, "some typing", "C-c")
	m.run("send-keys", "-t", m.name, "print count-only", "Enter")
	m.wait("\n8")
	m.run("send-keys", "-t", m.name, "/quit", "Enter")
	m.wait("SSH-EXIT-0")
}
