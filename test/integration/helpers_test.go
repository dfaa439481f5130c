package integration

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// binDir holds routerd and routerctl, built once by TestMain.
var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &binDir)) }

func routerdBin() string   { return filepath.Join(binDir, "routerd") }
func routerctlBin() string { return filepath.Join(binDir, "routerctl") }

// router is one routerd process started by a test.
type router struct {
	t       *testing.T
	data    string // data dir
	sock    string // console socket
	bpffs   string
	metrics string // host:port of /metrics
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *bytes.Buffer
}

// newRouter starts routerd on data dir (a fresh one when ""), with its socket and bpffs
// folder in a temp dir, and waits for the console socket. It is stopped in t.Cleanup.
func newRouter(t *testing.T, data string) *router {
	t.Helper()
	tmp := t.TempDir()
	if data == "" {
		data = filepath.Join(tmp, "data")
	}
	r := &router{t: t, data: data, sock: filepath.Join(tmp, "routerd.sock"),
		bpffs: filepath.Join(tmp, "bpf"), metrics: freePort(t)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// start runs routerd and waits until its console answers.
func (r *router) start() {
	r.t.Helper()
	r.log = &bytes.Buffer{}
	r.cmd = exec.Command(routerdBin(), "--data-dir", r.data, "--socket", r.sock,
		"--metrics-listen", r.metrics, "--bpffs", r.bpffs, "--service-bind", "127.0.0.1")
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.exited = make(chan struct{})
	cmd, exited := r.cmd, r.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-exited:
			r.t.Fatalf("routerd exited at start: %v\n%s", cmd.ProcessState, r.log)
		default:
		}
		if c, err := net.DialTimeout("unix", r.sock, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("routerd console socket %s did not appear\n%s", r.sock, r.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *router) kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
}

// stop ends routerd with SIGTERM (SIGKILL if it lingers); a stopped router is left alone.
func (r *router) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	select {
	case <-r.exited:
		return
	default:
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.exited
	}
}

// ctl runs routerctl against r with the given stdin (nil: none) and arguments.
func (r *router) ctl(stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, routerctlBin(), append([]string{"--socket", r.sock}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if stdin != nil {
		cmd.Stdin = stdin
	}
	err = cmd.Run()
	return o.String(), e.String(), err
}

// must runs routerctl and fails the test when it does not succeed.
func (r *router) must(args ...string) string {
	r.t.Helper()
	out, errOut, err := r.ctl(nil, args...)
	if err != nil {
		r.t.Fatalf("routerctl %q: %v\nstdout: %s\nstderr: %s", args, err, out, errOut)
	}
	return out
}

// script runs src through `routerctl -f -`.
func (r *router) script(src string) string {
	r.t.Helper()
	out, errOut, err := r.ctl(strings.NewReader(src), "-f", "-")
	if err != nil {
		r.t.Fatalf("routerctl -f -: %v\nstdout: %s\nstderr: %s", err, out, errOut)
	}
	return out
}

// export returns `/export show-sensitive` without its dated header line.
func (r *router) export() string {
	r.t.Helper()
	out := r.must("/export", "show-sensitive")
	if i := strings.IndexByte(out, '\n'); i >= 0 && strings.HasPrefix(out, "#") {
		out = out[i+1:]
	}
	return out
}

// fetchMetrics returns the body of r's /metrics.
func (r *router) fetchMetrics() string {
	r.t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + r.metrics + "/metrics")
	if err != nil {
		r.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("metrics: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		r.t.Fatalf("metrics: %s\n%s", resp.Status, b)
	}
	return string(b)
}

// copyFile copies src to dst with mode 0600.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkMode fails the test when path's permission bits are not want.
func checkMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %#o, want %#o", path, got, want)
	}
}

// vmRSS returns the VmRSS line value of pid in kB.
func vmRSS(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			var kb int
			fmt.Sscan(f[1], &kb)
			return kb
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}
