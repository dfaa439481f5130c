package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds how long a routerd may take to open its console socket. It is
// about liveness, not speed: CI runs the suite on two loaded cores.
const StartTimeout = 30 * time.Second

// Options say how to run one routerd.
type Options struct {
	// Netns is the network namespace (ip netns name) to run in; "" runs in the test's,
	// which must not be the machine's own (MainInNetns gives the test one).
	Netns string
	// Data is the data dir; "" is a fresh one in the router's scratch folder.
	Data string
	// BPFFS is --bpffs; "" is a folder in the scratch folder.
	BPFFS string
	// Metrics is --metrics-listen; "" is 127.0.0.1:0 (routerd logs the port it got).
	Metrics string
	// Args are more routerd flags; Env more environment (KEY=VALUE).
	Args, Env []string
	// Tee, when not nil, also gets what routerd writes (a test that follows its log).
	Tee io.Writer
}

// Router is one routerd process a test started, stopped at the test's cleanup. Its log
// (stdout and stderr) is kept in Log and printed (the tail) when the test failed.
type Router struct {
	T    testing.TB
	Bin  string // the folder Main built routerd and routerctl into
	Opts Options
	// Dir is the router's scratch folder; Sock its console socket.
	Dir, Sock string
	Log       *Buffer

	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs routerd from the folder bin with opts and waits for its console socket; it
// is stopped (SIGTERM) at cleanup.
func Start(t testing.TB, bin string, opts Options) *Router {
	t.Helper()
	r := New(t, bin, opts)
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	return r
}

// New prepares a Router without starting it (Start runs it); it is stopped at cleanup.
func New(t testing.TB, bin string, opts Options) *Router {
	t.Helper()
	dir := t.TempDir()
	if opts.Data == "" {
		opts.Data = filepath.Join(dir, "data")
	}
	if opts.BPFFS == "" {
		opts.BPFFS = filepath.Join(dir, "bpf")
	}
	if opts.Metrics == "" {
		opts.Metrics = "127.0.0.1:0"
	}
	r := &Router{T: t, Bin: bin, Opts: opts, Dir: dir, Sock: filepath.Join(dir, "routerd.sock")}
	t.Cleanup(r.Stop)
	return r
}

// Start runs routerd (again, after Stop or Kill) and waits until its console answers. It
// fails when routerd exits first or the socket does not open within StartTimeout.
func (r *Router) Start() error {
	os.Remove(r.Sock)
	r.Log = &Buffer{}
	args := []string{"--data-dir", r.Opts.Data, "--socket", r.Sock,
		"--metrics-listen", r.Opts.Metrics, "--bpffs", r.Opts.BPFFS}
	args = append(args, r.Opts.Args...)
	bin := filepath.Join(r.Bin, "routerd")
	if r.Opts.Netns == "" && os.Geteuid() == 0 && inMachineNetns() {
		return errors.New("testbin: routerd would run in the machine's own network namespace: set Options.Netns, or use testbin.MainInNetns")
	}
	if r.Opts.Netns != "" {
		args = append([]string{"--net=/run/netns/" + r.Opts.Netns, bin}, args...)
		bin = "nsenter"
	}
	// A first start seeds admin's password file before the console listens, so a script
	// that waits for the socket can read it (QA: it came up to a second later).
	_, err := os.Stat(filepath.Join(r.Opts.Data, "routerd.db"))
	first := errors.Is(err, fs.ErrNotExist)
	r.cmd = exec.Command(bin, args...)
	var out io.Writer = r.Log
	if r.Opts.Tee != nil {
		out = io.MultiWriter(r.Log, r.Opts.Tee)
	}
	r.cmd.Stdout, r.cmd.Stderr = out, out
	if len(r.Opts.Env) > 0 {
		r.cmd.Env = append(os.Environ(), r.Opts.Env...)
	}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("starting routerd: %w", err)
	}
	r.exited = make(chan struct{})
	cmd, exited := r.cmd, r.exited
	go func() { cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(StartTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("routerd exited at start: %v\n%s", cmd.ProcessState, r.Log)
		default:
		}
		if c, err := net.DialTimeout("unix", r.Sock, time.Second); err == nil {
			c.Close()
			if _, err := os.Stat(filepath.Join(r.Opts.Data, "initial-admin-password")); first && err != nil {
				return fmt.Errorf("console socket open before admin's first password was written: %w", err)
			}
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("routerd's console socket %s did not open in %v\n%s", r.Sock, StartTimeout, r.Log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Running reports whether the process has not exited.
func (r *Router) Running() bool {
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// Exited is closed when the process has exited.
func (r *Router) Exited() <-chan struct{} { return r.exited }

// Pid is the process id (of nsenter's routerd: nsenter execs it).
func (r *Router) Pid() int { return r.cmd.Process.Pid }

// ProcessState is the state of the exited process.
func (r *Router) ProcessState() *os.ProcessState { return r.cmd.ProcessState }

// Stop ends routerd with SIGTERM (SIGKILL after 10 s) and, when the test failed, logs the
// tail of what it wrote. A stopped router is left alone.
func (r *Router) Stop() {
	if !r.Running() {
		return
	}
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
	}
	if r.T.Failed() {
		r.T.Logf("routerd %s log (tail):\n%s", r.Opts.Netns, Tail(r.Log.String(), 8000))
	}
}

// Kill ends routerd with SIGKILL and waits for it to be gone.
func (r *Router) Kill() {
	if !r.Running() {
		return
	}
	r.cmd.Process.Kill()
	<-r.exited
}

// CtlTimeout is how long Ctl and CtlSplit let routerctl run. It is about a hung
// console, not speed: a 10,000-line import took over a minute on two cores at load 40.
const CtlTimeout = 5 * time.Minute

// Ctl runs routerctl against the router with stdin (nil: none) and args, and returns
// what it printed (stdout and stderr). It gives up after CtlTimeout.
func (r *Router) Ctl(stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), CtlTimeout)
	defer cancel()
	out, err := r.ctlCmd(ctx, stdin, args).CombinedOutput()
	return string(out), err
}

// CtlSplit is Ctl with stdout and stderr apart.
func (r *Router) CtlSplit(stdin io.Reader, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), CtlTimeout)
	defer cancel()
	cmd := r.ctlCmd(ctx, stdin, args)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func (r *Router) ctlCmd(ctx context.Context, stdin io.Reader, args []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(r.Bin, "routerctl"), append([]string{"--socket", r.Sock}, args...)...)
	cmd.Stdin = stdin
	return cmd
}

// Must is Ctl without stdin that fails the test on an error.
func (r *Router) Must(args ...string) string {
	r.T.Helper()
	out, err := r.Ctl(nil, args...)
	if err != nil {
		r.T.Fatalf("routerctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Script runs console source through routerctl -f - and fails the test on an error.
func (r *Router) Script(src string) string {
	r.T.Helper()
	out, err := r.Ctl(strings.NewReader(src), "-f", "-")
	if err != nil {
		r.T.Fatalf("routerctl -f: %v\n%s\nsource:\n%s", err, out, src)
	}
	return out
}

// Buffer is a bytes.Buffer a process writes to while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Tail is the last n bytes of s.
func Tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// SettleTimeout bounds how long Settle waits for the engines: generous, for two loaded
// cores, since a pass a kick starts waits as long as the engine's last pass took.
const SettleTimeout = 30 * time.Second

var metricsAddrRE = regexp.MustCompile(`routerd started.* metrics=(\S+)`)

// Settle waits until every engine of the router has read what was committed before it
// was called (routerd_engine_unapplied_changes 0 for each), and fails the test after
// SettleTimeout. A console command returns once its change is committed; the engines
// apply it in passes of their own after that. A test that then makes a peer depend on
// the change (charon initiating to a passive peer just added, a RADIUS client asking
// the User Manager just enabled) calls Settle first instead of racing those passes.
func (r *Router) Settle() {
	r.T.Helper()
	var addr, last string
	deadline := time.Now().Add(SettleTimeout)
	for {
		if addr == "" {
			if m := metricsAddrRE.FindStringSubmatch(r.Log.String()); m != nil {
				addr = m[1]
			}
		}
		if addr != "" {
			pending, out, err := r.unapplied(addr)
			if err == nil && len(pending) == 0 {
				return
			}
			last = fmt.Sprintf("unapplied %v, err %v\n%s", pending, err, out)
		} else {
			last = "routerd has not logged its metrics address (--metrics-listen is off?)"
		}
		if time.Now().After(deadline) {
			r.T.Fatalf("the engines did not apply the committed changes within %v: %s", SettleTimeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Metrics scrapes the router's /metrics at the address it logs once started (which may
// come after its console socket opened: it waits up to StartTimeout for that line).
func (r *Router) Metrics() (string, error) {
	deadline := time.Now().Add(StartTimeout)
	for {
		if m := metricsAddrRE.FindStringSubmatch(r.Log.String()); m != nil {
			return r.scrape(m[1])
		}
		if time.Now().After(deadline) {
			return "", errors.New("routerd has not logged its metrics address (--metrics-listen is off?)")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *Router) scrape(addr string) (string, error) {
	var cmd *exec.Cmd
	args := []string{"curl", "-sf", "--max-time", "10", "http://" + addr + "/metrics"}
	if r.Opts.Netns != "" {
		cmd = In(r.Opts.Netns, args...)
	} else {
		cmd = exec.Command(args[0], args[1:]...)
	}
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("scraping /metrics: %w", err)
	}
	return string(b), nil
}

// unapplied scrapes the router's /metrics at addr: the engines with committed changes
// no pass has read yet. No such metric at all is an error (an old binary would pass).
func (r *Router) unapplied(addr string) (pending []string, out string, err error) {
	b, err := r.scrape(addr)
	if err != nil {
		return nil, "", err
	}
	seen := false
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "routerd_engine_unapplied_changes{") {
			continue
		}
		seen = true
		if i := strings.LastIndexByte(line, ' '); i > 0 && line[i+1:] != "0" {
			pending = append(pending, line)
		}
	}
	if !seen {
		return nil, string(b), errors.New("no routerd_engine_unapplied_changes in /metrics")
	}
	return pending, "", nil
}
