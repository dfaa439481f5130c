package ipcfg

import (
	"testing"

	"github.com/vishvananda/netlink"
)

// TestLinkEvents: a link event needs a pass when an address or route names the link
// (by any of its names, gateway address%interface included) or an earlier event of that
// link did; a tunnel's interface no item names needs none; before the first pass all do.
func TestLinkEvents(t *testing.T) {
	attrs := func(index int, name string, alts ...string) *netlink.LinkAttrs {
		return &netlink.LinkAttrs{Index: index, Name: name, AltNames: alts}
	}
	var f linkEvents
	if !f.needsPass(attrs(4, "g1"), "g1") {
		t.Error("before the first pass an event needs no pass")
	}
	f.setNames([]map[string]string{
		{"address": "198.18.0.1/24", "interface": "ether1"},
		{"dst-address": "198.19.0.0/16", "gateway": "198.18.0.254%ether2"},
		{"dst-address": "198.20.0.0/16", "gateway": "gre5"},
	})
	for _, c := range []struct {
		a    *netlink.LinkAttrs
		ros  string
		want bool
	}{
		{attrs(4, "g1"), "g1", false},
		{attrs(2, "ether1"), "ether1", true},
		{attrs(3, "ether2"), "ether2", true},
		{attrs(5, "gre5"), "gre5", true},
		{attrs(6, "x6", "ether1"), "ether1", true},
		{attrs(2, "wan"), "wan", true}, // renamed away: index 2 mattered
	} {
		if got := f.needsPass(c.a, c.ros); got != c.want {
			t.Errorf("%s: needs a pass %v, want %v", c.ros, got, c.want)
		}
	}
}
