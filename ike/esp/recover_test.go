package esp

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/routerd/routerd/test/testbin"
)

// panicOnce makes the data path's hook panic once at each of the points named, and
// reports which have not fired yet.
type panicOnce struct {
	mu    sync.Mutex
	armed map[string]bool
}

func arm(u *userspace, where ...string) *panicOnce {
	p := &panicOnce{armed: map[string]bool{}}
	for _, w := range where {
		p.armed[w] = true
	}
	f := func(w string) {
		p.mu.Lock()
		fire := p.armed[w]
		delete(p.armed, w)
		p.mu.Unlock()
		if fire {
			panic("injected fault at " + w)
		}
	}
	u.hook.Store(&f)
	return p
}

func (p *panicOnce) pending() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for w := range p.armed {
		out = append(out, w)
	}
	return out
}

// TestLoopsRecover: a panic while handling packets in each of the userspace path's
// loops (encryption from the TUN, decryption from the raw socket or from IKE's 4500
// reader, the TUN writer, the lifetime timer) is counted and the path goes on carrying
// traffic; Close then joins every goroutine the path started. Before, a panic there
// ended routerd.
func TestLoopsRecover(t *testing.T) {
	for _, c := range []pairOpts{
		{enc: "aes-128-gcm", mode: ModeTunnel},
		{enc: "aes-128-gcm", mode: ModeTunnel, udp: true},
		{enc: "aes-128-gcm", mode: ModeTunnel, v6outer: true},
	} {
		t.Run(fmt.Sprintf("udp=%v-v6outer=%v", c.udp, c.v6outer), func(t *testing.T) {
			r := newRig(t)
			before := goleak.IgnoreCurrent()
			a, b := startNode(t, r.a), startNode(t, r.b)
			install(t, a, b, c)
			ua, ub := a.dp.(*userspace), b.dp.(*userspace)
			var logs testbin.Buffer
			// Set before the hooks: a loop reads Log only after it saw its hook.
			ua.cfg.Log = slog.New(slog.NewTextHandler(&logs, nil))
			ub.cfg.Log = ua.cfg.Log
			pa := arm(ua, "out", "in", "timer")
			pb := arm(ub, "out", "in", "tun")
			// Each ping that meets an armed point is lost there; go on until all fired.
			deadline := time.Now().Add(30 * time.Second)
			for len(pa.pending())+len(pb.pending()) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("faults not reached: a %v, b %v", pa.pending(), pb.pending())
				}
				nsExec(t, r.a, "ping", "-c", "1", "-W", "1", "198.19.2.1")
			}
			pingOK(t, r.a, "198.19.2.1")
			sa, sb := ua.Statistics(), ub.Statistics()
			// a: out (encrypting), timer (counted as out), in (decrypting the reply).
			if sa.OutErrors != 2 || sa.InErrors != 1 {
				t.Errorf("a: out-errors %d in-errors %d, want 2 and 1", sa.OutErrors, sa.InErrors)
			}
			// b: in and tun (both inbound), out (the reply).
			if sb.OutErrors != 1 || sb.InErrors != 2 {
				t.Errorf("b: out-errors %d in-errors %d, want 1 and 2", sb.OutErrors, sb.InErrors)
			}
			for _, w := range []string{"out", "in", "timer", "tun"} {
				if !strings.Contains(logs.String(), `panic="injected fault at `+w+`"`) {
					t.Errorf("no log line for the fault at %s:\n%s", w, logs.String())
				}
			}
			if !strings.Contains(logs.String(), "recover_test.go") {
				t.Errorf("log lines without the stack:\n%s", logs.String())
			}
			for _, n := range []*node{a, b} {
				n.dp.Close()
				n.udp.Close()
				n.udp6.Close()
			}
			goleak.VerifyNone(t, before)
		})
	}
}

// TestTUNEventsDrained: link events on the ESP device (here txqueuelen and MTU changes,
// each an RTM_NEWLINK the TUN library turns into up and MTU events on a channel of 5)
// neither stop the path nor leave the library's listener goroutines behind after Close.
// Before, nothing read that channel: the third event blocked the netlink listener for
// good and goleak found it after Close.
func TestTUNEventsDrained(t *testing.T) {
	r := newRig(t)
	before := goleak.IgnoreCurrent()
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
	pingOK(t, r.a, "198.19.2.1")
	dev := a.dp.(*userspace).tunName
	for i := 0; i < 5; i++ {
		run(t, "ip", "-n", r.a, "link", "set", dev, "txqueuelen", fmt.Sprint(1000+i))
		run(t, "ip", "-n", r.a, "link", "set", dev, "mtu", fmt.Sprint(1400-i))
	}
	run(t, "ip", "-n", r.a, "link", "set", dev, "mtu", fmt.Sprint(DefaultConfig().MTU))
	pingOK(t, r.a, "198.19.2.1")
	for _, n := range []*node{a, b} {
		n.dp.Close()
		n.udp.Close()
		n.udp6.Close()
	}
	goleak.VerifyNone(t, before)
}
