package ipcfg

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/script"
)

// TestRouteFlags: /ip route print shows RouterOS 7's legend and letters for what routerd
// sets: "D - DYNAMIC; X - DISABLED; I - INACTIVE; A - ACTIVE; c - CONNECT; s - STATIC;
// B - BLACKHOLE; + - ECMP" (RouterOS 7 writes the route kinds in lower case and I is
// inactive), a connected route DAc, an installed static route As, one that cannot be
// installed Is, and inactive=yes for where. It showed RouterOS 6's C and S (ADC,
// AS) and I - INVALID.
func TestRouteFlags(t *testing.T) {
	k := newFakeKernel("ether1")
	_, connected, _ := net.ParseCIDR("198.18.0.0/24")
	k.routes = append(k.routes, netlink.Route{Family: unix.AF_INET, Dst: connected, LinkIndex: k.links[1].Attrs().Index, // links[0] is lo
		Protocol: unix.RTPROT_KERNEL, Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Scope: netlink.SCOPE_LINK})
	r := newPlanRig(t, k)
	r.ex.Provide(Route4Path, func(context.Context, *control.Session) ([]control.Row, error) { return r.e.routeRows(4) })
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.0.1/24 interface=ether1")
	controltest.Exec(t, r.ex, "/ip/route add dst-address=198.19.0.0/16 gateway=198.18.0.254")
	controltest.Exec(t, r.ex, "/ip/route add dst-address=198.19.1.0/24 gateway=ether1")
	k.Fail = map[string]error{"route-replace table main 198.19.1.0/24 metric 1 dev ether1": unix.EINVAL}
	pass(t, r)

	s := &control.Sentence{Path: Route4Path, Cmd: "print"}
	rep, err := r.ex.Exec(context.Background(), nil, s)
	if err != nil {
		t.Fatalf("print: %v", err)
	}
	var b bytes.Buffer
	script.Render(&b, rep, s, 120)
	out := b.String()
	lines := strings.Split(out, "\n")
	if want := "Flags: D - DYNAMIC; X - DISABLED; I - INACTIVE; A - ACTIVE; c - CONNECT; s - STATIC; B - BLACKHOLE; + - ECMP"; lines[0] != want {
		t.Errorf("legend %q, want %q", lines[0], want)
	}
	for dst, flags := range map[string]string{"198.18.0.0/24": "DAc", "198.19.0.0/16": "As", "198.19.1.0/24": "Is"} {
		found := false
		for _, l := range lines {
			if f := strings.Fields(l); strings.Contains(l, dst) && len(f) > 2 {
				found = true
				if !strings.Contains(l, " "+flags+" ") {
					t.Errorf("%s: %q, want flags %s", dst, l, flags)
				}
			}
		}
		if !found {
			t.Errorf("no row for %s in\n%s", dst, out)
		}
	}
	// print where inactive reads the flag by its name.
	for _, row := range rep.Rows {
		v, _ := row.Get("inactive")
		if want := map[bool]string{true: "yes", false: "no"}[row.Props["dst-address"] == "198.19.1.0/24"]; v != want {
			t.Errorf("%s: inactive=%q, want %s", row.Props["dst-address"], v, want)
		}
	}
}

// TestRemovalRefused: an address or a route of routerd's that no item wants any more and
// that the kernel refuses to remove fails the pass with the kernel's reason, which the
// host shows on the engine's items (it was a log line and the pass succeeded, the route
// left forwarding); the next pass tries again and, taken, is quiet.
func TestRemovalRefused(t *testing.T) {
	k := newFakeKernel("ether1")
	r := newPlanRig(t, k)
	controltest.Exec(t, r.ex, "/ip/address add address=198.18.0.1/24 interface=ether1")
	controltest.Exec(t, r.ex, "/ip/route add dst-address=198.19.0.0/16 gateway=198.18.0.254")
	pass(t, r)
	for _, path := range []string{Route4Path, Addr4Path} {
		its, err := r.ex.Items(path)
		if err != nil || len(its) != 1 {
			t.Fatalf("%s: %v %v", path, its, err)
		}
		controltest.Exec(t, r.ex, fmt.Sprintf("%s remove *%X", path, its[0].ID))
	}
	del := []string{"addr-del ether1 198.18.0.1/24", "route-del table main 198.19.0.0/16 metric 1 via 198.18.0.254 dev ether1"}
	k.Fail = map[string]error{del[0]: unix.EPERM, del[1]: unix.EPERM}
	for i := 1; i <= 2; i++ {
		err := r.e.Reconcile(context.Background())
		for _, why := range []string{"removing address 198.18.0.1/24: operation not permitted",
			"removing route 198.19.0.0/16: operation not permitted"} {
			if err == nil || !strings.Contains(err.Error(), why) {
				t.Errorf("pass %d: %v, want an error saying %q", i, err, why)
			}
		}
		if got := k.Take(); len(got) != 2 {
			t.Errorf("pass %d wrote %q, want %q (failed)", i, got, del)
		}
	}
	k.Fail = nil
	wantWrites(t, "pass the kernel takes", pass(t, r), del...)
	wantWrites(t, "quiet pass", pass(t, r))
}
