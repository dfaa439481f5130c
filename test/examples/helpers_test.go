// Package examples runs the reference's example commands against real routerd processes
// in network namespaces, with real peers: iperf3 through /queue simple, dig against the
// DNS server, rdisc6 against router advertisements, and every example command of the
// manual excerpts outside IPsec and the VPN index.
package examples

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &binDir)) }

func need(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces)")
	}
	for _, tool := range append([]string{"ip", "nsenter"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// in runs a command in namespace ns.
func in(ns string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"--net=/run/netns/" + ns}, args...)...)
}

func runIn(t testing.TB, ns string, args ...string) string {
	t.Helper()
	out, err := in(ns, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// netns makes a namespace with a unique name, deleted at cleanup.
func netns(t testing.TB, tag string) string {
	t.Helper()
	name := fmt.Sprintf("ex%d%s", os.Getpid(), tag)
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	run(t, "ip", "-n", name, "link", "set", "lo", "up")
	return name
}

// veth joins ns a (link an) and ns b (link bn), both up.
func veth(t testing.TB, a, an, b, bn string) {
	t.Helper()
	run(t, "ip", "link", "add", an, "netns", a, "type", "veth", "peer", "name", bn, "netns", b)
	run(t, "ip", "-n", a, "link", "set", an, "up")
	run(t, "ip", "-n", b, "link", "set", bn, "up")
}

type router struct {
	t    testing.TB
	ns   string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

func startRouter(t testing.TB, ns string) *router {
	t.Helper()
	r := &router{t: t, ns: ns, dir: t.TempDir()}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *router) sock() string { return filepath.Join(r.dir, "routerd.sock") }

func (r *router) start() {
	r.t.Helper()
	os.Remove(r.sock())
	r.cmd = exec.Command("nsenter", "--net=/run/netns/"+r.ns, filepath.Join(binDir, "routerd"),
		"--data-dir", filepath.Join(r.dir, "data"), "--socket", r.sock(),
		"--metrics-listen", "127.0.0.1:0", "--bpffs", filepath.Join(r.dir, "bpf"))
	logf, _ := os.Create(filepath.Join(r.dir, "log"))
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func(c *exec.Cmd, d chan struct{}) { c.Wait(); close(d) }(r.cmd, r.done)
	for i := 0; i < 500; i++ {
		if c, err := net.Dial("unix", r.sock()); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatal("routerd did not start")
}

func (r *router) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
	if r.t.Failed() {
		b, _ := os.ReadFile(filepath.Join(r.dir, "log"))
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		r.t.Logf("routerd log (tail):\n%s", b)
	}
}

func (r *router) ctl(args ...string) (string, error) {
	out, err := exec.Command(filepath.Join(binDir, "routerctl"), append([]string{"--socket", r.sock()}, args...)...).CombinedOutput()
	return string(out), err
}

// script runs src as one script (routerctl -f -), as an operator pastes it.
func (r *router) script(src string) (string, error) {
	c := exec.Command(filepath.Join(binDir, "routerctl"), "--socket", r.sock(), "-f", "-")
	c.Stdin = strings.NewReader(src)
	out, err := c.CombinedOutput()
	return string(out), err
}

func (r *router) must(cmd string) string {
	r.t.Helper()
	out, err := r.ctl(cmd)
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return out
}

// eventually retries cond until it holds (the engines apply asynchronously); the bound is
// about liveness, not speed.
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for i := 0; i < 500; i++ {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not reached; last: %s", what, last)
}
