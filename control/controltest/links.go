package controltest

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// Links are the links of a plan test's fake kernel: lo, then names, each up, with the
// index of its place from 1 and a locally administered MAC address of that number.
func Links(names ...string) []netlink.Link {
	var out []netlink.Link
	for i, n := range append([]string{"lo"}, names...) {
		a := netlink.NewLinkAttrs()
		a.Name, a.Index, a.Flags = n, i+1, net.FlagUp
		a.HardwareAddr = net.HardwareAddr{2, 0, 0, 0, 0, byte(i + 1)}
		out = append(out, &netlink.Device{LinkAttrs: a})
	}
	return out
}

// LinkName is the name of the link with index among links, or the index when none has
// it (a fake's record of a write to a link that is gone).
func LinkName(links []netlink.Link, index int) string {
	for _, l := range links {
		if l.Attrs().Index == index {
			return l.Attrs().Name
		}
	}
	return fmt.Sprint(index)
}
