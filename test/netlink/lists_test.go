package netlink

import (
	"strings"
	"testing"
)

// TestInterfaceLists checks the built-in lists and the state of members as print shows
// it: a member whose link is missing is invalid, and valid again when the link appears.
func TestInterfaceLists(t *testing.T) {
	need(t)
	rn := netns(t, "l")
	h := netns(t, "lh")
	veth(t, rn, "ether2", h, "eth0")
	r := startRouter(t, rn, t.TempDir())

	out := r.must("/interface list print")
	for _, b := range []string{"all", "none", "dynamic", "static"} {
		if !strings.Contains(out, b) {
			t.Errorf("built-in list %s missing:\n%s", b, out)
		}
	}
	if !strings.Contains(strings.ToLower(out), "* - builtin") || !strings.Contains(out, "* all") {
		t.Errorf("built-in lists not flagged:\n%s", out)
	}
	r.fails("/interface list remove [find name=all]", "")
	r.fails("/interface list member add list=all interface=ether2", "built-in")
	r.fails("/interface list member add list=LAN interface=ether2", "")
	r.fails("/interface list member add list=nosuch interface=ether2", "")

	r.must("/interface list add name=LAN")
	r.must("/interface list member add list=LAN interface=ether2")
	r.fails("/interface list member add list=LAN interface=nosuch0", "input does not match any value of interface")
	// A bridge configured a line earlier is a valid member before the kernel has it.
	r.must("/interface bridge add name=bridge1 disabled=yes")
	r.must("/interface list member add list=LAN interface=bridge1")
	if out := r.must("/interface list member print detail"); strings.Contains(out, "not applied") {
		t.Errorf("members not applied:\n%s", out)
	}

	run(t, "ip", "-n", rn, "link", "del", "ether2")
	eventually(t, "member invalid", func() (bool, string) {
		out := r.must("/interface list member print detail where interface=ether2")
		return strings.Contains(out, "0 I  list=") && strings.Contains(out, "interface ether2 not present"), out
	})
	veth(t, rn, "ether2", h, "eth0")
	eventually(t, "member valid again", func() (bool, string) {
		out := r.must("/interface list member print detail where interface=ether2")
		return strings.Contains(out, "0    list=") && !strings.Contains(out, "status="), out
	})
}
