// Package tunnel tests routerd's eBPF tunnels end to end: two routerd instances in two
// network namespaces joined by a veth pair, tunnels configured through routerctl, traffic
// from ping and iperf3, wire format checked with tshark and scapy.
package tunnel

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/routerd/routerd/test/testbin"
)

var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &binDir)) }

// need skips unless root and the named tools exist.
func need(t testing.TB, tools ...string) { t.Helper(); testbin.Need(t, tools...) }

var seq atomic.Int32

// prefix is unique per test in this process, and the pid keeps parallel test
// processes apart.
func prefix() string { return fmt.Sprintf("tu%d%c", os.Getpid(), 'a'+rune(seq.Add(1)-1)) }

func run(t testing.TB, args ...string) string { t.Helper(); return testbin.Run(t, args...) }

// ns runs a command inside a namespace.
func ns(t testing.TB, name string, args ...string) string {
	t.Helper()
	return run(t, append([]string{"ip", "netns", "exec", name}, args...)...)
}

// topo is two router namespaces joined by an underlay veth pair: A 198.18.0.1, B
// 198.18.0.2 (each prefix gets its own /24 so parallel packages do not collide within
// one namespace; namespaces are per test anyway).
type topo struct {
	t            testing.TB
	p            string
	a, b         string // namespace names
	ua, ub       string // underlay interfaces
	bpffs        string
	ra, rb       *router
	addrA, addrB string
}

// topoOpts vary the topology: hook forces the decapsulator's hook in both routerd
// (ROUTERD_TUNNEL_HOOK); offload keeps TX checksum offload on the underlay veths, which
// only the TC hook tolerates (MACHINE-NOTES: XDP-forwarded local traffic otherwise
// arrives with unfinished checksums).
type topoOpts struct {
	hook    string
	offload bool
	// routed puts a forwarding namespace M between A (198.18.0.1/24) and B
	// (198.18.1.2/24). A packet a tunnel redirected at TC keeps the skb's "redirected"
	// mark across a veth into the next namespace, and generic XDP skips such packets
	// (they count as reinjected); a hop through a stack clears the mark, as the wire
	// does between real hosts.
	routed bool
	// plainBPFFS gives each routerd a --bpffs folder on no bpf filesystem.
	plainBPFFS bool
}

func newTopo(t testing.TB) *topo { return newTopoWith(t, topoOpts{}) }

func newTopoWith(t testing.TB, o topoOpts) *topo {
	t.Helper()
	p := prefix()
	tp := &topo{t: t, p: p, a: p + "A", b: p + "B", ua: p + "u", ub: p + "v",
		addrA: "198.18.0.1", addrB: "198.18.0.2"}
	for _, n := range []string{tp.a, tp.b} {
		run(t, "ip", "netns", "add", n)
		n := n
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
		run(t, "ip", "-n", n, "link", "set", "lo", "up")
	}
	if o.routed {
		m := p + "M"
		tp.addrB = "198.18.1.2"
		run(t, "ip", "netns", "add", m)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", m).Run() })
		run(t, "ip", "link", "add", tp.ua, "netns", tp.a, "type", "veth", "peer", "name", "m1", "netns", m)
		run(t, "ip", "link", "add", tp.ub, "netns", tp.b, "type", "veth", "peer", "name", "m2", "netns", m)
		run(t, "ip", "-n", m, "addr", "add", "198.18.0.254/24", "dev", "m1")
		run(t, "ip", "-n", m, "addr", "add", "198.18.1.254/24", "dev", "m2")
		for _, l := range []string{"m1", "m2"} {
			run(t, "ip", "-n", m, "link", "set", l, "up")
		}
		ns(t, m, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		// What A and B send back with XDP_TX (reflected keepalives) arrives on M's veths
		// only where they run NAPI, which GRO turns on (MACHINE-NOTES); a NIC needs none.
		if _, err := exec.LookPath("ethtool"); err == nil {
			for _, l := range []string{"m1", "m2"} {
				ns(t, m, "ethtool", "-K", l, "gro", "on")
			}
		}
		run(t, "ip", "-n", tp.a, "addr", "add", tp.addrA+"/24", "dev", tp.ua)
		run(t, "ip", "-n", tp.b, "addr", "add", tp.addrB+"/24", "dev", tp.ub)
		run(t, "ip", "-n", tp.a, "link", "set", tp.ua, "up")
		run(t, "ip", "-n", tp.b, "link", "set", tp.ub, "up")
		run(t, "ip", "-n", tp.a, "route", "add", "198.18.1.0/24", "via", "198.18.0.254")
		run(t, "ip", "-n", tp.b, "route", "add", "198.18.0.0/24", "via", "198.18.1.254")
	} else {
		run(t, "ip", "link", "add", tp.ua, "netns", tp.a, "type", "veth", "peer", "name", tp.ub, "netns", tp.b)
		run(t, "ip", "-n", tp.a, "addr", "add", tp.addrA+"/24", "dev", tp.ua)
		run(t, "ip", "-n", tp.b, "addr", "add", tp.addrB+"/24", "dev", tp.ub)
	}
	for _, x := range [][2]string{{tp.a, tp.ua}, {tp.b, tp.ub}} {
		run(t, "ip", "-n", x[0], "link", "set", x[1], "up")
		// Locally generated packets that XDP forwards carry no checksum unless the
		// sending veth computes it (MACHINE-NOTES): a real NIC does so on the wire.
		if _, err := exec.LookPath("ethtool"); err == nil && !o.offload {
			ns(t, x[0], "ethtool", "-K", x[1], "tx", "off")
		}
	}
	dir := t.TempDir()
	tp.bpffs = filepath.Join(dir, "bpf")
	os.MkdirAll(tp.bpffs, 0o700)
	if !o.plainBPFFS {
		if err := syscall.Mount("bpf", tp.bpffs, "bpf", 0, ""); err != nil {
			t.Skipf("cannot mount bpffs: %v", err)
		}
		t.Cleanup(func() { syscall.Unmount(tp.bpffs, syscall.MNT_DETACH) })
	}
	tp.ra = startRouter(t, tp.a, filepath.Join(tp.bpffs, "a"), "", o.hook)
	tp.rb = startRouter(t, tp.b, filepath.Join(tp.bpffs, "b"), "", o.hook)
	return tp
}

// router is one routerd in a namespace (testbin.Router); metrics listens on a fixed
// port inside it, for scrape.
type router struct {
	*testbin.Router
	t                      testing.TB
	netns, data, bpf, hook string
	metrics                string
}

func startRouter(t testing.TB, netnsName, bpf, data, hook string) *router {
	t.Helper()
	o := testbin.Options{Netns: netnsName, Data: data, BPFFS: bpf, Metrics: "127.0.0.1:19436"}
	if hook != "" {
		o.Env = []string{"ROUTERD_TUNNEL_HOOK=" + hook}
	}
	tr := testbin.New(t, binDir, o)
	r := &router{Router: tr, t: t, netns: netnsName, data: tr.Opts.Data, bpf: bpf, hook: hook, metrics: o.Metrics}
	r.start()
	return r
}

func (r *router) start() {
	r.t.Helper()
	if err := r.Start(); err != nil {
		r.t.Fatal(err)
	}
}

func (r *router) stop() { r.Stop() }
func (r *router) kill() { r.Kill() }

// ctl runs one console command through routerctl.
func (r *router) ctl(args ...string) (string, error) { return r.Ctl(nil, args...) }

func (r *router) must(args ...string) string {
	r.t.Helper()
	return r.Must(args...)
}

// waitFor polls cond until it holds; timeouts below testbin's bound are raised to it
// (the bound is about liveness: CI runs on two loaded cores).
func waitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	timeout = max(timeout, testbin.WaitTimeout)
	testbin.Eventually(t, what, timeout, func() (bool, string) { return cond(), "" })
}

// scrape fetches /metrics of a routerd from inside its namespace.
func (r *router) scrape() string {
	r.t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		r.t.Fatal(err)
	}
	defer orig.Close()
	h, err := netns.GetFromName(r.netns)
	if err != nil {
		r.t.Fatal(err)
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		r.t.Fatal(err)
	}
	conn, err := net.Dial("tcp", r.metrics)
	netns.Set(orig)
	if err != nil {
		r.t.Fatalf("metrics: %v", err)
	}
	tr := &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) { return conn, nil }}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("http://" + r.metrics + "/metrics")
	if err != nil {
		r.t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// capture runs tshark on an interface of a namespace while fn runs and returns the
// fields of the captured packets, one line per packet.
func capture(t testing.TB, netnsName, ifname, filter string, fields []string, fn func()) []string {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "c.pcap")
	cmd := exec.Command("ip", "netns", "exec", netnsName, "tshark", "-q", "-i", ifname, "-f", filter, "-w", pcap)
	errb := &testbin.Buffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// tshark says "Capturing on" once the capture runs.
	waitFor(t, "tshark to start", 10*time.Second, func() bool { return strings.Contains(errb.String(), "Capturing on") })
	// "Capturing on" comes a moment before the first packet is really taken.
	time.Sleep(500 * time.Millisecond)
	fn()
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Wait()
	args := []string{"-r", pcap, "-T", "fields", "-E", "separator=|"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tshark -r: %v\n%s", err, out)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// waitLink waits until the engine has created a tunnel's interface in a namespace.
func waitLink(t testing.TB, netnsName string, names ...string) {
	t.Helper()
	for _, n := range names {
		waitFor(t, n+" in "+netnsName, 10*time.Second, func() bool {
			return exec.Command("ip", "-n", netnsName, "link", "show", n).Run() == nil
		})
	}
}

// greLink joins the two routers by a GRE tunnel "g" with addresses NET.1/30 (a) and
// NET.2/30 (b) on its ends.
func (tp *topo) greLink(t *testing.T, net string) {
	t.Helper()
	tp.ra.must("/interface", "gre", "add", "name=g", "remote-address="+tp.addrB)
	tp.rb.must("/interface", "gre", "add", "name=g", "remote-address="+tp.addrA)
	waitLink(t, tp.a, "g")
	waitLink(t, tp.b, "g")
	run(t, "ip", "-n", tp.a, "addr", "add", net+".1/30", "dev", "g")
	run(t, "ip", "-n", tp.b, "addr", "add", net+".2/30", "dev", "g")
}
