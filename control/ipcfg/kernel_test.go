package ipcfg

import (
	"errors"
	"net"
	"testing"

	"github.com/vishvananda/netlink"
)

// A panic in one of the route workers (the goroutines a large pass installs routes
// with) ends neither the pass nor routerd: the routes that worker had not installed fail
// with the internal error (which marks their items invalid) and the others keep their
// results. The injected panic comes before any netlink request, so the test changes
// nothing in the namespace it runs in.
func TestRouteWorkerPanic(t *testing.T) {
	var rs []*netlink.Route
	for i := range 100 {
		rs = append(rs, &netlink.Route{Dst: &net.IPNet{IP: net.IPv4(198, 18, byte(i), 0), Mask: net.CIDRMask(24, 32)}})
	}
	k := netlinkKernel{inject: func(int) { panic("injected") }}
	errs := k.RoutesReplace(rs)
	if len(errs) != len(rs) {
		t.Fatalf("%d errors for %d routes", len(errs), len(rs))
	}
	for i, err := range errs {
		if !errors.Is(err, ErrInternal) || err.Error() != "internal error: injected" {
			t.Errorf("route %d: %v, want the internal error", i, err)
		}
	}
}
