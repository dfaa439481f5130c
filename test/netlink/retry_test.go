package netlink

import (
	"os/exec"
	"strings"
	"testing"
)

// TestRefusedAddressRetried: an address the kernel refuses (IPv6 turned off on the
// link) shows why, and is added once the kernel would take it, with no change or kick
// from anyone: the ipcfg engine follows kernel events and has no periodic pass, and
// turning IPv6 back on sends none it acts on (qa15; engine.Handle.Retry).
func TestRefusedAddressRetried(t *testing.T) {
	need(t)
	ns := portsNS(t, "retry")
	r := startRouter(t, ns, t.TempDir())
	sysctl := func(v string) {
		t.Helper()
		if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.ether3.disable_ipv6="+v).CombinedOutput(); err != nil {
			t.Fatalf("sysctl: %v %s", err, out)
		}
	}
	sysctl("1")
	r.must("/ipv6 address add address=fd15:153::1/64 interface=ether3 advertise=no")
	eventually(t, "the refused address invalid with the kernel's reason", func() (bool, string) {
		out := r.must("/ipv6 address print detail where address=fd15:153::1/64")
		return strings.Contains(out, "cannot add address"), out
	})
	sysctl("0")
	eventually(t, "the address on ether3", func() (bool, string) {
		out, _ := exec.Command("ip", "-n", ns, "-6", "addr", "show", "dev", "ether3").CombinedOutput()
		return strings.Contains(string(out), "fd15:153::1/64"), string(out)
	})
	if out := r.must("/ipv6 address print detail where address=fd15:153::1/64"); strings.Contains(out, "cannot add address") {
		t.Errorf("still refused:\n%s", out)
	}
}
