package link

import (
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/store"
)

// eventFilter decides which link events need a pass of the link engine. A pass reads
// every link; while a thousand tunnels are made, their interfaces send several events
// each, none of which any item of this engine's menus names. An event needs a pass when
// its link is one the configuration names (under any of its names), one routerd owns
// (a bridge or VLAN it made), a bridge, VLAN or physical port, a bridge port, or a link
// an earlier event needed a pass for (renamed away from a configured name, deleted).
type eventFilter struct {
	// names are every value of every item of the engine's menus (lists split at
	// commas); nil until the first pass: every event needs a pass.
	names map[string]bool
	// seen are the ifindexes of links whose events needed a pass.
	seen map[int]bool
	// ports are the MTU and admin state last seen of ethernet-like links (veth; a
	// "device" always needs a pass): a port routerd owns whose MTU changed, or that was
	// set down, behind its back is repaired by the pass this asks for.
	ports map[int]portSeen
}

// portSeen is what eventFilter last saw of an ethernet-like link.
type portSeen struct {
	mtu int
	up  bool
}

// configValues collects the values of items, lists split at commas.
func configValues(raw map[string][]store.Item) map[string]bool {
	out := map[string]bool{}
	for _, items := range raw {
		for _, it := range items {
			for _, v := range it.Props {
				for part := range strings.SplitSeq(v, ",") {
					out[part] = true
				}
			}
		}
	}
	return out
}

// needsPass reports whether a link event can change what the engine applies or shows
// on its items; ros is the link's RouterOS name. e.mu is held.
func (f *eventFilter) needsPass(u netlink.LinkUpdate, ros string) bool {
	a := u.Link.Attrs()
	moved := f.portMoved(u)
	if f.names == nil || f.seen[a.Index] {
		return true
	}
	need := moved || owned(u.Link) || a.MasterIndex != 0
	switch u.Link.Type() {
	case "bridge", "vlan", "device":
		need = true
	}
	for _, n := range append([]string{ros, a.Name}, a.AltNames...) {
		if f.names[n] {
			need = true
		}
	}
	if need {
		if f.seen == nil {
			f.seen = map[int]bool{}
		}
		f.seen[a.Index] = true
	}
	return need
}

// portMoved records the MTU and admin state of a veth and reports whether its MTU
// changed or it went down since the last event: routerd owns an unconfigured port's MTU
// (1500, as RouterOS's default) and admin state (up), so such a change made behind its
// back needs the pass that puts them back. A veth routerd does not own (a tunnel's end)
// costs a pass only when its MTU changes or it is set down; a veth from another namespace
// (a port moved in) also when it first shows down.
func (f *eventFilter) portMoved(u netlink.LinkUpdate) bool {
	a := u.Link.Attrs()
	if u.Link.Type() != "veth" {
		return false
	}
	if u.Header.Type == unix.RTM_DELLINK {
		delete(f.ports, a.Index)
		return false
	}
	if f.ports == nil {
		f.ports = map[int]portSeen{}
	}
	now := portSeen{mtu: a.MTU, up: a.Flags&net.FlagUp != 0}
	was, ok := f.ports[a.Index]
	f.ports[a.Index] = now
	if !ok {
		// A port that arrives while routerd runs (a veth whose peer is in another
		// namespace, moved in with `ip link set ... netns`) is enabled like one present
		// at start: it needs the pass that brings it up. A tunnel's pair has both ends
		// here and costs no pass.
		return a.NetNsID >= 0 && !now.up
	}
	return was.mtu != now.mtu || was.up && !now.up
}
