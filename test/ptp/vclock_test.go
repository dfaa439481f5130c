package ptp

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The shim's syscalls that would change a clock: under strace they never reach the
// kernel (EPERM is injected), and any attempt fails the test.
const clockWrites = "clock_adjtime,adjtimex,clock_settime,settimeofday"

// vclockSO builds testdata/vclock.c, once per test binary, into the folder of the
// binaries testbin.Main built.
func vclockSO(t testing.TB) string {
	t.Helper()
	shim.once.Do(func() {
		src, err := filepath.Abs(filepath.Join("testdata", "vclock.c"))
		if err != nil {
			shim.err = err
			return
		}
		shim.path = filepath.Join(binDir, "vclock.so")
		if out, err := exec.Command("cc", "-shared", "-fPIC", "-O2", "-Wall", "-o", shim.path, src, "-ldl").CombinedOutput(); err != nil {
			shim.err = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if shim.err != nil {
		t.Fatalf("building the virtual clock shim: %v", shim.err)
	}
	return shim.path
}

var shim struct {
	once sync.Once
	path string
	err  error
}

// stampedLine is one line of a process's output and when the test read it.
type stampedLine struct {
	at   time.Time
	text string
}

// lineLog keeps each complete line written to it with its arrival time: the lock
// times of routerd and ptp4l are taken the same way, from the output they log per
// servo sample.
type lineLog struct {
	mu    sync.Mutex
	part  []byte
	lines []stampedLine
}

func (l *lineLog) Write(p []byte) (int, error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, stampedLine{now, string(l.part[:i])})
		l.part = l.part[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) snapshot() []stampedLine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]stampedLine(nil), l.lines...)
}

// shimmedPTP4L is a ptp4l on a virtual CLOCK_REALTIME (testdata/vclock.c) started
// offset off and drift ppb fast, under strace, which keeps every clock-changing system
// call from the kernel; the test fails if there was any.
type shimmedPTP4L struct {
	*ptp4l
	lines  *lineLog
	vclock string // the shim's log: real time and true error at each frequency adjustment
}

func (tp *topo) ptp4lShim(so, ns string, offset time.Duration, drift int, args ...string) *shimmedPTP4L {
	t := tp.t
	t.Helper()
	dir := t.TempDir()
	p := &shimmedPTP4L{ptp4l: &ptp4l{uds: filepath.Join(dir, "ptp4l.sock"), ns: tp.ns[ns], out: &bytes.Buffer{}},
		lines: &lineLog{}, vclock: filepath.Join(dir, "vclock.log")}
	trace := filepath.Join(dir, "strace.log")
	full := append([]string{"--net=/run/netns/" + tp.ns[ns],
		"strace", "-f", "-qq", "--seccomp-bpf", "-o", trace, "-e", "trace=" + clockWrites,
		"-e", "inject=" + clockWrites + ":error=EPERM",
		"env", "LD_PRELOAD=" + so, fmt.Sprintf("VCLOCK_OFFSET_NS=%d", offset.Nanoseconds()),
		fmt.Sprintf("VCLOCK_DRIFT_PPB=%d", drift), "VCLOCK_LOG=" + p.vclock,
		"ptp4l", "-m", "-S", "--uds_address", p.uds}, args...)
	cmd := exec.Command("nsenter", full...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w := syncWriter{&p.mu, p.out}
	out := io.MultiWriter(w, p.lines)
	cmd.Stdout, cmd.Stderr = out, out
	// Registered before the process's own cleanup, so it runs after the process ended.
	t.Cleanup(func() {
		b, err := os.ReadFile(trace)
		if err != nil {
			t.Errorf("strace log: %v", err)
			return
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "(") && !strings.Contains(l, "+++") && !strings.Contains(l, "---") {
				t.Errorf("ptp4l under the shim tried to change a clock (blocked): %s", l)
			}
		}
	})
	startProc(t, cmd, fmt.Sprintf("shimmed ptp4l %v", args), p.output)
	return p
}

// servoSample is one servo sample a slave logged: the measured offset from master and
// the servo state (s0, s1, s2).
type servoSample struct {
	at     time.Time
	offset int64
	state  string
}

var ptp4lSample = regexp.MustCompile(`master offset\s+(-?\d+) (s\d) freq`)

// samples reads ptp4l's "master offset N sK freq ..." lines.
func (p *shimmedPTP4L) samples() []servoSample {
	var out []servoSample
	for _, l := range p.lines.snapshot() {
		if m := ptp4lSample.FindStringSubmatch(l.text); m != nil {
			v, _ := strconv.ParseInt(m[1], 10, 64)
			out = append(out, servoSample{l.at, v, m[2]})
		}
	}
	return out
}

// trueErrors reads the shim's log: virtual clock minus real clock (which the
// grandmaster serves) at each frequency adjustment after from.
func (p *shimmedPTP4L) trueErrors(t testing.TB, from, to time.Time) []int64 {
	f, err := os.Open(p.vclock)
	if err != nil {
		t.Fatalf("shim log: %v", err)
	}
	defer f.Close()
	var out []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 2 {
			continue
		}
		at, _ := strconv.ParseInt(fs[0], 10, 64)
		e, _ := strconv.ParseInt(fs[1], 10, 64)
		if ts := time.Unix(0, at); ts.After(from) && ts.Before(to) {
			out = append(out, e)
		}
	}
	return out
}

// realClock reads CLOCK_REALTIME's frequency, tick and status without changing them
// (modes 0 is a read).
func realClock(t testing.TB) (freq, tick int64, status int32) {
	t.Helper()
	var tx unix.Timex
	if _, err := unix.ClockAdjtime(unix.CLOCK_REALTIME, &tx); err != nil {
		t.Fatalf("reading the system clock: %v", err)
	}
	return tx.Freq, tx.Tick, tx.Status
}

// TestVirtualClockShim: ptp4l as a slave on the shim's virtual clock (37 ms off, 100 ppm
// fast) locks to a ptp4l grandmaster and brings its clock's true error down, while
// every clock-changing system call it makes is blocked and reported, and the machine's
// clock keeps its frequency and status.
func TestVirtualClockShim(t *testing.T) {
	need(t)
	t.Parallel()
	so := vclockSO(t)
	f0, tk0, st0 := realClock(t)
	tp := newTopo(t, "g", "s")
	tp.link("g", "gm0", "s", "sl0")
	// The grandmaster runs on the shim too, with no offset or drift: it serves the real
	// clock's time and cannot write to it either.
	tp.ptp4lShim(so, "g", 0, 0, append([]string{"-i", "gm0", "-4", "-E", "--priority1", "100"}, fastGM...)...)
	// One log line per sample (at fast intervals ptp4l otherwise logs a summary a second).
	sl := tp.ptp4lShim(so, "s", 37*time.Millisecond, 100_000, "-i", "sl0", "-4", "-E", "-s", "--summary_interval=-4")
	eventually(t, 60*time.Second, "shimmed ptp4l locks and holds", func() (bool, string) {
		ss := sl.samples()
		held := 0
		for _, s := range ss {
			if s.state == "s2" && abs(s.offset) < 20_000 {
				held++
			} else {
				held = 0
			}
		}
		return held >= 10, fmt.Sprintf("%d samples; %v", len(ss), ss[max(0, len(ss)-3):])
	})
	es := sl.trueErrors(t, time.Now().Add(-2*time.Second), time.Now())
	if len(es) == 0 || abs(es[len(es)-1]) > 50_000 {
		t.Fatalf("virtual clock minus real clock after lock: %v ns (started 37 ms off)", es)
	}
	if f, tk, st := realClock(t); f != f0 || tk != tk0 || st != st0 {
		t.Fatalf("the system clock changed: freq %d tick %d status %#x, was %d %d %#x", f, tk, st, f0, tk0, st0)
	}
	t.Logf("true error of ptp4l's virtual clock after lock: %v ns", es)
}
