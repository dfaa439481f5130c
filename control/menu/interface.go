package menu

import (
	"strings"

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
	// stored declares a property RouterOS exports that has no equivalent here.
	hexProp := func(p Prop) Prop { p.Hex = true; return p }
	stored := func(name string, t value.Type, def, why, desc string) Prop {
		return Prop{Name: name, Type: t, Default: def, NoEffect: why, Desc: desc}
	}
	anyTime := value.Time(0, 1<<62)
	const (
		noSTP       = "the kernel runs 802.1D STP (no RSTP or MSTP here)"
		noMVRP      = "no MVRP here"
		noSnoopDHCP = "no DHCP snooping here"
		noMLAG      = "no MLAG here"
		mcastTimer  = "the kernel's multicast snooping timers are used"
		noHW        = "no switch chip offload here"
		noLoop      = "loop protect runs on EoIP tunnels only"
	)
	arp := Prop{Name: "arp", Type: value.Enum("disabled", "enabled", "local-proxy-arp", "proxy-arp", "reply-only"), Default: "enabled",
		Desc: "Address Resolution Protocol mode: disabled (no ARP, static entries only), proxy-arp, local-proxy-arp (also for hosts on this interface), reply-only (answer, never ask: static entries only)."}
	arpTimeout := Prop{Name: "arp-timeout", Type: anyTime, Auto: true, Default: "auto",
		Desc: "How long an ARP entry stays reachable after it was confirmed (base_reachable_time); auto: the kernel's 30s."}
	loopProtect := []Prop{
		stored("loop-protect", value.Enum("default", "on", "off"), "default", noLoop, "Loop protection on the interface."),
		stored("loop-protect-disable-time", anyTime, "5m", noLoop, "How long the interface is disabled when a loop is detected."),
		stored("loop-protect-send-interval", anyTime, "5s", noLoop, "Interval between loop protection packets."),
	}
	frameTypes := value.Enum("admit-all", "admit-only-untagged-and-priority-tagged", "admit-only-vlan-tagged")
	vlanIDs := value.List(value.String()) // ids and ranges, checked by the link engine

	return []*Menu{
		{
			Path: InterfacePath,
			Kind: Fixed,
			Props: withCounters([]Prop{
				ifName,
				ro("type", value.String(), "Kind of link (ether, bridge, vlan, veth, gre ...)."),
				ro("default-name", value.String(), "Name an Ethernet port had when routerd first saw it (find default-name=ether1 finds it after a rename)."),
				{Name: "mtu", Type: value.Int(68, 65535), Desc: "Layer3 maximum transmission unit; unset keeps the link's own, except an ethernet port's, which is 1500 as on RouterOS (/interface ethernet)."},
				ro("actual-mtu", value.Int(0, 65535), "MTU in effect."),
				ro("l2mtu", value.Int(0, 65535), "Layer2 MTU (not reported by this kernel interface; empty)."),
				ro("mac-address", value.MAC(), "MAC address of the link."),
				ro("last-link-down-time", value.String(), "When the link last lost carrier (seen by routerd)."),
				ro("last-link-up-time", value.String(), "When the link last gained carrier (seen by routerd)."),
				counter("link-downs", "Times the link lost carrier since routerd started."),
				ro("fast-path", value.Bool(), "Whether the port runs the fast path program (XDP), which forwards what it may of the packets received on it."),
				ro("fast-path-status", value.String(), "Why the port does not run the fast path program (an XDP program that is not routerd's holds it, the kernel refused ...)."),
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
			Path: EthernetPath,
			Kind: Fixed,
			Props: withCounters([]Prop{
				{Name: "name", Type: value.String(), Unique: true,
					Desc: "Interface name; setting it renames the link (found again by default-name)."},
				ro("default-name", value.String(), "Name the link had when routerd first saw it."),
				// routerd owns a port's MTU as RouterOS does: 1500 unless configured, and
				// put back when changed behind its back.
				{Name: "mtu", Type: value.Int(68, 65535), Default: "1500", Desc: "Layer3 maximum transmission unit (restored when changed outside routerd)."},
				stored("l2mtu", value.Int(0, 65535), "", "the kernel has no separate layer-2 MTU", "Layer2 MTU."),
				{Name: "mac-address", Type: value.MAC(), Desc: "MAC address of the link; unset restores the original."},
				ro("orig-mac-address", value.MAC(), "MAC address the link had when routerd first saw it."),
				arp,
				arpTimeout,
				stored("auto-negotiation", value.Bool(), "yes", "link speed and duplex are left to the driver", "Negotiate speed and duplex with the link partner."),
				stored("advertise", value.List(value.String()), "", "link speed and duplex are left to the driver", "Speeds and duplex modes advertised when negotiating."),
				stored("speed", value.String(), "", "link speed and duplex are left to the driver", "Fixed speed when auto-negotiation is off (1Gbps, 1G-baseT-full ...)."),
				stored("full-duplex", value.Bool(), "yes", "link speed and duplex are left to the driver", "Full duplex when auto-negotiation is off."),
				stored("bandwidth", value.String(), "unlimited/unlimited", "no per-port shaper here", "Receive/transmit rate limit of the port."),
				stored("disable-running-check", value.Bool(), "no", "running always follows the carrier here", "Treat the link as always running."),
				stored("rx-flow-control", value.Enum("auto", "off", "on"), "off", "pause frames are left to the driver", "Accept pause frames."),
				stored("tx-flow-control", value.Enum("auto", "off", "on"), "off", "pause frames are left to the driver", "Send pause frames."),
				stored("cable-settings", value.Enum("default", "short", "standard"), "default", noHW, "Cable length adjustment of the PHY."),
				stored("combo-mode", value.Enum("auto", "copper", "sfp"), "auto", noHW, "Which half of a combo port is used."),
				stored("fec-mode", value.Enum("auto", "fec74", "fec91", "off"), "auto", noHW, "Forward error correction of SFP28/QSFP ports."),
				stored("poe-out", value.Enum("auto-on", "forced-on", "off"), "auto-on", "no PoE here", "Power over Ethernet output."),
				stored("poe-priority", value.Int(0, 99), "10", "no PoE here", "PoE output priority."),
				stored("poe-voltage", value.Enum("auto", "high", "low"), "auto", "no PoE here", "PoE output voltage of boards that have two (RouterOS 7)."),
				stored("poe-lldp-enabled", value.Bool(), "no", "no PoE here", "Negotiate PoE power with the powered device over LLDP (RouterOS 7)."),
				stored("sfp-shutdown-temperature", celsius{}, "95C", noHW, "SFP temperature (C) at which the module is shut down."),
				stored("sfp-rate-select", value.Enum("high", "low"), "high", noHW, "SFP rate select pin."),
				stored("power-cycle-ping-enabled", value.Bool(), "no", "no PoE here", "Power-cycle the PoE output when pings fail."),
				stored("power-cycle-ping-address", value.IP(), "", "no PoE here", "Address pinged by power-cycle-ping."),
				stored("power-cycle-ping-timeout", anyTime, "", "no PoE here", "Ping failure time before a power cycle."),
				stored("power-cycle-interval", value.OneOf(anyTime, value.Enum("none")), "", "no PoE here", "Power-cycle the PoE output at this interval (none: never; RouterOS 6 export verbose writes none)."),
				stored("mdix-enable", value.Bool(), "yes", "link settings are left to the driver", "Detect crossed cables (auto MDI-X)."),
				stored("sfp-ignore-rx-los", value.Bool(), "no", noHW, "Ignore the SFP module's receive loss-of-signal."),
				// RouterOS 6 (before 6.41) switched ports with master-port=; the upgrade
				// made a bridge of each master port and its slaves (package compat).
				{Name: "master-port", Type: value.String(), V6: Console(BridgePortPath, "(a bridge created from the master port)"),
					Desc: "RouterOS 6 switch group: the port this one is switched with."},
			},
				append(append([]Prop{}, loopProtect...), comment, disabled, running,
					hidden("slave", "The link is a port of a bridge."))...,
			),
			Flags:    []Flag{FlagDisabled, FlagRunning, flagSlave},
			Columns:  []string{"name", "mtu", "mac-address"},
			Stats:    linkStats,
			Selector: "default-name",
			Desc:     "Ethernet-like links (physical and veth), found by default-name once renamed.",
		},
		{
			Path: BridgePath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Desc: "Bridge name."},
				{Name: "mtu", Type: value.Int(68, 65535), Auto: true, Default: "auto",
					Desc: "Layer3 MTU; auto follows the smallest port MTU."},
				ro("actual-mtu", value.Int(0, 65535), "MTU in effect."),
				ro("mac-address", value.MAC(), "MAC address of the bridge."),
				// RouterOS's default is rstp. Linux's bridge runs only 802.1D STP (RSTP and
				// MSTP need mstpd, which Debian does not ship): stp, rstp and mstp run it,
				// and spanning-tree says so.
				{Name: "protocol-mode", Type: value.Enum("mstp", "none", "rstp", "stp"), Default: "rstp",
					Desc: "Spanning tree protocol: none, or the kernel's STP (802.1D) for stp, rstp and mstp (spanning-tree shows which runs)."},
				ro("spanning-tree", value.String(), "Spanning tree the kernel runs for protocol-mode: none, or stp (802.1D; with rstp or mstp a port forwards 2 x forward-delay after it comes up, not at once as an RSTP edge port would)."),
				{Name: "auto-mac", Type: value.Bool(), Default: "yes",
					Desc: "Take the MAC address of a port; no: use admin-mac."},
				{Name: "admin-mac", Type: value.MAC(),
					Desc: "Static MAC address of the bridge, used when auto-mac is no."},
				{Name: "ageing-time", Type: anyTime, Default: "5m", Desc: "How long a host's entry is kept in the bridge database."},
				arp,
				arpTimeout,
				stored("add-dhcp-option82", value.Bool(), "no", noSnoopDHCP, "Add DHCP option 82 to snooped DHCP packets."),
				stored("dhcp-snooping", value.Bool(), "no", noSnoopDHCP, "Snoop DHCP packets."),
				stored("ether-type", value.Enum("0x8100", "0x88a8", "0x9100"), "0x8100", "the bridge VLAN protocol is 802.1Q", "VLAN protocol of the bridge's VLAN filtering."),
				stored("fast-forward", value.Bool(), "yes", "RouterOS fast path; the Linux bridge has none", "Fast forwarding between two ports."),
				{Name: "forward-reserved-addresses", Type: value.Bool(), Default: "no",
					Desc: "Forward IEEE reserved group addresses 01:80:C2:00:00:0x (all but STP, pause and LACP frames, which the kernel never forwards)."},
				{Name: "forward-delay", Type: anyTime, Default: "15s",
					Desc: "Time spent in each of the listening and learning states (kernel range 2s..30s)."},
				stored("frame-types", frameTypes, "admit-all", "frame types are applied per port", "Frames the bridge interface accepts with vlan-filtering."),
				stored("ingress-filtering", value.Bool(), "yes", "the Linux bridge always filters ingress by VLAN when vlan-filtering is on", "Drop frames of VLANs the bridge interface is not a member of."),
				{Name: "igmp-version", Type: value.Enum("2", "3"), Default: "2", Desc: "IGMP version of the bridge's querier."},
				{Name: "mld-version", Type: value.Enum("1", "2"), Default: "1", Desc: "MLD version of the bridge's querier."},
				{Name: "last-member-interval", Type: anyTime, Default: "1s", Desc: "Group-specific query interval after a leave."},
				{Name: "last-member-query-count", Type: value.Int(0, 4294967295), Default: "2", Desc: "Group-specific queries sent after a leave."},
				{Name: "membership-interval", Type: anyTime, Default: "4m20s", Desc: "Time after which a group without reports is removed."},
				{Name: "querier-interval", Type: anyTime, Default: "4m15s", Desc: "Time after which another querier is considered gone."},
				{Name: "query-interval", Type: anyTime, Default: "2m5s", Desc: "Interval between general queries."},
				{Name: "query-response-interval", Type: anyTime, Default: "10s", Desc: "Maximum response time in queries."},
				{Name: "startup-query-count", Type: value.Int(0, 4294967295), Default: "2", Desc: "Queries sent at start-up."},
				{Name: "startup-query-interval", Type: anyTime, Default: "31s250ms", Desc: "Interval between start-up queries."},
				{Name: "multicast-querier", Type: value.Bool(), Default: "no", Desc: "Send IGMP/MLD general queries (with igmp-snooping)."},
				{Name: "max-learned-entries", Type: value.OneOf(value.Enum("auto", "unlimited"), value.Int(0, 4294967295)), Default: "auto",
					Desc: "Maximum number of learned hosts (auto and unlimited: no limit)."},
				stored("mvrp", value.Bool(), "no", noMVRP, "Multiple VLAN Registration Protocol."),
				stored("dhcp-agent-circuit-id", value.String(), "", noSnoopDHCP, "Agent Circuit ID of option 82 (default: the port name)."),
				stored("dhcp-agent-remote-id", value.String(), "", noSnoopDHCP, "Agent Remote ID of option 82 (default: the bridge MAC)."),
				stored("dhcpv6-snooping", value.Bool(), "no", noSnoopDHCP, "Snoop DHCPv6 packets."),
				stored("dhcpv6-agent-circuit-id", value.String(), "", noSnoopDHCP, "Interface-ID option the DHCPv6 relay agent adds."),
				stored("dhcpv6-agent-remote-id", value.String(), "", noSnoopDHCP, "Remote-ID option the DHCPv6 relay agent adds."),
				stored("ra-guard", value.Bool(), "no", "no RA guard here", "Drop router advertisements from untrusted ports (trusted-ra)."),
				stored("mlag-peer-port", value.String(), "none", noMLAG, "Port to the MLAG peer."),
				stored("mlag-heartbeat", anyTime, "5s", noMLAG, "Interval of MLAG heartbeats."),
				stored("mlag-priority", value.Int(0, 255), "128", noMLAG, "MLAG primary election priority."),
				stored("port-cost-mode", value.Enum("long", "short"), "long", noSTP, "Path cost scale of the ports."),
				{Name: "priority", Type: value.Int(0, 65535), Default: "32768", Hex: true, Desc: "Bridge priority (0x8000) in the root election."},
				{Name: "max-message-age", Type: anyTime, Default: "20s",
					Desc: "How long spanning tree information is kept (kernel range 6s..40s)."},
				stored("transmit-hold-count", value.Int(1, 10), "6", noSTP, "BPDUs sent per second at most."),
				stored("max-hops", value.Int(6, 40), "20", noSTP, "MSTP hop limit."),
				stored("region-name", value.String(), "", noSTP, "MSTP region name."),
				stored("region-revision", value.Int(0, 65535), "0", noSTP, "MSTP region revision."),
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
				hidden("invalid", "The interface cannot be created here (a kernel feature is missing, an unusable name); print's status says why."),
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled, FlagRunning},
			Columns: []string{"name", "mtu", "actual-mtu", "mac-address"},
			Desc:    "Bridges (software switches).",
		},
		{
			Path: VLANPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Desc: "Interface name."},
				{Name: "mtu", Type: value.Int(68, 65535), Default: "1500", Desc: "Layer3 MTU."},
				{Name: "vlan-id", Type: value.Int(1, 4094), Default: "1", Desc: "802.1Q VLAN id."},
				{Name: "interface", Type: value.String(), Required: true,
					Desc: "Link the VLAN is tagged on."},
				ro("mac-address", value.MAC(), "MAC address (the parent's)."),
				arp,
				arpTimeout,
				stored("mvrp", value.Bool(), "no", noMVRP, "Register the VLAN through MVRP."),
				stored("use-service-tag", value.Bool(), "no", "802.1ad service tags are not applied", "Use an 802.1ad service tag."),
				loopProtect[0], loopProtect[1], loopProtect[2],
				comment,
				disabled,
				running,
				hidden("invalid", "The interface cannot be created here (a kernel feature is missing, an unusable name); print's status says why."),
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled, FlagRunning},
			Columns: []string{"name", "mtu", "vlan-id", "interface"},
			Desc:    "802.1Q VLAN interfaces.",
		},
		{
			Path: BridgeSettingsPath,
			Kind: Single,
			Props: []Prop{
				{Name: "use-ip-firewall", Type: value.Bool(), Default: "no",
					Desc: "Bridged IPv4 and IPv6 traffic also passes the IP firewall's prerouting, forward and postrouting (br_netfilter)."},
				{Name: "use-ip-firewall-for-vlan", Type: value.Bool(), Default: "no",
					Desc: "Bridged VLAN-tagged traffic too (with use-ip-firewall)."},
				{Name: "use-ip-firewall-for-pppoe", Type: value.Bool(), Default: "no",
					Desc: "Bridged PPPoE traffic too (with use-ip-firewall)."},
				stored("allow-fast-path", value.Bool(), "yes", "RouterOS's bridge fast path; the Linux bridge has none", "Bridge fast path."),
			},
			Desc: "Bridge settings: whether bridged traffic passes the IP firewall.",
		},
		{
			// Before the bridge ports: a port may name a list (interface=LAN).
			Path: InterfaceListPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Required: true, Desc: "List name."},
				{Name: "include", Type: value.String(), Ref: InterfaceListPath, RefList: true,
					Desc: "Lists whose members are members of this list too."},
				{Name: "exclude", Type: value.String(), Ref: InterfaceListPath, RefList: true,
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
			Path: BridgePortPath,
			Kind: List,
			Props: []Prop{
				{Name: "interface", Type: value.String(), Required: true, Unique: true,
					Desc: "Link made a port of the bridge, or an interface list whose members are made ports."},
				{Name: "bridge", Type: value.String(), Ref: BridgePath, Required: true,
					Desc: "The bridge."},
				{Name: "pvid", Type: value.Int(1, 4094), Default: "1",
					Desc: "VLAN id given to untagged ingress and sent untagged on egress."},
				{Name: "frame-types", Type: value.Enum("admit-all", "admit-only-untagged-and-priority-tagged", "admit-only-vlan-tagged"),
					Default: "admit-all", Desc: "Which frames the port accepts with vlan-filtering."},
				{Name: "horizon", Type: value.OneOf(value.Enum("none"), value.Int(0, 429496729)), Default: "none",
					Desc: "Ports with the same horizon do not forward to each other (kernel port isolation: one horizon value per bridge)."},
				stored("ingress-filtering", value.Bool(), "yes", "the Linux bridge always filters ingress by VLAN when vlan-filtering is on", "Drop frames of VLANs the port is not a member of."),
				stored("trusted", value.Bool(), "no", noSnoopDHCP, "Forward DHCP server messages (DHCP snooping)."),
				stored("trusted-dhcpv6", value.Bool(), "no", noSnoopDHCP, "Forward DHCPv6 server messages (DHCPv6 snooping)."),
				stored("trusted-ra", value.Bool(), "no", "no RA guard here", "Forward router advertisements when the bridge has ra-guard."),
				stored("internal-path-cost", value.Int(1, 200000000), "10", "no MSTP here", "Path cost within an MSTP region."),
				{Name: "path-cost", Type: value.Int(1, 200000000), Default: "10",
					Desc: "Spanning tree path cost of the port (the kernel's 802.1D STP takes 1..65535; a larger cost makes the port invalid)."},
				hexProp(Prop{Name: "priority", Type: value.Int(0, 240), Default: "128",
					Desc: "Port priority (0x80), the top bits of the port identifier: the kernel's port priority is priority/4 (0..60; 128 is the kernel's default 32)."}),
				stored("edge", value.Enum("auto", "no", "no-discover", "yes", "yes-discover"), "auto", noSTP, "Whether the port is an edge port."),
				stored("point-to-point", value.Enum("auto", "no", "yes"), "auto", noSTP, "Whether the link is point-to-point."),
				stored("bpdu-guard", value.Bool(), "no", noSTP, "Disable the port when a BPDU arrives."),
				stored("restricted-role", value.Bool(), "no", noSTP, "Never root port."),
				stored("restricted-tcn", value.Bool(), "no", noSTP, "Ignore topology change notifications."),
				stored("auto-isolate", value.Bool(), "no", noSTP, "Isolate an edge port that receives BPDUs."),
				stored("learn", value.Enum("auto", "no", "yes"), "auto", "the kernel learns on every port", "Learn source MAC addresses."),
				stored("broadcast-flood", value.Bool(), "yes", "the kernel floods broadcasts on every port", "Flood broadcast frames to the port."),
				stored("unknown-multicast-flood", value.Bool(), "yes", "the kernel floods on every port", "Flood unknown multicast to the port."),
				stored("unknown-unicast-flood", value.Bool(), "yes", "the kernel floods on every port", "Flood unknown unicast to the port."),
				stored("multicast-router", value.Enum("disabled", "permanent", "temporary-query"), "temporary-query", mcastTimer, "Whether the port is a multicast router port."),
				stored("fast-leave", value.Bool(), "no", mcastTimer, "Remove a group on the first leave."),
				stored("tag-stacking", value.Bool(), "no", "802.1ad tag stacking is not applied", "Push a tag on already tagged frames."),
				stored("hw", value.Bool(), "yes", noHW, "Offload the port to the switch chip."),
				stored("external-fdb", value.Enum("auto", "no", "yes"), "auto", noHW, "RouterOS 6: use the switch chip's host table for the port (export verbose writes it on every port)."),
				stored("mvrp-applicant-state", value.Enum("normal-participant", "non-participant"), "normal-participant", noMVRP, "MVRP applicant state."),
				stored("mvrp-registrar-state", value.Enum("fixed", "normal"), "normal", noMVRP, "MVRP registrar state."),
				comment,
				disabled,
				hidden("inactive", "The port cannot be applied."),
				hidden("dynamic", "A member of the interface list a port names (interface=LAN), made a port with that port's settings."),
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled, FlagDynamic},
			Columns: []string{"interface", "bridge", "pvid", "horizon"},
			Desc:    "Bridge ports; interface= may name an interface list, whose members become ports and follow the list.",
		},
		{
			Path: BridgeVLANPath,
			Kind: List,
			Props: []Prop{
				{Name: "bridge", Type: value.String(), Ref: BridgePath, Required: true, Desc: "The bridge."},
				{Name: "vlan-ids", Type: vlanIDs, Required: true,
					Desc: "VLAN ids (and ranges such as 100-115) of the entry."},
				{Name: "tagged", Type: value.String(),
					Desc: "Ports (or the bridge itself) that send these VLANs tagged."},
				{Name: "untagged", Type: value.String(),
					Desc: "Ports (or the bridge itself) that send these VLANs untagged."},
				ro("current-tagged", value.String(), "Ports tagged in effect."),
				ro("current-untagged", value.String(), "Ports untagged in effect."),
				stored("mvrp-forbidden", value.String(), "", noMVRP, "Ports on which MVRP may not register these VLANs."),
				comment,
				disabled,
			},
			Flags:   []Flag{FlagInvalid, FlagDisabled},
			Columns: []string{"bridge", "vlan-ids", "current-tagged", "current-untagged"},
			Desc:    "Bridge VLAN table (used with vlan-filtering).",
		},
		{
			Path: BridgeMDBPath,
			Kind: List,
			Props: []Prop{
				{Name: "group", Type: value.IP(), Required: true, Desc: "Multicast group address."},
				{Name: "bridge", Type: value.String(), Ref: BridgePath, Required: true, Desc: "The bridge."},
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
			Path: InterfaceListMemberPath,
			Kind: List,
			Props: []Prop{
				{Name: "list", Type: value.String(), Ref: InterfaceListPath, Required: true, Desc: "The list."},
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

// celsius is a temperature in whole degrees as RouterOS 7 writes it (95C); RouterOS 6's
// bare number is taken too. The canonical form carries the C.
type celsius struct{}

func (celsius) Name() string { return "integer [0..200]C" }

func (celsius) Parse(s string) (string, error) {
	n, err := value.Int(0, 200).Parse(strings.TrimSuffix(s, "C"))
	if err != nil {
		return "", err
	}
	return n + "C", nil
}
