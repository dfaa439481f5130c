package link

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/store"
)

// TestEventFilter: events of links no item names (a tunnel's interface being made) need
// no pass; a configured name, an owned link, a bridge port, a physical port, and a link
// once relevant (renamed away, deleted) do; before the first pass every event does.
func TestEventFilter(t *testing.T) {
	veth := func(index int, name string, alts ...string) netlink.LinkUpdate {
		return netlink.LinkUpdate{Link: &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: index, Name: name, AltNames: alts, NetNsID: -1}}}
	}
	var f eventFilter
	if !f.needsPass(veth(5, "g1"), "g1") {
		t.Error("before the first pass an event needs no pass")
	}
	f = eventFilter{names: configValues(map[string][]store.Item{
		IfacePath:      {{ID: 1, Props: map[string]string{"name": "g7", "mtu": "1400"}}},
		listMemberPath: {{ID: 1, Props: map[string]string{"interface": "e1,e2", "list": "LAN"}}},
	})}
	owned := veth(9, "br9")
	owned.Link.Attrs().Alias = ownerAlias
	port := veth(10, "p10")
	port.Link.Attrs().MasterIndex = 3
	dev := netlink.LinkUpdate{Link: &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 11, Name: "eth0"}}}
	for _, c := range []struct {
		u    netlink.LinkUpdate
		ros  string
		want bool
	}{
		{veth(5, "g1"), "g1", false},
		{veth(7, "g7"), "g7", true},
		{veth(8, "x8", "e2"), "e2", true},
		{veth(12, "h12", "long name"), "long name", false},
		{owned, "br9", true},
		{port, "p10", true},
		{dev, "eth0", true},
		{veth(7, "renamed"), "renamed", true}, // index 7 was relevant
	} {
		if got := f.needsPass(c.u, c.ros); got != c.want {
			t.Errorf("%s (index %d): needs a pass %v, want %v", c.ros, c.u.Link.Attrs().Index, got, c.want)
		}
	}
	del := veth(7, "renamed")
	del.Header.Type = unix.RTM_DELLINK
	if !f.needsPass(del, "renamed") {
		t.Error("deletion of a once-configured link needs no pass")
	}
}

// TestEventFilterPortMoved: a veth no item names needs a pass when its MTU changes or it
// goes down behind routerd's back (routerd owns a port's MTU and admin state), not when
// it first shows, comes up or changes otherwise.
func TestEventFilterPortMoved(t *testing.T) {
	f := eventFilter{names: map[string]bool{}}
	ev := func(mtu int, up bool) netlink.LinkUpdate {
		a := netlink.LinkAttrs{Index: 5, Name: "ether1", MTU: mtu, NetNsID: -1}
		if up {
			a.Flags = net.FlagUp
		}
		return netlink.LinkUpdate{Link: &netlink.Veth{LinkAttrs: a}}
	}
	for i, c := range []struct {
		u    netlink.LinkUpdate
		want bool
	}{
		{ev(1500, false), false}, // first seen
		{ev(1500, true), false},  // came up
		{ev(1500, true), false},  // carrier, counters
		{ev(1400, true), true},   // mtu changed behind routerd's back
		{ev(1400, false), true},  // set down
	} {
		if got := f.needsPass(c.u, "ether1"); got != c.want {
			t.Errorf("event %d: needs a pass %v, want %v", i, got, c.want)
		}
	}
}

// TestEventFilterPortArrives: a veth moved in from another namespace while routerd runs
// (its peer there: IFLA_LINK_NETNSID) needs the pass that enables it when it first shows
// down (QA: such a port stayed admin-down, printed as enabled, until a restart); one that
// arrives up, or a pair made here (a tunnel's), does not.
func TestEventFilterPortArrives(t *testing.T) {
	f := eventFilter{names: map[string]bool{}}
	ev := func(index, nsid int, up bool) netlink.LinkUpdate {
		a := netlink.LinkAttrs{Index: index, Name: "ether2", MTU: 1500, NetNsID: nsid}
		if up {
			a.Flags = net.FlagUp
		}
		return netlink.LinkUpdate{Link: &netlink.Veth{LinkAttrs: a}}
	}
	if !f.needsPass(ev(6, 0, false), "ether2") {
		t.Error("a port moved in down needs no pass")
	}
	if f.needsPass(ev(7, 0, true), "ether2") {
		t.Error("a port moved in up needs a pass")
	}
	if f.needsPass(ev(8, -1, false), "ether2") {
		t.Error("a veth made here (a tunnel's) needs a pass when it first shows")
	}
}
