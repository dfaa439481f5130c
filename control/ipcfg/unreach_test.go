package ipcfg

import (
	"context"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
)

// TestUnreachableNotPolled: a route the kernel refuses because its gateway is unreachable
// asks for no retry pass (the host would run one every 5 s for as long as the gateway
// stays unreachable, asking the kernel the same each time): link, address and route
// events kick the pass that can install it. Other refusals still ask for one, and so does
// an unreachable gateway in a pass that installed another route (ours kick nothing).
func TestUnreachableNotPolled(t *testing.T) {
	const (
		r1 = "route-replace table main 198.19.1.0/24 metric 1 via 198.18.0.254 dev ether1"
		r2 = "route-replace table main 198.19.2.0/24 metric 1 via 198.18.0.253 dev ether1"
	)
	for _, tc := range []struct {
		name      string
		fail      map[string]error
		second    bool // a second route, added after the first pass
		wantFirst int  // retries asked for by the first pass
		wantAgain int  // by the next one
	}{
		{name: "unreachable", fail: map[string]error{r1: unix.ENETUNREACH}},
		{name: "refused", fail: map[string]error{r1: unix.EPERM}, wantFirst: 1, wantAgain: 1},
		{name: "unreachable beside an install", fail: map[string]error{r1: unix.ENETUNREACH}, second: true, wantAgain: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newFakeKernel("ether1", "ether2")
			r := newPlanRig(t, k)
			retries := 0
			r.e.retry = func() { retries++ }
			controltest.Exec(t, r.ex, "/ip/address add address=198.18.0.1/24 interface=ether1")
			controltest.Exec(t, r.ex, "/ip/route add dst-address=198.19.1.0/24 gateway=198.18.0.254")
			k.Fail = tc.fail
			if err := r.e.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			if retries != tc.wantFirst {
				t.Errorf("first pass asked for %d retries, want %d (wrote %q)", retries, tc.wantFirst, k.Take())
			}
			st := controltest.State(t, r.ex, "/ip/route", "dst-address", "198.19.1.0/24")
			if st.Status == "" || st.Active {
				t.Errorf("refused route: %+v, want inactive with the reason", st)
			}
			retries = 0
			if tc.second {
				controltest.Exec(t, r.ex, "/ip/route add dst-address=198.19.2.0/24 gateway=198.18.0.253")
			}
			if err := r.e.Reconcile(context.Background()); err != nil {
				t.Fatal(err)
			}
			if retries != tc.wantAgain {
				t.Errorf("next pass asked for %d retries, want %d (wrote %q)", retries, tc.wantAgain, k.Take())
			}
		})
	}
}
