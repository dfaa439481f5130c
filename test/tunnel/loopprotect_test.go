package tunnel

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestEoIPLoopProtect: A's EoIP tunnel with loop-protect=on (a bridge port), and B bridging its end of
// the tunnel back onto itself (hairpin): A's loop protect frames (EtherType 0x9003) come
// back, and A takes the interface down for loop-protect-disable-time
// (loop-protect-status=disable, no R), brings it up when the time is over and, the loop
// gone meanwhile, stays up. Without loop-protect (default) the same loop changes nothing.
func TestEoIPLoopProtect(t *testing.T) {
	need(t, "ping", "bridge")
	tp := newTopo(t)
	tp.ra.must("/interface", "eoip", "add", "name=e", "tunnel-id=5", "remote-address="+tp.addrB,
		"loop-protect=on", "loop-protect-send-interval=1s", "loop-protect-disable-time=3s")
	tp.ra.must("/interface", "eoip", "add", "name=quiet", "tunnel-id=6", "remote-address="+tp.addrB)
	tp.rb.must("/interface", "eoip", "add", "name=e", "tunnel-id=5", "remote-address="+tp.addrA)
	tp.rb.must("/interface", "eoip", "add", "name=quiet", "tunnel-id=6", "remote-address="+tp.addrA)
	waitLink(t, tp.a, "e", "quiet")
	waitLink(t, tp.b, "e", "quiet")
	status := func(name string) (string, bool) {
		d := strings.Join(strings.Fields(tp.ra.must("/interface", "eoip", "print", "detail", "where", "name="+name)), " ")
		m := regexp.MustCompile(`loop-protect-status=(\w+)`).FindStringSubmatch(d)
		if m == nil {
			t.Fatalf("no loop-protect-status:\n%s", d)
		}
		return m[1], regexp.MustCompile(`^Flags: .*? \d+ R `).MatchString(d)
	}
	// On A the tunnel is a bridge port, as where loop protection matters.
	tp.ra.must("/interface", "bridge", "add", "name=bra", "protocol-mode=none")
	tp.ra.must("/interface", "bridge", "port", "add", "bridge=bra", "interface=e")
	waitFor(t, "loop-protect-status=on", 5*time.Second, func() bool { s, r := status("e"); return s == "on" && r })
	if s, _ := status("quiet"); s != "off" {
		t.Errorf("quiet: loop-protect-status=%s, want off (default works as off)", s)
	}

	// The loop: B's bridge sends what comes in on each tunnel back out of it.
	for _, n := range []string{"e", "quiet"} {
		tp.rb.must("/interface", "bridge", "add", "name=br"+n, "protocol-mode=none") // the loop is the point: no STP to break it
		tp.rb.must("/interface", "bridge", "port", "add", "bridge=br"+n, "interface="+n)
	}
	waitFor(t, "bridge ports on B", 10*time.Second, func() bool {
		return strings.Contains(run(t, "ip", "-n", tp.b, "link", "show", "e"), "master bre") &&
			strings.Contains(run(t, "ip", "-n", tp.b, "link", "show", "quiet"), "master brquiet")
	})
	for _, n := range []string{"e", "quiet"} {
		run(t, "ip", "-n", tp.b, "link", "set", "dev", n, "type", "bridge_slave", "hairpin", "on")
	}
	waitFor(t, "loop-protect-status=disable", 8*time.Second, func() bool { s, r := status("e"); return s == "disable" && !r })
	if out := run(t, "ip", "-n", tp.a, "link", "show", "e"); !strings.Contains(out, "state DOWN") {
		t.Errorf("e is not down:\n%s", out)
	}
	if s, r := status("quiet"); s != "off" || !r {
		t.Errorf("quiet without loop protect: status %s running %v", s, r)
	}
	// The loop goes while the interface is down (so no frame of A's is still on its way
	// round); when the disable time is over A comes back up, and stays up.
	for _, n := range []string{"e", "quiet"} {
		run(t, "ip", "-n", tp.b, "link", "set", "dev", n, "type", "bridge_slave", "hairpin", "off")
	}
	waitFor(t, "up again after loop-protect-disable-time", 10*time.Second, func() bool { s, r := status("e"); return s == "on" && r })
	time.Sleep(2500 * time.Millisecond) // more than two send intervals
	if s, r := status("e"); s != "on" || !r {
		t.Errorf("after the loop is gone: status %s running %v", s, r)
	}
	if out, _ := exec.Command("ip", "-n", tp.a, "link", "show", "e").CombinedOutput(); !strings.Contains(string(out), "UP") {
		t.Errorf("e not up:\n%s", out)
	}
}
