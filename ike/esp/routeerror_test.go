package esp

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestRouteErrorNamesDADFailure: a steering route the kernel refused for a source
// address whose duplicate address detection failed is explained as that, not as an
// address "not usable yet (tentative)" that would become usable by waiting: it never
// does while the other host has it. A still tentative address keeps that wording.
func TestRouteErrorNamesDADFailure(t *testing.T) {
	r := newRig(t)
	for _, n := range []string{r.a, r.b} {
		run(t, "ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.conf.eth0.dad_transmits=1")
	}
	// b holds the address already; a's copy then fails DAD once both links are up.
	run(t, "ip", "-n", r.b, "-6", "addr", "add", "2001:db8:131::1/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", r.a, "-6", "addr", "add", "2001:db8:131::1/64", "dev", "eth0")
	// A tentative address that stays so: DAD never ends on a link that is down.
	run(t, "ip", "-n", r.a, "link", "add", "vt0", "type", "veth", "peer", "name", "vt1")
	run(t, "ip", "-n", r.a, "-6", "addr", "add", "2001:db8:132::1/64", "dev", "vt0")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(run(t, "ip", "-n", r.a, "-6", "addr", "show", "dev", "eth0"), "dadfailed") {
		if time.Now().After(deadline) {
			t.Fatalf("a's address did not fail DAD:\n%s", run(t, "ip", "-n", r.a, "-6", "addr", "show", "dev", "eth0"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	var failed, tentative error
	inNS(t, r.a, func() {
		h, err := netlink.NewHandle()
		if err != nil {
			failed = err
			return
		}
		defer h.Close()
		u := testUserspace()
		u.nl, u.tunName = h, "ipsec0"
		_, dst, _ := net.ParseCIDR("2001:db8:2::/64")
		failed = u.routeError(netlink.Route{Dst: dst, Src: net.ParseIP("2001:db8:131::1"), Table: 221}, unix.EINVAL)
		tentative = u.routeError(netlink.Route{Dst: dst, Src: net.ParseIP("2001:db8:132::1"), Table: 221}, unix.EINVAL)
	})
	if s := failed.Error(); !strings.Contains(s, "source address 2001:db8:131::1 failed duplicate address detection") || strings.Contains(s, "tentative") {
		t.Errorf("DAD-failed source: %s", s)
	}
	if s := tentative.Error(); !strings.Contains(s, "source address 2001:db8:132::1 is not usable yet (tentative)") {
		t.Errorf("tentative source: %s", s)
	}
}
