package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// binDir holds routerd and routerctl, built once by TestMain.
var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.MainInNetns(m, &binDir)) }

func routerctlBin() string { return filepath.Join(binDir, "routerctl") }

// router is one routerd process started by a test (testbin.Router), its services bound
// to 127.0.0.1 and its metrics on a port of its own.
type router struct {
	*testbin.Router
	t       *testing.T
	data    string // data dir
	sock    string // console socket
	metrics string // host:port of /metrics
}

// newRouter starts routerd on data dir (a fresh one when ""), with its socket and bpffs
// folder in a temp dir, and waits for the console socket. It is stopped in t.Cleanup.
func newRouter(t *testing.T, data string) *router {
	t.Helper()
	tr := testbin.New(t, binDir, testbin.Options{Data: data, Metrics: freePort(t),
		Args: []string{"--service-bind", "127.0.0.1"}})
	r := &router{Router: tr, t: t, data: tr.Opts.Data, sock: tr.Sock, metrics: tr.Opts.Metrics}
	r.start()
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
	if err := r.Start(); err != nil {
		r.t.Fatal(err)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *router) kill() { r.Kill() }

// stop ends routerd with SIGTERM (SIGKILL if it lingers); a stopped router is left alone.
func (r *router) stop() { r.Stop() }

// ctl runs routerctl against r with the given stdin (nil: none) and arguments.
func (r *router) ctl(stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	return r.CtlSplit(stdin, args...)
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
