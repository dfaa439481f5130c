package menu

import (
	"github.com/routerd/routerd/control/value"
)

// Interface flags in the order RouterOS prints them ("D - dynamic, X - disabled,
// R - running, S - slave").
var (
	flagSlave = Flag{'S', "slave"}
)

// interfaceMenus declares /interface and the layer-2 menus under it: ethernet, vlan,
// bridge (port, vlan, mdb) and interface lists. They come first in export order: the
// addresses, tunnels and IPsec settings exported after them name these links.
//
// Properties that name a link (interface=, tagged=, ports=) are plain strings checked by
// the link engine rather than Refs: a link configured earlier in the same import (a
// bridge, a tunnel) is a valid name before the kernel has it.
//
// /interface and /interface/ethernet are Fixed menus without declared items: their rows
// are the kernel's links (supplied by the link engine), and a `set` on a link stores the
// setting in an /interface item of the link's name, created on first set, so that it
// applies again when a link of that name comes back.
func interfaceMenus() []*Menu {
	ro := func(name string, t value.Type, desc string) Prop {
		return Prop{Name: name, Type: t, ReadOnly: true, Desc: desc}
	}
	hidden := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: desc}
	}
	counter := func(name, desc string) Prop {
		return ro(name, value.Int(0, 1<<62), desc)
	}
	// counters are the columns of `/interface print stats` (and ethernet's), in
	// RouterOS's order.
	counters := []Prop{
		counter("rx-byte", "Bytes received."),
		counter("tx-byte", "Bytes sent."),
		counter("rx-packet", "Packets received."),
		counter("tx-packet", "Packets sent."),
		counter("rx-drop", "Received packets dropped."),
		counter("tx-drop", "Packets dropped on send."),
		counter("tx-queue-drop", "Packets dropped by the link's queue (root qdisc)."),
		counter("rx-error", "Receive errors."),
		counter("tx-error", "Send errors."),
	}
	var linkStats []string
	for _, c := range counters {
		linkStats = append(linkStats, c.Name)
	}
	withCounters := func(before []Prop, after ...Prop) []Prop {
		return append(append(append([]Prop{}, before...), counters...), after...)
	}
	ifName := Prop{Name: "name", Type: value.String(), ReadOnly: true, Unique: true, Desc: "Interface name."}
	comment := Prop{Name: "comment", Type: value.String(), Desc: "Short description of the item."}
	disabled := Prop{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the item is disabled."}
	running := hidden("running", "The link is up (carrier).")
	vlanIDs := value.List(value.String()) // ids and ranges, checked by the link engine

	return []*Menu{
		{
			Path: "/interface",
			Kind: Fixed,
			Props: withCounters([]Prop{
				ifName,
				ro("type", value.String(), "Kind of link (ether, bridge, vlan, veth, gre ...)."),
				{Name: "mtu", Type: value.Int(68, 65535), Desc: "Layer3 maximum transmission unit; unset keeps the link's own."},
				ro("actual-mtu", value.Int(0, 65535), "MTU in effect."),
				ro("l2mtu", value.Int(0, 65535), "Layer2 MTU (not reported by this kernel interface; empty)."),
				ro("mac-address", value.MAC(), "MAC address of the link."),
				ro("last-link-down-time", value.String(), "When the link last lost carrier (seen by routerd)."),
				ro("last-link-up-time", value.String(), "When the link last gained carrier (seen by routerd)."),
				counter("link-downs", "Times the link lost carrier since routerd started."),
			},
				comment,
				disabled,
				running,
				hidden("slave", "The link is a port of a bridge."),
				hidden("dynamic", "The link was not configured through routerd."),
			),
			Flags:    []Flag{FlagDynamic, FlagDisabled, FlagRunning, flagSlave},
			Columns:  []string{"name", "type", "actual-mtu", "l2mtu", "mac-address"},
			Stats:    linkStats,
			Commands: []string{"monitor-traffic"},
			Desc:     "Every link of the system; settings of a link persist by its name.",
		},
		{
			Path: "/interface/ethernet",
			Kind: Fixed,
			Props: withCounters([]Prop{
				ifName,
				ro("default-name", value.String(), "Name the link had when routerd first saw it."),
				{Name: "mtu", Type: value.Int(68, 65535), Desc: "Layer3 maximum transmission unit."},
				ro("l2mtu", value.Int(0, 65535), "Layer2 MTU."),
				ro("mac-address", value.MAC(), "MAC address of the link."),
			},
				comment,
				disabled,
				running,
				hidden("slave", "The link is a port of a bridge."),
			),
			Flags:    []Flag{FlagDisabled, FlagRunning, flagSlave},
			Columns:  []string{"name", "mtu", "mac-address"},
			Stats:    linkStats,
			NoExport: true, // its settings are those of /interface, exported there
			Desc:     "Ethernet-like links (physical and veth); settings are kept in /interface.",
		},
		{
			Path: "/interface/bridge",
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Desc: "Bridge name."},
				{Name: "mtu", Type: value.Int(68, 65535), Auto: true, Default: "auto",
					Desc: "Layer3 MTU; auto follows the smallest port MTU."},
				ro("actual-mtu", value.Int(0, 65535), "MTU in effect."),
				ro("mac-address", value.MAC(), "MAC address of the bridge."),
				{Name: "protocol-mode", Type: value.Enum("none"), Default: "none",
					Desc: "Spanning tree protocol; only none is supported."},
				{Name: "vlan-filtering", Type: value.Bool(), Default: "no",
					Desc: "Forward by the bridge VLAN table and port PVIDs."},
				{Name: "pvid", Type: value.Int(1, 4094), Default: "1",
					Desc: "VLAN id of untagged traffic from and to the bridge interface itself."},
				{Name: "igmp-snooping", Type: value.Bool(), Default: "no",
					Desc: "Forward multicast only to ports that joined the group."},
				{Name: "multicast-router", Type: value.Enum("disabled", "permanent", "temporary-query"),
					Default: "temporary-query", Desc: "Whether the bridge interface is a multicast router port."},
				comment,
				disabled,
				running,
			},
			Flags:   []Flag{FlagDisabled, FlagRunning},
			Columns: []string{"name", "mtu", "actual-mtu", "mac-address"},
			Desc:    "Bridges (software switches).",
		},
		{
			Path: "/interface/vlan",
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Desc: "Interface name."},
				{Name: "mtu", Type: value.Int(68, 65535), Default: "1500", Desc: "Layer3 MTU."},
				{Name: "vlan-id", Type: value.Int(1, 4094), Default: "1", Desc: "802.1Q VLAN id."},
				{Name: "interface", Type: value.String(), Required: true,
					Desc: "Link the VLAN is tagged on."},
				ro("mac-address", value.MAC(), "MAC address (the parent's)."),
				comment,
				disabled,
				running,
			},
			Flags:   []Flag{FlagDisabled, FlagRunning},
			Columns: []string{"name", "mtu", "vlan-id", "interface"},
			Desc:    "802.1Q VLAN interfaces.",
		},
		{
			Path: "/interface/bridge/port",
			Kind: List,
			Props: []Prop{
				{Name: "interface", Type: value.String(), Required: true, Unique: true,
					Desc: "Link made a port of the bridge."},
				{Name: "bridge", Type: value.String(), Ref: "/interface/bridge", Required: true,
					Desc: "The bridge."},
				{Name: "pvid", Type: value.Int(1, 4094), Default: "1",
					Desc: "VLAN id given to untagged ingress and sent untagged on egress."},
				{Name: "frame-types", Type: value.Enum("admit-all", "admit-only-untagged-and-priority-tagged", "admit-only-vlan-tagged"),
					Default: "admit-all", Desc: "Which frames the port accepts with vlan-filtering."},
				{Name: "horizon", Type: value.OneOf(value.Enum("none"), value.Int(0, 429496729)), Default: "none",
					Desc: "Ports with the same horizon do not forward to each other (kernel port isolation: one horizon value per bridge)."},
				comment,
				disabled,
				hidden("inactive", "The port cannot be applied."),
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled},
			Columns: []string{"interface", "bridge", "pvid", "horizon"},
			Desc:    "Bridge ports.",
		},
		{
			Path: "/interface/bridge/vlan",
			Kind: List,
			Props: []Prop{
				{Name: "bridge", Type: value.String(), Ref: "/interface/bridge", Required: true, Desc: "The bridge."},
				{Name: "vlan-ids", Type: vlanIDs, Required: true,
					Desc: "VLAN ids (and ranges such as 100-115) of the entry."},
				{Name: "tagged", Type: value.String(),
					Desc: "Ports (or the bridge itself) that send these VLANs tagged."},
				{Name: "untagged", Type: value.String(),
					Desc: "Ports (or the bridge itself) that send these VLANs untagged."},
				ro("current-tagged", value.String(), "Ports tagged in effect."),
				ro("current-untagged", value.String(), "Ports untagged in effect."),
				comment,
				disabled,
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled},
			Columns: []string{"bridge", "vlan-ids", "current-tagged", "current-untagged"},
			Desc:    "Bridge VLAN table (used with vlan-filtering).",
		},
		{
			Path: "/interface/bridge/mdb",
			Kind: List,
			Props: []Prop{
				{Name: "group", Type: value.IP(), Required: true, Desc: "Multicast group address."},
				{Name: "bridge", Type: value.String(), Ref: "/interface/bridge", Required: true, Desc: "The bridge."},
				{Name: "ports", Type: value.String(), Required: true,
					Desc: "Ports (or the bridge itself) the group is forwarded to."},
				{Name: "vid", Type: value.Int(0, 4094), Default: "0", Desc: "VLAN id of the entry; 0 none."},
				comment,
				disabled,
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled},
			Columns: []string{"group", "vid", "ports", "bridge"},
			Desc:    "Static entries of the bridge multicast database.",
		},
		{
			Path: "/interface/list",
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Required: true, Desc: "List name."},
				{Name: "include", Type: value.String(), Ref: "/interface/list", RefList: true,
					Desc: "Lists whose members are members of this list too."},
				{Name: "exclude", Type: value.String(), Ref: "/interface/list", RefList: true,
					Desc: "Lists whose members are not members of this list."},
				comment,
				hidden("builtin", "The list is built in; its members are computed."),
			},
			Flags:   []Flag{{'*', "builtin"}},
			Columns: []string{"name"},
			Builtin: []map[string]string{
				{"name": "all", "comment": "contains all interfaces"},
				{"name": "none", "comment": "contains no interfaces"},
				{"name": "dynamic", "comment": "contains dynamic interfaces"},
				{"name": "static", "comment": "contains static interfaces"},
			},
			Desc: "Named lists of interfaces (used by firewall, services, neighbor discovery).",
		},
		{
			Path: "/interface/list/member",
			Kind: List,
			Props: []Prop{
				{Name: "list", Type: value.String(), Ref: "/interface/list", Required: true, Desc: "The list."},
				{Name: "interface", Type: value.String(), Required: true, Desc: "The member interface."},
				comment,
				disabled,
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled},
			Columns: []string{"list", "interface"},
			Desc:    "Members of interface lists.",
		},
	}
}
