package link

import (
	"testing"

	"github.com/vishvananda/netlink"
)

// TestDynamicRule: the D flag of /interface print and the built-in list dynamic come from
// one rule: not created by routerd, no configuration, not one of the box's own devices.
func TestDynamicRule(t *testing.T) {
	attrs := func(name, alias string) netlink.LinkAttrs {
		a := netlink.NewLinkAttrs()
		a.Name, a.Alias = name, alias
		return a
	}
	links := []netlink.Link{
		&netlink.Device{LinkAttrs: attrs("lo", "")},
		&netlink.Device{LinkAttrs: attrs("eth0", "")},
		&netlink.Veth{LinkAttrs: attrs("ext0", "")},
		&netlink.Veth{LinkAttrs: attrs("ether2", "")},
		&netlink.Bridge{LinkAttrs: attrs("bridge1", ownerAlias)},
		&netlink.Bridge{LinkAttrs: attrs("docker0", "")},
		&netlink.Gretun{LinkAttrs: attrs("gre1", "")},
	}
	configured := map[string]bool{"ether2": true, "gre1": true}
	want := map[string]bool{"lo": false, "eth0": false, "ext0": true, "ether2": false, "bridge1": false, "docker0": true, "gre1": false}
	infos := classify(links, configured, func(string) bool { return false }, ethernetLike, nil)
	for i, l := range links {
		n := l.Attrs().Name
		if got := dynamicLink(l, configured, nil); got != want[n] {
			t.Errorf("%s: dynamic %v, want %v", n, got, want[n])
		}
		if infos[i].name != n || infos[i].static == want[n] {
			t.Errorf("%s: list classification %+v disagrees with the D flag", n, infos[i])
		}
	}
}
