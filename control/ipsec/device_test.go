package ipsec

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestESPDeviceRestored (QA, issue 10): with the userspace ESP path, the TUN device
// deleted behind routerd's back (ip link del ipsec0) took the steering routes with it,
// and every SA went silent while print said all was well. The data path now notices and
// the engine makes the device again with its routes at once; a device renamed away is
// found by the engine's periodic check; while the device cannot be made (another device
// took its name) /ip ipsec statistics and the encrypt policies say why.
func TestESPDeviceRestored(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	b.run(t, siteToSite("s", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, siteToSite("s", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	up := func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }
	if !iketest.WaitFor(20*time.Second, up) {
		t.Fatal("not up")
	}
	status := func() string { return a.run(t, "/ip ipsec statistics print") }
	if st := status(); !strings.Contains(st, "datapath-status: ok") {
		t.Fatalf("statistics before:\n%s", st)
	}

	iketest.Sh(t, "ip", "-n", nsA, "link", "del", "ipsec0")
	start := time.Now()
	if !iketest.WaitFor(20*time.Second, up) {
		t.Fatalf("no traffic after ipsec0 was deleted:\n%s", status())
	}
	t.Logf("traffic back %v after the delete", time.Since(start).Round(time.Millisecond))

	// Renamed away (no read fails: only the periodic check sees it), and its name
	// taken: the device cannot be made again, and status says so.
	iketest.Sh(t, "ip", "-n", nsA, "link", "set", "ipsec0", "name", "ipsec0old")
	iketest.Sh(t, "ip", "-n", nsA, "link", "add", "ipsec0", "type", "bridge")
	if !iketest.WaitFor(20*time.Second, func() bool { return strings.Contains(status(), "cannot be made again") }) {
		t.Fatalf("statistics with the device missing:\n%s", status())
	}
	if pol := a.run(t, "/ip ipsec policy print detail where !template"); !strings.Contains(pol, "not applied: ESP data path: ipsec0 was deleted and cannot be made again") {
		t.Errorf("policy with the device missing:\n%s", pol)
	}
	iketest.Sh(t, "ip", "-n", nsA, "link", "del", "ipsec0")
	if !iketest.WaitFor(20*time.Second, up) {
		t.Fatalf("no traffic after the name was freed:\n%s", status())
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return strings.Contains(status(), "datapath-status: ok") }) {
		t.Errorf("statistics after:\n%s", status())
	}
	if pol := a.run(t, "/ip ipsec policy print detail where !template"); strings.Contains(pol, "not applied") {
		t.Errorf("policy after:\n%s", pol)
	}
	if out, err := iketest.In(nsA, "ip", "link", "show", "ipsec0old").CombinedOutput(); err == nil {
		t.Errorf("the old device is left:\n%s", out)
	}
}
