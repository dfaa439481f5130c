package netlink

import (
	"regexp"
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

// TestBridgePortList: `/interface bridge port add interface=LAN` with LAN an interface
// list (RouterOS 7 exports write it) makes the list's members ports of the bridge in the
// kernel, shown as dynamic ports; a member added to the list joins, one removed leaves,
// a port an item names itself keeps its own item, and removing the list's port releases
// the rest. The export writes the list's port as given and re-imports.
func TestBridgePortList(t *testing.T) {
	need(t)
	rn := netns(t, "bpl")
	h := netns(t, "bplh")
	for i, p := range []string{"ether2", "ether3", "ether4", "ether5"} {
		veth(t, rn, p, h, "e"+string(rune('2'+i)))
	}
	r := startRouter(t, rn, t.TempDir())
	r.must("/interface bridge add name=bridge protocol-mode=none")
	r.must("/interface list add name=LAN")
	r.must("/interface list member add list=LAN interface=ether2")
	r.must("/interface list member add list=LAN interface=ether3")
	r.must("/interface list member add list=LAN interface=bridge")
	r.must("/interface bridge port add bridge=bridge interface=LAN pvid=1")
	r.fails("/interface bridge port add bridge=bridge interface=NOLIST", "input does not match any value of interface")
	master := func(port string) string {
		out := run(t, "ip", "-n", rn, "-o", "link", "show", port)
		if i := strings.Index(out, " master "); i >= 0 {
			return strings.Fields(out[i:])[1]
		}
		return ""
	}
	eventually(t, "the list's members are ports", func() (bool, string) {
		out := r.must("/interface bridge port print")
		return master("ether2") == "bridge" && master("ether3") == "bridge" && master("ether4") == "" &&
			dynPort.MatchString(out) && len(regexp.MustCompile(`(?m)^ +\d+ D `).FindAllString(out, -1)) == 2, out
	})
	if out := r.must("/interface bridge port print detail where interface=LAN"); strings.Contains(out, "status=") || strings.Contains(out, " 0 I") {
		t.Errorf("the list's port has a status:\n%s", out)
	}
	r.must("/interface list member add list=LAN interface=ether4")
	r.must("/interface list member remove [find interface=ether2]")
	eventually(t, "the ports follow the list", func() (bool, string) {
		out := r.must("/interface bridge port print")
		return master("ether2") == "" && master("ether4") == "bridge" && !strings.Contains(out, "ether2"), out
	})
	// A port an item names itself is that item's, with its own settings.
	r.must("/interface list member add list=LAN interface=ether5")
	r.must("/interface bridge add name=other protocol-mode=none")
	r.must("/interface bridge port add bridge=other interface=ether5")
	eventually(t, "the item's own port wins", func() (bool, string) {
		return master("ether5") == "other" && master("ether4") == "bridge", master("ether5")
	})
	if out := r.must("/export"); !strings.Contains(out, "add bridge=bridge interface=LAN") {
		t.Errorf("export lacks the list's port:\n%s", out)
	}
	r.must("/interface bridge port remove [find interface=LAN]")
	eventually(t, "removing the list's port releases its members", func() (bool, string) {
		return master("ether3") == "" && master("ether4") == "" && master("ether5") == "other", master("ether3")
	})
	if out := r.must("/interface bridge port print"); regexp.MustCompile(`(?m)^ +\d+ D `).MatchString(out) {
		t.Errorf("dynamic ports left:\n%s", out)
	}
}

var dynPort = regexp.MustCompile(`(?m)^ +\d+ D +ether2 +bridge +1 +none$`)
