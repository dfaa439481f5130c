package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/ptp/clock"
	"github.com/routerd/routerd/ptp/node"
	"github.com/routerd/routerd/ptp/steer"
	"github.com/routerd/routerd/ptp/ts"
)

// fakeSystem is the machine of the engine's plan: interfaces (some bridge ports, some
// with a PHC), instances that run until stopped, and the steering program. Every call
// with an effect is recorded in calls, in the order the engine made it.
type fakeSystem struct {
	mu      sync.Mutex
	calls   []string
	bridged map[string]bool
	phc     map[string]int // interfaces timestamping in hardware, with their PHC
	// failures: NewNode of the named instance, OpenSteer, OpenPHC of any index
	nodeErr  map[string]error
	steerErr error
	phcErr   error
	panicRun string // an instance whose Run panics (a packet parser gone wrong)
	// detachErr: Detach of the named port fails so
	detachErr map[string]error
}

func newFakeSystem() *fakeSystem {
	return &fakeSystem{bridged: map[string]bool{}, phc: map[string]int{}, nodeErr: map[string]error{}}
}

func (s *fakeSystem) call(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, fmt.Sprintf(format, a...))
}

func (s *fakeSystem) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

func (s *fakeSystem) BridgePort(ifname string) (bool, error) { return s.bridged[ifname], nil }

func (s *fakeSystem) TSInfo(ifname string) (ts.Info, error) {
	if i, ok := s.phc[ifname]; ok {
		return ts.Info{PHC: i, Hardware: true}, nil
	}
	return ts.Info{PHC: -1}, nil
}

func (s *fakeSystem) OpenPHC(index int) (clock.Clock, error) {
	if s.phcErr != nil {
		s.call("open phc%d (failed)", index)
		return nil, s.phcErr
	}
	s.call("open phc%d", index)
	return clock.NewVirtual(0, 0), nil
}

func (s *fakeSystem) NewNode(cfg node.Config) (Node, error) {
	desc := fmt.Sprintf("start %s %s ports=%s clock=%s hw=%v", cfg.Name, cfg.Profile.Name,
		strings.Join(cfg.Ports, ","), cfg.Clock.Name(), cfg.Hardware)
	if err := s.nodeErr[cfg.Name]; err != nil {
		s.call("%s (failed)", desc)
		return nil, err
	}
	s.call("%s", desc)
	return &fakeNode{sys: s, name: cfg.Name}, nil
}

func (s *fakeSystem) OpenSteer(string) (Steerer, error) {
	if s.steerErr != nil {
		s.call("open steer (failed)")
		return nil, s.steerErr
	}
	s.call("open steer")
	return fakeSteer{s}, nil
}

func (s *fakeSystem) IfIndex(ifname string) (int, error) { return len(ifname), nil }

type fakeNode struct {
	sys  *fakeSystem
	name string
}

func (n *fakeNode) Run(ctx context.Context) {
	if n.sys.panicRun == n.name {
		panic("malformed announce")
	}
	<-ctx.Done()
	n.sys.call("stop %s", n.name)
}

func (n *fakeNode) Snapshot() node.Snapshot { return node.Snapshot{Name: n.name} }

func (n *fakeNode) SetPriorities(p1, p2 uint8) {}

type fakeSteer struct{ s *fakeSystem }

func (f fakeSteer) Attach(ifindex int, ifname string) error {
	f.s.call("steer %s", ifname)
	return nil
}
func (f fakeSteer) Detach(ifindex int, ifname string) error {
	f.s.call("unsteer %s", ifname)
	f.s.mu.Lock()
	defer f.s.mu.Unlock()
	return f.s.detachErr[ifname]
}
func (f fakeSteer) Stats(int) (steer.Stats, error) { return steer.Stats{}, nil }
func (f fakeSteer) Close() error                   { return nil }

// planRig is the engine on a fake system, with a real executor and store and a
// standalone handle: the test runs each pass itself.
type planRig struct {
	e    *Engine
	s    *fakeSystem
	ex   *control.Executor
	h    *engine.Handle
	stop func()
}

func newPlanRig(t *testing.T, opts Options) *planRig {
	t.Helper()
	r := &planRig{e: New(opts), s: newFakeSystem(), ex: controltest.New(t)}
	r.e.sys = r.s
	h, wait := engine.Standalone(r.ex, r.e.Spec())
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.e.Start(ctx, h); err != nil {
		t.Fatal(err)
	}
	r.h = h
	r.stop = func() { cancel(); wait(); r.e.Close() }
	t.Cleanup(r.stop)
	return r
}

func (r *planRig) pass(t *testing.T) []string {
	t.Helper()
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
	return r.s.take()
}

// TestPlan: profiles and ports over a fake machine give exactly the planned starts,
// stops, clock and steering calls; the next pass makes none (or retries exactly what
// failed); a failure shows on the profile and its ports.
func TestPlan(t *testing.T) {
	type step struct {
		cmds []string
		want []string
	}
	for _, tc := range []struct {
		name  string
		opts  Options
		setup func(s *fakeSystem)
		steps []step
		again []string // the pass after the last step
		state map[string]string
	}{{
		name: "one profile, two ports",
		opts: Options{Clock: ClockSystem},
		steps: []step{{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp/port add interface=ether1 ptp=ptp1",
			"/system/ptp/port add interface=ether2 ptp=ptp1"},
			want: []string{"start ptp1 default ports=ether1,ether2 clock=system hw=false"}}},
		state: map[string]string{"/system/ptp|ptp1": "", "/system/ptp/port|ether1": ""},
	}, {
		name: "a profile without ports or disabled does not run",
		opts: Options{Clock: ClockSystem},
		steps: []step{{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp add name=ptp2 disabled=yes",
			"/system/ptp/port add interface=ether1 ptp=ptp2"}}},
	}, {
		name: "a port added restarts the instance; a priority does not",
		opts: Options{Clock: ClockSystem},
		steps: []step{
			{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp/port add interface=ether1 ptp=ptp1"},
				want: []string{"start ptp1 default ports=ether1 clock=system hw=false"}},
			{cmds: []string{"/system/ptp/port add interface=ether2 ptp=ptp1"},
				want: []string{"stop ptp1", "start ptp1 default ports=ether1,ether2 clock=system hw=false"}},
			{cmds: []string{"/system/ptp set ptp1 priority1=10"}},
			{cmds: []string{"/system/ptp set ptp1 profile=g8275.1"},
				want: []string{"stop ptp1", "start ptp1 g8275.1 ports=ether1,ether2 clock=system hw=false"}},
			{cmds: []string{"/system/ptp/port remove *1,*2", "/system/ptp remove ptp1"}, want: []string{"stop ptp1"}},
		},
	}, {
		name:  "auto clock takes the first port's PHC",
		setup: func(s *fakeSystem) { s.phc["ether2"] = 3 },
		steps: []step{{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp/port add interface=ether1 ptp=ptp1",
			"/system/ptp/port add interface=ether2 ptp=ptp1"},
			want: []string{"open phc3", "start ptp1 default ports=ether1,ether2 clock=virtual hw=true"}}},
	}, {
		name:  "a PHC that does not open: the system clock",
		setup: func(s *fakeSystem) { s.phc["ether1"] = 0; s.phcErr = unix.EACCES },
		steps: []step{{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp/port add interface=ether1 ptp=ptp1"},
			want: []string{"open phc0 (failed)", "start ptp1 default ports=ether1 clock=system hw=false"}}},
	}, {
		name:  "a bridge port is steered, and released on stop",
		opts:  Options{Clock: ClockSystem},
		setup: func(s *fakeSystem) { s.bridged["ether2"] = true },
		steps: []step{
			{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp/port add interface=ether1 ptp=ptp1",
				"/system/ptp/port add interface=ether2 ptp=ptp1"},
				want: []string{"start ptp1 default ports=ether1,ether2 clock=system hw=false", "open steer", "steer ether2"}},
			{cmds: []string{"/system/ptp disable ptp1"}, want: []string{"stop ptp1", "unsteer ether2"}},
		},
	}, {
		name: "sockets that do not open: the profile and its ports say why, the next pass retries",
		opts: Options{Clock: ClockSystem},
		setup: func(s *fakeSystem) {
			s.nodeErr["ptp1"] = fmt.Errorf("port ether1: %w", unix.EPERM)
		},
		steps: []step{{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp/port add interface=ether1 ptp=ptp1"},
			want: []string{"start ptp1 default ports=ether1 clock=system hw=false (failed)"}}},
		again: []string{"start ptp1 default ports=ether1 clock=system hw=false (failed)"},
		state: map[string]string{"/system/ptp|ptp1": "port ether1: operation not permitted",
			"/system/ptp/port|ether1": "port ether1: operation not permitted"},
	}, {
		name:  "no steering program: the instance runs and says the port is also bridged",
		opts:  Options{Clock: ClockSystem},
		setup: func(s *fakeSystem) { s.bridged["ether1"] = true; s.steerErr = errors.New("no BPF") },
		steps: []step{{cmds: []string{"/system/ptp add name=ptp1", "/system/ptp/port add interface=ether1 ptp=ptp1"},
			want: []string{"start ptp1 default ports=ether1 clock=system hw=false", "open steer (failed)"}}},
		state: map[string]string{"/system/ptp|ptp1": "PTP is not kept from the bridge on ether1: no BPF"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPlanRig(t, tc.opts)
			if tc.setup != nil {
				tc.setup(r.s)
			}
			for i, st := range tc.steps {
				for _, c := range st.cmds {
					controltest.Exec(t, r.ex, c)
				}
				if got := r.pass(t); !slices.Equal(got, st.want) {
					t.Errorf("step %d wrote\n  %q\nwant\n  %q", i, got, st.want)
				}
			}
			if got := r.pass(t); !slices.Equal(got, tc.again) {
				t.Errorf("the next pass wrote\n  %q\nwant\n  %q", got, tc.again)
			}
			for key, want := range tc.state {
				path, name, _ := strings.Cut(key, "|")
				prop := "name"
				if strings.HasSuffix(path, "/port") {
					prop = "interface"
				}
				st := controltest.State(t, r.ex, path, prop, name)
				if want == "" && st.Status != "" {
					t.Errorf("%s %s: %+v, want running", path, name, st)
				}
				if want != "" && !strings.Contains(st.Status, want) {
					t.Errorf("%s %s: %+v, want the status %q", path, name, st, want)
				}
			}
		})
	}
}

// TestPanicRestarts: an instance whose packet handling panics is recovered by the host's
// Go (the profile shows the internal error, the engine asks for a pass) and the next
// pass starts it again; shutdown stops it and joins its goroutine.
func TestPanicRestarts(t *testing.T) {
	r := newPlanRig(t, Options{Clock: ClockSystem})
	r.s.panicRun = "ptp1"
	controltest.Exec(t, r.ex, "/system/ptp add name=ptp1")
	controltest.Exec(t, r.ex, "/system/ptp/port add interface=ether1 ptp=ptp1")
	r.pass(t)
	deadline := testDeadline(t)
	for !r.h.Kicked() {
		deadline()
	}
	rep, err := r.ex.Exec(context.Background(), nil, &control.Sentence{Path: "/system/ptp", Cmd: "print"})
	if err != nil || len(rep.Rows) != 1 || !strings.Contains(rep.Rows[0].Props["status"], "ptp: internal error: malformed announce") {
		t.Errorf("print after the panic: %+v %v", rep, err)
	}
	r.s.panicRun = ""
	if got, want := r.pass(t), []string{"start ptp1 default ports=ether1 clock=system hw=false"}; !slices.Equal(got, want) {
		t.Errorf("pass after the panic: %q, want %q", got, want)
	}
	r.stop()
	if got, want := r.s.take(), []string{"stop ptp1"}; !slices.Equal(got, want) {
		t.Errorf("shutdown: %q, want %q", got, want)
	}
}

// testDeadline returns a wait step that fails the test after 30 s (CI's cores are shared).
func testDeadline(t *testing.T) func() {
	end := time.Now().Add(30 * time.Second)
	return func() {
		t.Helper()
		if time.Now().After(end) {
			t.Fatal("condition not met in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
