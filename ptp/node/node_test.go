package node

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/ptp/clock"
	"github.com/routerd/routerd/ptp/ts"
)

// netns builds namespaces joined by veth pairs: links[i] = {nsA, ifA, nsB, ifB}.
func netns(t *testing.T, names []string, links [][4]string) map[string]string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
	ns := map[string]string{}
	for _, n := range names {
		full := fmt.Sprintf("ptpn%d%s", os.Getpid()%100000, n)
		ns[n] = full
		if out, err := exec.Command("ip", "netns", "add", full).CombinedOutput(); err != nil {
			t.Fatalf("netns add: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", full).Run() })
	}
	for i, l := range links {
		cmds := [][]string{
			{"-n", ns[l[0]], "link", "add", "name", l[1], "type", "veth", "peer", "name", l[3], "netns", ns[l[2]]},
			{"-n", ns[l[0]], "addr", "add", fmt.Sprintf("198.18.%d.1/24", 10+i), "dev", l[1]},
			{"-n", ns[l[2]], "addr", "add", fmt.Sprintf("198.18.%d.2/24", 10+i), "dev", l[3]},
			{"-n", ns[l[0]], "link", "set", "dev", l[1], "up"},
			{"-n", ns[l[2]], "link", "set", "dev", l[3], "up"},
		}
		for _, c := range cmds {
			if out, err := exec.Command("ip", c...).CombinedOutput(); err != nil {
				t.Fatalf("ip %v: %v %s", c, err, out)
			}
		}
	}
	return ns
}

// openIn opens transports inside a namespace.
func openIn(ns string) func(ts.Options) (ts.Transport, error) {
	return func(o ts.Options) (ts.Transport, error) {
		var tr ts.Transport
		err := inNS(ns, func() error {
			var err error
			tr, err = ts.Open(o)
			return err
		})
		return tr, err
	}
}

func inNS(ns string, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return err
	}
	defer orig.Close()
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return err
	}
	defer unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET)
	return fn()
}

func start(t *testing.T, ns, name string, prof Profile, clk clock.Clock, ports ...string) *Node {
	t.Helper()
	var n *Node
	err := inNS(ns, func() error {
		var err error
		n, err = New(Config{Name: name, Profile: prof, Ports: ports, Clock: clk, Open: openIn(ns)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

// waitLock waits until the node's slave port locked and its clock holds within bound of
// the grandmaster's for a few seconds.
func waitLock(t *testing.T, n *Node, slave, gm *clock.Virtual, bound int64) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	held := 0
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		s := n.Snapshot()
		diff := slave.Offset() - gm.Offset()
		if s.Locked && diff < bound && diff > -bound {
			held++
			if held >= 12 {
				t.Logf("locked: offset %d ns, true error %d ns, delay %d ns, freq %d ppb", s.Offset, diff, s.SlavePortDelay, s.FreqDrift)
				return
			}
			continue
		}
		held = 0
	}
	s := n.Snapshot()
	t.Fatalf("no lock: %+v, true error %d ns", s, slave.Offset()-gm.Offset())
}

func fast(p Profile) Profile {
	p.LogAnnounce, p.LogSync, p.LogMinDelayReq, p.LogMinPdelayReq = -2, -3, -3, -2
	return p
}

func TestOrdinaryClocks(t *testing.T) {
	for _, c := range []struct {
		name  string
		prof  string
		delay DelayMode
		mode  ts.Mode
	}{
		{"udp-e2e", "default", E2E, ts.UDPv4},
		{"l2-p2p", "default", P2P, ts.L2Forwardable},
		{"gptp", "802.1as", P2P, ts.L2NonForwarding},
		{"g8275.1", "g8275.1", E2E, ts.L2NonForwarding},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ns := netns(t, []string{c.name[:2] + "g", c.name[:2] + "s"}, [][4]string{{c.name[:2] + "g", "gm0", c.name[:2] + "s", "sl0"}})
			prof, _ := Resolve(Settings{Profile: c.prof, Delay: &c.delay, Transport: &c.mode})
			prof = fast(prof)
			gmClock := clock.NewVirtual(0, 0)
			slClock := clock.NewVirtual(37*time.Millisecond, 100_000)
			gp := prof
			// G.8275.1's BMCA ignores priority1 and compares priority2 first among equal
			// clocks; setting both makes gm the best master under every profile instead of
			// leaving it to the random clock identities.
			gp.Priority1, gp.Priority2 = 10, 10
			gm := start(t, ns[c.name[:2]+"g"], "gm", gp, gmClock, "gm0")
			sl := start(t, ns[c.name[:2]+"s"], "sl", prof, slClock, "sl0")
			waitLock(t, sl, slClock, gmClock, 20_000)
			g, s := gm.Snapshot(), sl.Snapshot()
			if !g.IAmGM || s.IAmGM || s.GMClockID != g.ClockID || s.GMPriority1 != 10 || s.SlavePort != "sl0" {
				t.Fatalf("data sets: gm %+v slave %+v", g, s)
			}
			if g.Ports[0].State != "master" || s.Ports[0].State != "slave" {
				t.Fatalf("states: %v %v", g.Ports, s.Ports)
			}
		})
	}
}
