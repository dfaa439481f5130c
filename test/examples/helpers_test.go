// Package examples runs the reference's example commands against real routerd processes
// in network namespaces, with real peers: iperf3 through /queue simple, dig against the
// DNS server, rdisc6 against router advertisements, and every example command of the
// manual excerpts outside IPsec and the VPN index.
package examples

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/routerd/routerd/test/testbin"
)

var binDir string

func TestMain(m *testing.M) { os.Exit(testbin.Main(m, &binDir)) }

func need(t testing.TB, tools ...string) { t.Helper(); testbin.Need(t, tools...) }

func run(t testing.TB, args ...string) string { t.Helper(); return testbin.Run(t, args...) }

// in runs a command in namespace ns.
func in(ns string, args ...string) *exec.Cmd { return testbin.In(ns, args...) }

func runIn(t testing.TB, ns string, args ...string) string {
	t.Helper()
	return testbin.RunIn(t, ns, args...)
}

// netns makes a namespace with a unique name, deleted at cleanup.
func netns(t testing.TB, tag string) string { t.Helper(); return testbin.Netns(t, "ex", tag) }

// veth joins ns a (link an) and ns b (link bn), both up.
func veth(t testing.TB, a, an, b, bn string) { t.Helper(); testbin.Veth(t, a, an, b, bn, true) }

// router is one routerd in namespace ns (testbin.Router).
type router struct {
	*testbin.Router
	t  testing.TB
	ns string
}

func startRouter(t testing.TB, ns string) *router {
	t.Helper()
	// The PTP example steers a virtual clock here, never the machine's.
	return &router{Router: testbin.Start(t, binDir, testbin.Options{Netns: ns, Args: []string{"--ptp-clock", "virtual"}}), t: t, ns: ns}
}

func (r *router) sock() string { return r.Sock }

func (r *router) ctl(args ...string) (string, error) { return r.Ctl(nil, args...) }

// script runs src as one script (routerctl -f -), as an operator pastes it.
func (r *router) script(src string) (string, error) { return r.Ctl(strings.NewReader(src), "-f", "-") }

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
	testbin.Eventually(t, what, 0, cond)
}
