package ptp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &binDir)) }

func need(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	for _, tool := range []string{"ip", "nsenter", "ptp4l", "pmc", "cc", "strace"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (apt-get install linuxptp iproute2 util-linux gcc strace)", tool)
		}
	}
}

var nsSeq struct {
	sync.Mutex
	n int
}

// topo is a set of namespaces a test built.
type topo struct {
	t    testing.TB
	ns   map[string]string
	addr int
}

func newTopo(t testing.TB, names ...string) *topo {
	t.Helper()
	nsSeq.Lock()
	nsSeq.n++
	seq := nsSeq.n
	nsSeq.Unlock()
	tp := &topo{t: t, ns: map[string]string{}, addr: seq * 4}
	for _, n := range names {
		full := fmt.Sprintf("ptp%d_%d%s", os.Getpid()%100000, seq, n)
		tp.ns[n] = full
		tp.ip("netns", "add", full)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", full).Run() })
	}
	return tp
}

func (tp *topo) ip(args ...string) {
	tp.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		tp.t.Fatalf("ip %v: %v %s", args, err, out)
	}
}

// link joins two namespaces with a veth pair and gives both ends a 198.18/15 address.
func (tp *topo) link(a, ifA, b, ifB string) {
	tp.t.Helper()
	tp.addr++
	net := fmt.Sprintf("198.18.%d", tp.addr)
	tp.ip("-n", tp.ns[a], "link", "add", "name", ifA, "type", "veth", "peer", "name", ifB, "netns", tp.ns[b])
	tp.ip("-n", tp.ns[a], "addr", "add", net+".1/24", "dev", ifA)
	tp.ip("-n", tp.ns[b], "addr", "add", net+".2/24", "dev", ifB)
	tp.ip("-n", tp.ns[a], "link", "set", "dev", ifA, "up")
	tp.ip("-n", tp.ns[b], "link", "set", "dev", ifB, "up")
}

// bridge makes a bridge "br0" in namespace sw (snooping off so PTP multicast floods) and
// connects each node's interface to it; node i gets 198.18.N.(i+1).
func (tp *topo) bridge(sw string, nodes map[string]string) {
	tp.t.Helper()
	tp.addr++
	tp.ip("-n", tp.ns[sw], "link", "add", "name", "br0", "type", "bridge", "mcast_snooping", "0")
	tp.ip("-n", tp.ns[sw], "link", "set", "dev", "br0", "up")
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		port := fmt.Sprintf("sw%d", i)
		tp.ip("-n", tp.ns[sw], "link", "add", "name", port, "type", "veth", "peer", "name", nodes[n], "netns", tp.ns[n])
		tp.ip("-n", tp.ns[sw], "link", "set", "dev", port, "master", "br0", "up")
		tp.ip("-n", tp.ns[n], "addr", "add", fmt.Sprintf("198.18.%d.%d/24", tp.addr, i+1), "dev", nodes[n])
		tp.ip("-n", tp.ns[n], "link", "set", "dev", nodes[n], "up")
	}
}

// router is a routerd in a namespace on the virtual clock (testbin.Router).
type router struct {
	*testbin.Router
	t    testing.TB
	sock string
}

func (tp *topo) routerd(ns string, offset time.Duration, drift int) *router {
	tp.t.Helper()
	return tp.routerdWith(ns, offset, drift, nil)
}

// routerdWith starts routerd with extra flags; tee, when not nil, also gets its output.
func (tp *topo) routerdWith(ns string, offset time.Duration, drift int, tee io.Writer, extra ...string) *router {
	t := tp.t
	t.Helper()
	args := append([]string{"--ptp-clock", "virtual",
		"--ptp-virtual-offset", offset.String(), "--ptp-virtual-drift", strconv.Itoa(drift)}, extra...)
	tr := testbin.Start(t, binDir, testbin.Options{Netns: tp.ns[ns], BPFFS: bpffsDir(t), Args: args, Tee: tee})
	return &router{Router: tr, t: t, sock: tr.Sock}
}

// bpffsDir is a fresh pin folder: a private bpffs mounted on a temporary folder (the
// steering program pins there), unmounted when the test ends; where bpffs cannot be
// mounted, a plain folder (routerd then steers without pins).
func bpffsDir(t testing.TB) string {
	d := filepath.Join(t.TempDir(), "bpf")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("bpf", d, "bpf", 0, "mode=0700"); err != nil {
		t.Logf("no private bpffs (%v): routerd steers without pins", err)
		return d
	}
	t.Cleanup(func() { syscall.Unmount(d, syscall.MNT_DETACH) })
	return d
}

type syncWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (r *router) run(cmd string) string {
	r.t.Helper()
	return r.Must(cmd)
}

// monitor runs `/system ptp monitor NAME once` and returns its fields.
func (r *router) monitor(name string) map[string]string {
	r.t.Helper()
	out, err := r.Ctl(nil, "/system ptp monitor "+name+" once")
	if err != nil {
		if strings.Contains(out, "profile is not running") {
			// The engine's pass that starts the instance has not run yet: no fields,
			// so the callers' conditions (all inside waits) do not hold yet.
			return map[string]string{"error": strings.TrimSpace(out)}
		}
		r.t.Fatalf("/system ptp monitor %s once: %v\n%s", name, err, out)
	}
	f := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}

// num reads "123 ns" or "-5 ppb".
func num(s string) int64 {
	f, _ := strconv.ParseInt(strings.Fields(s + " x")[0], 10, 64)
	return f
}

// ptp4l runs linuxptp in a namespace; its output is kept for the test to read.
type ptp4l struct {
	uds string
	ns  string
	mu  sync.Mutex
	out *bytes.Buffer
}

// ptp4l starts a ptp4l that serves or reads the system clock's time but cannot change
// it: it runs on the virtual clock shim with no offset and no drift (a grandmaster, or
// a free-running slave, then behaves as on the real clock), under strace, which keeps
// any clock-changing system call from the kernel (see ptp4lShim).
func (tp *topo) ptp4l(ns string, args ...string) *ptp4l {
	tp.t.Helper()
	return tp.ptp4lShim(vclockSO(tp.t), ns, 0, 0, args...).ptp4l
}

// startProc starts cmd and, at cleanup, stops it (SIGTERM, then SIGKILL after 5 s) and,
// when the test failed, logs what it printed.
func startProc(t testing.TB, cmd *exec.Cmd, what string, output func() string) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	// A command started in its own process group (strace and what it traces) is
	// stopped as a group.
	pid := cmd.Process.Pid
	if a := cmd.SysProcAttr; a != nil && a.Setpgid {
		pid = -pid
	}
	t.Cleanup(func() {
		syscall.Kill(pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("%s:\n%s", what, output())
		}
	})
}

func (p *ptp4l) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// offsets waits until ptp4l (a free-running slave, which logs no offsets) measures its
// offset from master, then reads n samples of it through pmc.
func (p *ptp4l) offsets(t testing.TB, n int) []int64 {
	t.Helper()
	var out []int64
	eventually(t, 40*time.Second, "ptp4l measures its offset", func() (bool, string) {
		cd := p.pmc(t, "CURRENT_DATA_SET")
		v, err := strconv.ParseFloat(cd["offsetFromMaster"], 64)
		if err != nil || v == 0 || cd["meanPathDelay"] == "0.0" {
			return false, fmt.Sprint(cd)
		}
		out = append(out, int64(v))
		return len(out) >= n, fmt.Sprint(cd)
	})
	return out
}

// pmc asks ptp4l for a data set and returns its fields.
func (p *ptp4l) pmc(t testing.TB, what string, extra ...string) map[string]string {
	t.Helper()
	args := append([]string{"--net=/run/netns/" + p.ns, "pmc", "-u", "-b", "0", "-s", p.uds,
		"-i", filepath.Join(t.TempDir(), "pmc.sock")}, extra...)
	args = append(args, "GET "+what)
	// pmc waits only a moment for ptp4l's answer and then prints nothing: on two loaded
	// cores ptp4l was not scheduled in time (TestInterop/routerd-gm got an empty parent
	// data set). Ask again until an answer comes.
	deadline := time.Now().Add(testbin.WaitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("pmc: %v %s", err, out)
		}
		f := map[string]string{}
		for _, l := range strings.Split(string(out), "\n") {
			fs := strings.Fields(l)
			if len(fs) == 2 {
				f[fs[0]] = fs[1]
			}
		}
		if len(f) > 0 {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("pmc GET %s: no answer from ptp4l in %v: %q", what, testbin.WaitTimeout, out)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pmcID renders a clock identity as pmc prints it: 64d154.fffe.ebadc7.
func pmcID(id string) string {
	h := strings.ToLower(strings.ReplaceAll(id, ":", ""))
	if len(h) != 16 {
		return id
	}
	return h[:6] + "." + h[6:10] + "." + h[10:]
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	// A bound is about liveness, not speed: never below testbin's (CI's two cores are
	// loaded).
	timeout = max(timeout, testbin.WaitTimeout)
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s: not reached in %v; last: %s", what, timeout, last)
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func median(xs []int64) int64 {
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func tryRun(r *router, cmd string) (string, error) { return r.Ctl(nil, cmd) }

func (r *router) output() string { return r.Log.String() }
