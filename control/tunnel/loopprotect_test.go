package tunnel

import (
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestLoopProtectLinkRefused: when loop protection cannot set the looped interface
// down, or up again after the disable time, the tunnel item says why (setLoopGuard's
// error, which the pass makes the item's reason) and the tick tries again until the
// kernel takes it (issue 10: both were only logged, the interface left forwarding the
// loop). Rootless: the fake kernel refuses, a socket pair stands in for the tap.
func TestLoopProtectLinkRefused(t *testing.T) {
	r := newPlanRig(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[1]) }) // fds[0] is the guard's: closed by it
	g := &loopGuard{ifname: "eoip1", ifindex: 1, mac: "02:00:00:00:00:01", disableTime: 5 * time.Second, fd: fds[0]}
	e := r.e
	e.loops["heoip1"] = g
	t.Cleanup(func() { e.setLoopGuard("heoip1", nil) })
	same := *g
	same.fd = 0
	tick := func(now time.Time) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if !e.loopProtect(now) {
			t.Errorf("tick at %v changed nothing", now)
		}
	}
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	// The guard's own frame comes back: a loop, and the kernel refuses the down.
	if _, err := unix.Write(fds[1], g.frame()); err != nil {
		t.Fatal(err)
	}
	r.k.Fail = map[string]error{"down ether1": unix.EPERM}
	tick(now)
	status, err := e.setLoopGuard("heoip1", &same)
	if status != "disable" || !errors.Is(err, unix.EPERM) || !strings.Contains(err.Error(), "loop protect cannot set eoip1 down") {
		t.Fatalf("down refused: %s %v", status, err)
	}
	r.k.Fail = nil
	tick(now.Add(time.Second))
	if status, err := e.setLoopGuard("heoip1", &same); status != "disable" || err != nil {
		t.Fatalf("down taken on the next tick: %s %v", status, err)
	}
	if w := r.k.Take(); strings.Join(w, ",") != "down ether1 (failed),down ether1" {
		t.Errorf("writes %q", w)
	}
	// The disable time is over and the kernel refuses the up.
	r.k.Fail = map[string]error{"up ether1": unix.EBUSY}
	tick(now.Add(6 * time.Second))
	if status, err := e.setLoopGuard("heoip1", &same); status != "on" || !errors.Is(err, unix.EBUSY) {
		t.Fatalf("up refused: %s %v", status, err)
	}
	r.k.Fail = nil
	tick(now.Add(7 * time.Second))
	if status, err := e.setLoopGuard("heoip1", &same); status != "on" || err != nil {
		t.Fatalf("up taken on the next tick: %s %v", status, err)
	}
	if w := r.k.Take(); strings.Join(w, ",") != "up ether1 (failed),up ether1" {
		t.Errorf("writes %q", w)
	}
}
