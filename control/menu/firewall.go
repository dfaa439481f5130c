package menu

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control/value"
)

// CTTimeoutMax is the longest connection tracking timeout the kernel takes: its sysctls
// hold seconds as jiffies in an int, INT_MAX/HZ seconds at HZ=1000.
const CTTimeoutMax = 2147483 * time.Second

// Firewall actions per table, as RouterOS offers them; an action of another table is
// refused by the value type ("input does not match any value of action").
var (
	fwCommonActions = []string{"accept", "add-dst-to-address-list", "add-src-to-address-list", "jump", "log",
		"passthrough", "return"}
	fwActions = map[string][]string{
		"filter": {"drop", "fasttrack-connection", "reject", "tarpit"},
		"nat": {"dst-nat", "endpoint-independent-nat", "masquerade", "netmap", "redirect", "same",
			"src-nat"},
		"mangle": {"change-dscp", "change-mss", "change-ttl", "clear-df", "fasttrack-connection",
			"mark-connection", "mark-packet", "mark-routing", "route", "set-priority", "sniff-pc",
			"sniff-tzsp", "strip-ipv4-options"},
		"raw": {"drop", "notrack"},
	}
)

// rawLacks are the matchers /ip firewall raw does not have (RouterOS manual: "The RAW
// table does not have matchers that depend on connection tracking").
var rawLacks = []string{"connection-state", "connection-nat-state", "connection-mark", "connection-type",
	"connection-rate", "connection-bytes", "connection-limit", "layer7-protocol", "p2p", "routing-mark"}

// FirewallTables are the rule menus under /ip/firewall and /ipv6/firewall.
var FirewallTables = []string{"filter", "nat", "mangle", "raw"}

// FirewallActions returns the actions table accepts (v6: of /ipv6 firewall, whose mangle
// changes the hop limit and translates prefixes).
func FirewallActions(table string, v6 bool) []string {
	out := append(append([]string{}, fwCommonActions...), fwActions[table]...)
	if v6 && table == "mangle" {
		out = append(out, "change-hop-limit", "dnpt", "snpt")
	}
	return out
}

// firewallMenus declares /ip firewall and /ipv6 firewall (filter, nat, mangle, raw,
// address-list, connection, connection tracking, service-port) and /routing table and
// rule, after RouterOS's manual pages and the terraform-routeros property lists.
func firewallMenus() []*Menu {
	// Before the rule menus, whose layer7-protocol= names its items.
	ms := []*Menu{{
		Path: Layer7Path,
		Kind: List,
		Props: []Prop{
			{Name: "name", Type: value.String(), Required: true, Unique: true, Desc: "Name layer7-protocol= refers to."},
			{Name: "regexp", Type: value.String(), NoEffect: "Linux has no layer 7 match: the rules naming the pattern show invalid",
				Desc: "POSIX regular expression matched against a connection's first data."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the pattern."},
		},
		Columns: []string{"name", "regexp"},
		Desc:    "Layer 7 patterns; the rules that use one show invalid: Linux has no layer 7 match (the patterns are kept and exported).",
	}}
	counter := value.Int(0, math.MaxInt64) // kernel counters and rates: plain numbers over the API
	for _, fam := range []string{"ip", "ipv6"} {
		v6 := fam == "ipv6"
		for _, table := range FirewallTables {
			ms = append(ms, firewallRuleMenu(fam, table))
		}
		addr := fwAddress{v4: !v6, v6: v6, name: true}
		ms = append(ms, &Menu{
			Path: "/" + fam + "/firewall/address-list",
			Kind: List,
			Props: []Prop{
				{Name: "list", Type: value.Name(), Required: true, Desc: "Name of the address list."},
				// Not required: the manual's DDoS protection example creates its two lists
				// empty with `add list=NAME` before the rules that fill them.
				{Name: "address", Type: addr,
					Desc: "Address, prefix, range (from-to) or DNS name of the entry; none: the entry only creates the list (it matches nothing)."},
				{Name: "timeout", Type: value.Time(0, 35*24*3600*1e9*100),
					Desc: "Time after which the entry is removed; empty keeps it."},
				{Name: "creation-time", Type: value.String(), ReadOnly: true, Desc: "When the entry was added."},
				{Name: "comment", Type: value.String(), Desc: "Short description of the entry."},
				{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the entry is disabled."},
				{Name: "dynamic", Type: value.Bool(), ReadOnly: true, Hidden: true,
					Desc: "Entry added by a firewall rule (add-src/dst-to-address-list)."},
				{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "The entry cannot apply."},
			},
			Flags:     []Flag{FlagDisabled, FlagInvalid, FlagDynamic},
			Columns:   []string{"list", "address", "creation-time", "timeout"},
			UniqueKey: []string{"list", "address"},
			// An entry with a timeout is dynamic in RouterOS: not exported, gone at reboot.
			Dynamic: func(p map[string]string) bool {
				d, err := value.ParseDuration(p["timeout"])
				return err == nil && d > 0
			},
			Desc: "Address lists used by firewall matchers src-address-list and dst-address-list.",
		})
		ms = append(ms, &Menu{
			Path: "/" + fam + "/firewall/connection",
			Kind: Status,
			Props: []Prop{
				{Name: "protocol", Type: ctWord("protocol"), ReadOnly: true, Desc: "IP protocol."},
				{Name: "src-address", Type: ctWord("address[:port]"), ReadOnly: true, Desc: "Source address and port."},
				{Name: "dst-address", Type: ctWord("address[:port]"), ReadOnly: true, Desc: "Destination address and port."},
				{Name: "reply-src-address", Type: ctWord("address[:port]"), ReadOnly: true, Desc: "Source of the reply direction."},
				{Name: "reply-dst-address", Type: ctWord("address[:port]"), ReadOnly: true, Desc: "Destination of the reply direction."},
				{Name: "tcp-state", Type: ctWord("tcp state"), ReadOnly: true, Desc: "TCP connection state."},
				{Name: "timeout", Type: value.Time(0, math.MaxInt64), ReadOnly: true, Desc: "Time left before the entry expires."},
				{Name: "connection-mark", Type: value.Name(), ReadOnly: true, Desc: "Mark set by mark-connection."},
				{Name: "orig-packets", Type: counter, ReadOnly: true, Count: true, Desc: "Packets in the original direction."},
				{Name: "orig-bytes", Type: counter, ReadOnly: true, Count: true, Desc: "Bytes in the original direction."},
				{Name: "repl-packets", Type: counter, ReadOnly: true, Count: true, Desc: "Packets in the reply direction."},
				{Name: "repl-bytes", Type: counter, ReadOnly: true, Count: true, Desc: "Bytes in the reply direction."},
				{Name: "orig-rate", Type: counter, ReadOnly: true, BitRate: true, Desc: "Bits per second in the original direction now (over the last second or more)."},
				{Name: "repl-rate", Type: counter, ReadOnly: true, BitRate: true, Desc: "Bits per second in the reply direction now."},
				{Name: "orig-fasttrack-packets", Type: counter, ReadOnly: true, Count: true, Desc: "Packets in the original direction forwarded by FastTrack (the XDP fast path; conntrack's own counters do not see them)."},
				{Name: "orig-fasttrack-bytes", Type: counter, ReadOnly: true, Count: true, Desc: "Bytes in the original direction forwarded by FastTrack."},
				{Name: "repl-fasttrack-packets", Type: counter, ReadOnly: true, Count: true, Desc: "Packets in the reply direction forwarded by FastTrack."},
				{Name: "repl-fasttrack-bytes", Type: counter, ReadOnly: true, Count: true, Desc: "Bytes in the reply direction forwarded by FastTrack."},
				{Name: "assured", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "Traffic seen both ways."},
				{Name: "seen-reply", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "A reply was seen."},
				{Name: "srcnat", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "Source NAT applies."},
				{Name: "dstnat", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "Destination NAT applies."},
			},
			Flags:    []Flag{{'E', "expected"}, {'S', "seen-reply"}, {'A', "assured"}, {'C', "confirmed"}, {'D', "dying"}, {'F', "fasttrack"}, {'s', "srcnat"}, {'d', "dstnat"}},
			Commands: []string{"remove"},
			Columns: []string{"protocol", "src-address", "dst-address", "tcp-state", "timeout", "orig-rate", "repl-rate",
				"orig-packets", "repl-packets", "orig-bytes", "repl-bytes"},
			NoExport: true,
			Desc:     "Connection tracking table of the kernel.",
		})
	}
	ms = append(ms, &Menu{
		Path: ServicePortPath,
		Kind: Fixed,
		Props: []Prop{
			{Name: "name", Type: value.String(), ReadOnly: true, Unique: true, Desc: "Protocol the connection tracking helper follows."},
			{Name: "ports", Type: fwPorts{}, Desc: "Ports the helper is assigned to (helpers with ports)."},
			{Name: "sip-direct-media", Type: value.Bool(), Default: "yes",
				NoEffect: "the kernel's SIP helper takes it only as a boot parameter",
				Desc:     "SIP: expect media only between the signalling endpoints."},
			{Name: "sip-timeout", Type: value.Time(0, 1<<50), Default: "1h",
				NoEffect: "the kernel's SIP helper takes it only as a boot parameter",
				Desc:     "SIP: timeout of the signalling connection."},
			{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the helper is off."},
			{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "The helper cannot apply."},
		},
		Flags:     []Flag{FlagDisabled, FlagInvalid},
		Columns:   []string{"name", "ports"},
		PrintKeys: servicePortPrintKeys,
		Builtin: []map[string]string{
			{"name": "ftp", "ports": "21"},
			{"name": "tftp", "ports": "69"},
			{"name": "irc", "ports": "6667"},
			{"name": "h323"},
			{"name": "sip", "ports": "5060,5061"},
			{"name": "pptp"},
			{"name": "rtsp", "ports": "554", "disabled": "yes"},
			{"name": "udplite"},
			{"name": "dccp"},
			{"name": "sctp"},
		},
		Desc: "Connection tracking helpers (NAT and firewall of protocols that open further connections); they can be turned off, not added.",
	})
	// The kernel's timeouts are whole seconds (proc_dointvec_jiffies, which refuses more
	// than INT_MAX/HZ seconds: 2147483 at HZ=1000). 0s is refused: the kernel takes it and
	// drops every connection of the kind at once (all NATed TCP with
	// tcp-established-timeout=0s).
	ctTimeout := value.Time(time.Second, CTTimeoutMax)
	ms = append(ms, &Menu{
		Path: ConnTrackingPath,
		Kind: Single,
		Props: []Prop{
			{Name: "enabled", Type: value.Enum("yes", "no", "auto"), Default: "auto",
				Desc: "Connection tracking: yes, no, or auto (on while a rule needs it)."},
			{Name: "max-entries", Type: value.Int(0, math.MaxInt32), ReadOnly: true, Desc: "Largest number of tracked connections."},
			{Name: "total-entries", Type: value.Int(0, math.MaxInt32), ReadOnly: true, Desc: "Connections tracked now."},
			{Name: "generic-timeout", Type: ctTimeout, Default: "10m", Desc: "Timeout of entries of other protocols."},
			{Name: "icmp-timeout", Type: ctTimeout, Default: "10s", Desc: "Timeout of ICMP entries."},
			{Name: "tcp-close-timeout", Type: ctTimeout, Default: "10s", Desc: "Timeout of TCP entries in CLOSE."},
			{Name: "tcp-close-wait-timeout", Type: ctTimeout, Default: "10s", Desc: "Timeout of TCP entries in CLOSE_WAIT."},
			{Name: "tcp-established-timeout", Type: ctTimeout, Default: "1d", Desc: "Timeout of established TCP entries."},
			{Name: "tcp-fin-wait-timeout", Type: ctTimeout, Default: "10s", Desc: "Timeout of TCP entries in FIN_WAIT."},
			{Name: "tcp-last-ack-timeout", Type: ctTimeout, Default: "10s", Desc: "Timeout of TCP entries in LAST_ACK."},
			{Name: "tcp-syn-received-timeout", Type: ctTimeout, Default: "5s", Desc: "Timeout of TCP entries in SYN_RECV."},
			{Name: "tcp-syn-sent-timeout", Type: ctTimeout, Default: "5s", Desc: "Timeout of TCP entries in SYN_SENT."},
			{Name: "tcp-time-wait-timeout", Type: ctTimeout, Default: "10s", Desc: "Timeout of TCP entries in TIME_WAIT."},
			{Name: "udp-stream-timeout", Type: ctTimeout, Default: "3m", Desc: "Timeout of UDP entries with traffic both ways."},
			{Name: "udp-timeout", Type: ctTimeout, Default: "30s", Desc: "Timeout of other UDP entries (RouterOS 7's default; RouterOS 6 had 10s)."},
			{Name: "tcp-max-retrans-timeout", Type: ctTimeout, Default: "5m", Desc: "Timeout of TCP entries retransmitting past the limit."},
			{Name: "tcp-unacked-timeout", Type: ctTimeout, Default: "5m", Desc: "Timeout of TCP entries with data not acknowledged."},
			{Name: "loose-tcp-tracking", Type: value.Bool(), Default: "yes", Desc: "Pick up TCP connections already established."},
			{Name: "liberal-tcp-tracking", Type: value.Bool(), Default: "no",
				Desc: "Do not mark TCP segments outside the window invalid (on anyway while a fasttrack-connection rule exists)."},
		},
		Desc: "Connection tracking settings.",
	})
	return ms
}

// routingMenus declares policy routing: /routing table and /routing rule. They come
// before the IP menus, whose routes name tables (routing-table=).
func routingMenus() []*Menu {
	var ms []*Menu
	ms = append(ms, &Menu{
		Path: RoutingTablePath,
		Kind: List,
		Props: []Prop{
			{Name: "name", Type: value.String(), Unique: true, Required: true, Desc: "Table name, used by routing-table= and new-routing-mark=."},
			{Name: "fib", Type: value.Bool(), Default: "no", NoEffect: "every table is a kernel table here",
				Desc: "Install the table's routes in the kernel (FIB)."},
			{Name: "table-id", Type: value.Int(0, math.MaxUint32), ReadOnly: true, Desc: "Kernel table number."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the table."},
			{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the table is disabled."},
			{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "The table cannot apply."},
		},
		Flags:    []Flag{FlagDisabled, FlagInvalid},
		Columns:  []string{"name", "fib"},
		Reserved: []string{"main"},
		Desc:     "Routing tables besides main.",
	})
	ms = append(ms, &Menu{
		Path: RoutingRulePath,
		Kind: List,
		Props: []Prop{
			{Name: "src-address", Type: value.Prefix(), Desc: "Source prefix the rule matches."},
			{Name: "dst-address", Type: value.Prefix(), Desc: "Destination prefix the rule matches."},
			{Name: "routing-mark", Type: value.Name(), Ref: RoutingTablePath, Desc: "Routing mark (table name) the rule matches."},
			{Name: "interface", Type: value.Name(), Desc: "Incoming interface the rule matches."},
			{Name: "action", Type: value.Enum("lookup", "lookup-only-in-table", "drop", "unreachable"), Default: "lookup",
				Desc: "What to do with a matching packet."},
			{Name: "table", Type: value.Name(), Ref: RoutingTablePath, RefExtra: []string{"main"}, Default: "main",
				Desc: "Table to look the route up in."},
			// RouterOS 7 writes it where set; Linux's rule suppress_prefixlength.
			{Name: "min-prefix", Type: value.Int(0, 128),
				Desc: "Routes of the table with a prefix this long or shorter are not used (0 skips the default route); unset: all are."},
			{Name: "comment", Type: value.String(), Desc: "Short description of the rule."},
			{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the rule is disabled."},
			{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: "The rule cannot apply."},
		},
		Flags:   []Flag{FlagDisabled, FlagInvalid},
		Ordered: true,
		Columns: []string{"src-address", "dst-address", "routing-mark", "interface", "action", "table"},
		Desc:    "Policy routing rules, tried in order.",
	})
	return ms
}

func firewallRuleMenu(fam, table string) *Menu {
	v6 := fam == "ipv6"
	addr := fwNot{fwAddress{v4: !v6, v6: v6}}
	// str is free text (print detail quotes it, as RouterOS does log-prefix=""); name
	// names a chain, list or mark (printed bare: chain=forward).
	str := value.String()
	name := value.Name()
	notStr := fwNot{value.String()}
	bool_ := value.Bool()
	ports := fwNot{fwPorts{}}
	p := func(name string, t value.Type, desc string) Prop { return Prop{Name: name, Type: t, Desc: desc} }
	// unsup: RouterOS's matcher or parameter that nothing here carries out; a rule setting
	// it is kept and exported, and shows invalid with the reason (Prop.Unsupported).
	unsup := func(name string, t value.Type, why, desc string) Prop {
		return Prop{Name: name, Type: t, Unsupported: why, Desc: desc}
	}
	props := []Prop{
		{Name: "chain", Type: name, Required: true,
			Desc: "Chain the rule is in: a built-in chain of the table or a custom one (target of jump)."},
		{Name: "action", Type: value.Enum(FirewallActions(table, v6)...), Default: "accept", Desc: "What to do with a matching packet."},
		p("src-address", addr, "Source address, prefix or range; ! negates."),
		p("dst-address", addr, "Destination address, prefix or range; ! negates."),
		p("src-address-list", notStr, "Source address is in the address list; ! negates."),
		p("dst-address-list", notStr, "Destination address is in the address list; ! negates."),
		p("src-address-type", fwNot{value.EnumList("unicast", "local", "broadcast", "multicast", "blackhole", "prohibit", "unreachable")},
			"Type of the source address."),
		p("dst-address-type", fwNot{value.EnumList("unicast", "local", "broadcast", "multicast", "blackhole", "prohibit", "unreachable")},
			"Type of the destination address."),
		p("protocol", fwNot{fwProto{}}, "IP protocol by name or number."),
		p("src-port", ports, "Source ports: numbers and ranges, comma separated (tcp, udp, sctp, dccp, udp-lite)."),
		p("dst-port", ports, "Destination ports: numbers and ranges, comma separated."),
		p("port", ports, "Either source or destination port."),
		p("in-interface", notStr, "Interface the packet came in on; ! negates."),
		p("out-interface", notStr, "Interface the packet goes out on; ! negates."),
		p("in-interface-list", notStr, "Interface list the incoming interface is in; ! negates."),
		p("out-interface-list", notStr, "Interface list the outgoing interface is in; ! negates."),
		p("in-bridge-port", notStr, "Bridge port the packet came in on."),
		p("out-bridge-port", notStr, "Bridge port the packet goes out on (bridged traffic, forward and postrouting; needs /interface bridge settings use-ip-firewall=yes, as on RouterOS)."),
		p("in-bridge-port-list", notStr, "Interface list the incoming bridge port is in."),
		p("out-bridge-port-list", notStr, "Interface list the outgoing bridge port is in (as out-bridge-port: needs use-ip-firewall=yes)."),
		p("connection-state", fwNot{value.EnumList("established", "related", "new", "invalid", "untracked")},
			"Connection tracking state."),
		p("connection-nat-state", fwNot{value.EnumList("srcnat", "dstnat")}, "NAT applied to the connection."),
		p("connection-mark", notStr, "Connection mark; no-mark is unmarked."),
		p("packet-mark", notStr, "Packet mark; no-mark is unmarked."),
		p("routing-mark", notStr, "Routing mark (routing table name, see /routing table)."),
		p("connection-type", fwNot{value.Enum("ftp", "h323", "irc", "pptp", "quake3", "sip", "tftp")}, "Connection helper of the connection."),
		p("ipsec-policy", fwIpsecPolicy{}, "in|out,ipsec|none: whether the packet was (in) or will be (out) processed by IPsec."),
		p("icmp-options", fwNot{fwICMP{}}, "ICMP type[:code]."),
		p("tcp-flags", value.EnumList("ack", "cwr", "ece", "fin", "psh", "rst", "syn", "urg", "!ack", "!cwr", "!ece", "!fin", "!psh", "!rst", "!syn", "!urg"),
			"TCP flags that must be set (!flag: must be clear)."),
		p("tcp-mss", fwNot{fwRange{0, 65535}}, "TCP MSS option value or range."),
		p("packet-size", fwNot{fwRange{0, 65535}}, "Packet size or range in bytes."),
		p("ttl", value.Form("equal|greater-than|less-than|not-equal:N"), "TTL: equal:N, greater-than:N, less-than:N, not-equal:N."),
		p("dscp", fwNot{value.Int(0, 63)}, "DSCP value."),
		p("tos", fwNot{value.Int(0, 255)}, "The whole TOS byte (IPv6: traffic class), DSCP and ECN together."),
		p("limit", value.Form("count[/time],burst[:mode]"), "Rate limit: count[/time],burst[:mode]."),
		p("dst-limit", value.Form("count[/time],burst,mode[/expire]"), "Per-destination rate limit."),
		p("connection-limit", value.Form("limit,netmask"), "Connections per address (limit,netmask)."),
		unsup("connection-rate", value.Form("from-to"), "no kernel support: nftables cannot measure a connection's current rate",
			"Connection rate range (bits per second)."),
		p("connection-bytes", value.Form("from-to"), "Bytes transferred in the connection (from-to)."),
		p("nth", value.Form("every,nth"), "Every nth packet: every,nth."),
		p("random", value.Int(1, 99), "Probability in percent that the rule matches."),
		p("per-connection-classifier", value.Form("classifier:every/nth"), "Connection classifier: both-addresses|src-address|...:every/nth."),
		p("time", value.Form("from-to,days"), "Time of day and days the rule applies, in /system clock's zone (follows its changes and daylight saving time)."),
		p("src-mac-address", fwNot{value.MAC()}, "Source MAC address."),
		p("fragment", bool_, "Packet is a fragment (not the first)."),
		unsup("hotspot", fwNot{value.EnumList("auth", "from-client", "http", "local-dst", "to-client")},
			"there is no hotspot here", "Hotspot state of the packet."),
		p("content", fwContent{}, "Text the packet carries anywhere in it (the kernel's string match, Boyer-Moore)."),
		p("priority", fwNot{value.Int(0, 63)}, "Packet priority (set by set-priority, or a socket's SO_PRIORITY): the kernel's skb priority."),
		unsup("ingress-priority", fwNot{value.Int(0, 63)}, "no kernel support: Linux keeps no ingress priority on the packet for nftables",
			"Priority the packet came in with (VLAN, WMM, MPLS EXP)."),
		unsup("routing-table", notStr, "no kernel support: nftables cannot see which routing table resolved the destination (match routing-mark instead)",
			"Routing table the destination was resolved in."),
		unsup("tls-host", notStr, "no kernel support: nftables cannot read the server name of a TLS handshake",
			"Server name of a TLS connection (SNI); wildcards allowed."),
		unsup("psd", fwPSD{}, "no kernel support: Linux has no port scan detection match (xtables-addons' psd is not in the kernel)",
			"Port scan detection: weight-threshold,delay-threshold,low-port-weight,high-port-weight."),
		unsup("realm", notStr, "no kernel support: routes here carry no realm (RouterOS's BGP sets it)",
			"Realm of the route the packet took."),
		p("jump-target", name, "Chain to jump to (action=jump)."),
		p("reject-with", value.Enum("icmp-admin-prohibited", "icmp-host-prohibited", "icmp-host-unreachable",
			"icmp-net-prohibited", "icmp-network-unreachable", "icmp-port-unreachable", "icmp-protocol-unreachable",
			"tcp-reset", "icmp-no-route", "icmp-address-unreachable", "icmp-not-neighbour"), "ICMP or TCP reset sent by action=reject."),
		{Name: "log", Type: bool_, Default: "no", Desc: "Log matching packets in addition to the action."},
		{Name: "log-prefix", Type: str, Desc: "Prefix of log lines."},
		p("address-list", name, "Address list of add-src-to-address-list and add-dst-to-address-list."),
		{Name: "address-list-timeout", Type: value.OneOf(value.Enum("none-dynamic", "none-static"), value.Time(0, 1<<62)),
			Default: "none-dynamic", Desc: "How long added entries stay; none-dynamic: until restart, none-static: saved."},
		p("to-addresses", fwAddress{v4: !v6, v6: v6}, "Address, prefix or range NAT translates to."),
		p("to-ports", fwPorts{single: true}, "Port or port range NAT translates to."),
		p("new-connection-mark", name, "Mark of mark-connection (no-mark clears it)."),
		p("new-packet-mark", name, "Mark of mark-packet (no-mark clears it)."),
		{Name: "new-routing-mark", Type: name, Ref: RoutingTablePath, RefExtra: []string{"main"},
			Desc: "Routing table of mark-routing (see /routing table); main clears the mark."},
		{Name: "passthrough", Type: bool_, Default: "yes", Desc: "Continue with the next rule after a mark or change action."},
		p("new-dscp", value.Int(0, 63), "DSCP of change-dscp."),
		p("new-ttl", value.Form("set|increment|decrement:N"), "TTL change of change-ttl: set:N, increment:N, decrement:N."),
		p("new-mss", value.OneOf(value.Enum("clamp-to-pmtu"), value.Int(0, 65535)), "MSS of change-mss."),
		{Name: "bytes", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "Bytes the rule matched."},
		{Name: "packets", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "Packets the rule matched."},
		{Name: "comment", Type: str, Desc: "Short description of the rule."},
		{Name: "disabled", Type: bool_, Default: "no", Desc: "Whether the rule is disabled."},
		{Name: "dynamic", Type: bool_, ReadOnly: true, Hidden: true, Desc: "Rule added by another subsystem."},
		{Name: "invalid", Type: bool_, ReadOnly: true, Hidden: true, Desc: "The rule cannot apply."},
	}
	if table != "mangle" {
		props = removeProp(props, "passthrough")
	}
	if table == "raw" {
		// Raw runs before connection tracking and mangle: RouterOS's raw menu has no
		// matcher of the connection or of the routing mark, which would read there as a
		// packet without either (connection-state=invalid would match every packet).
		for _, name := range rawLacks {
			props = removeProp(props, name)
		}
	}
	if v6 {
		i := slices.IndexFunc(props, func(p Prop) bool { return p.Name == "ttl" })
		props = slices.Insert(props, i+1, p("hop-limit", value.Form("equal|greater-than|less-than|not-equal:N"), "Hop limit (IPv6's TTL): equal:N, greater-than:N, less-than:N, not-equal:N."))
	}
	if !v6 {
		i := slices.IndexFunc(props, func(p Prop) bool { return p.Name == "fragment" })
		props = slices.Insert(props, i+1, p("ipv4-options", value.Enum("any", "loose-source-routing", "no-record-route",
			"no-router-alert", "no-source-routing", "no-timestamp", "none", "record-route", "router-alert",
			"strict-source-routing", "timestamp"), "IPv4 header options the packet carries."))
	}
	if !v6 {
		// RouterOS 6's peer-to-peer matcher and the layer 7 matcher (its patterns are
		// /ip firewall layer7-protocol); IPv6 has neither.
		i := slices.IndexFunc(props, func(p Prop) bool { return p.Name == "content" })
		props = slices.Insert(props, i,
			unsup("p2p", fwNot{value.Enum("all-p2p", "bit-torrent", "blubster", "direct-connect", "edonkey", "fasttrack",
				"gnutella", "soulseek", "warez", "winmx")}, "no kernel support: Linux has no peer-to-peer protocol match",
				"Peer-to-peer protocol of the packet (RouterOS 6)."),
			Prop{Name: "layer7-protocol", Type: name, Ref: Layer7Path,
				Unsupported: "no kernel support: Linux has no layer 7 (regular expression over a connection's data) match",
				Desc:        "Layer 7 pattern (/ip firewall layer7-protocol) the connection's first data matches."})
	}
	if v6 {
		// Extension headers (the kernel's ipv6header match).
		i := slices.IndexFunc(props, func(p Prop) bool { return p.Name == "hop-limit" })
		props = slices.Insert(props, i+1, p("headers", fwHeaders{},
			"IPv6 extension headers the packet has: hop, dst, route, frag, ah, esp, none, proto, each !negated, :contains (it has them, the default) or :exact (exactly these)."))
	}
	switch table {
	case "nat":
		i := slices.IndexFunc(props, func(p Prop) bool { return p.Name == "to-ports" })
		props = slices.Insert(props, i+1,
			Prop{Name: "randomise-ports", Type: bool_, Default: "no", Desc: "Choose the translated port at random (NAT's random flag) instead of keeping it."},
			Prop{Name: "same-not-by-dst", Type: bool_, Default: "no",
				Desc: "action=same: choose the new address by the source address only, not by source and destination."})
	case "mangle":
		i := slices.IndexFunc(props, func(p Prop) bool { return p.Name == "new-mss" })
		ins := []Prop{
			p("new-priority", value.OneOf(value.Enum("from-dscp", "from-dscp-high-3-bits", "from-ingress"), value.Int(0, 63)),
				"Priority of set-priority (the kernel's skb priority: VLAN PCP through egress-qos-map, queues); from-dscp takes the DSCP, from-dscp-high-3-bits its class."),
			unsup("route-dst", value.IP(), "no kernel support: nftables cannot choose a packet's gateway (mark-routing to a table whose default route is that gateway does)",
				"Gateway of action=route."),
			unsup("sniff-target", value.IP(), "no kernel support: there is no TZSP sender here", "Address sniff-tzsp sends packets to."),
			{Name: "sniff-target-port", Type: value.Int(0, 65535), Default: "37008",
				Unsupported: "no kernel support: there is no TZSP sender here", Desc: "UDP port sniff-tzsp sends packets to."},
			unsup("sniff-id", value.Int(0, math.MaxUint32), "no kernel support: there is no packet sniffer here", "Sniffer instance of sniff-pc."),
		}
		if v6 {
			ins = append(ins,
				p("new-hop-limit", value.Form("set|increment|decrement:N"), "Hop limit change of change-hop-limit: set:N, increment:N, decrement:N."),
				unsup("src-prefix", value.Prefix6(), "no kernel support: nftables cannot rewrite a prefix checksum-neutrally (RFC 6296), and the kernel's SNPT/DNPT targets work only in an iptables mangle table",
					"Prefix snpt and dnpt translate from."),
				unsup("dst-prefix", value.Prefix6(), "no kernel support: nftables cannot rewrite a prefix checksum-neutrally (RFC 6296), and the kernel's SNPT/DNPT targets work only in an iptables mangle table",
					"Prefix snpt and dnpt translate to."))
		}
		props = slices.Insert(props, i+1, ins...)
	}
	if table == "filter" {
		// RouterOS 7's default configuration writes hw-offload=yes on its fasttrack rule;
		// it asks a switch chip to carry the connection, which Linux ports do not have.
		i := slices.IndexFunc(props, func(p Prop) bool { return p.Name == "bytes" })
		props = slices.Insert(props, i, Prop{Name: "hw-offload", Type: bool_, Default: "no",
			NoEffect: "no switch chip offloads connections here",
			Desc:     "Offload fasttracked connections to the switch chip."})
	}
	return &Menu{
		Path:      "/" + fam + "/firewall/" + table,
		Kind:      List,
		Props:     props,
		Flags:     []Flag{FlagDisabled, FlagInvalid, FlagDynamic},
		Commands:  []string{"reset-counters", "reset-counters-all"},
		Stats:     []string{"bytes", "packets"},
		StatsLead: []string{"chain", "action"},
		Brief:     briefColumns(table),
		Ordered:   true,
		Desc:      fmt.Sprintf("Firewall %s rules (%s).", table, fam),
	}
}

// briefColumns are a rule menu's columns of print brief: RouterOS's chain, action,
// addresses, protocol, ports and interfaces, and what the table's actions set.
func briefColumns(table string) []string {
	cols := []string{"chain", "action", "src-address", "dst-address", "src-address-list", "dst-address-list",
		"protocol", "src-port", "dst-port", "in-interface", "out-interface", "in-interface-list", "out-interface-list",
		"connection-state", "jump-target"}
	switch table {
	case "nat":
		cols = append(cols, "to-addresses", "to-ports")
	case "mangle":
		cols = append(cols, "new-connection-mark", "new-packet-mark", "new-routing-mark")
	}
	return cols
}

func removeProp(ps []Prop, name string) []Prop {
	out := ps[:0]
	for _, p := range ps {
		if p.Name != name {
			out = append(out, p)
		}
	}
	return out
}

// fwNot accepts its type's values with an optional leading "!" (negation).
type fwNot struct{ t value.Type }

func (n fwNot) Name() string { return "[!]" + n.t.Name() }
func (n fwNot) Parse(s string) (string, error) {
	neg := strings.HasPrefix(s, "!")
	v, err := n.t.Parse(strings.TrimPrefix(s, "!"))
	if err != nil {
		return "", err
	}
	if neg {
		return "!" + v, nil
	}
	return v, nil
}

// fwAddress is an address, a prefix, or a range from-to of one family; with name, a DNS
// name (address-list entries).
type fwAddress struct{ v4, v6, name bool }

func (a fwAddress) Name() string { return "IP address | prefix | range" }

func (a fwAddress) fam(x netip.Addr) bool {
	return (a.v4 && x.Is4()) || (a.v6 && x.Is6()) // ::ffff:0.0.0.0/96 is an IPv6 prefix (RouterOS's IPv6 defconf lists it)
}

func (a fwAddress) Parse(s string) (string, error) {
	if from, to, ok := strings.Cut(s, "-"); ok && !a.nameLike(s) {
		x, err1 := netip.ParseAddr(from)
		y, err2 := netip.ParseAddr(to)
		if err1 != nil || err2 != nil || !a.fam(x) || !a.fam(y) || y.Less(x) {
			return "", value.ErrInvalid
		}
		return x.String() + "-" + y.String(), nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !a.fam(p.Addr()) {
			return "", value.ErrInvalid
		}
		p = p.Masked()
		if p.IsSingleIP() {
			return p.Addr().String(), nil
		}
		return p.String(), nil
	}
	if x, err := netip.ParseAddr(s); err == nil {
		if !a.fam(x) || x.Zone() != "" {
			return "", value.ErrInvalid
		}
		return x.String(), nil
	}
	if a.name && a.nameLike(s) {
		return strings.ToLower(s), nil
	}
	return "", value.ErrInvalid
}

// nameLike: a DNS name has a letter and only letters, digits, dots and dashes.
func (a fwAddress) nameLike(s string) bool {
	if !a.name || s == "" || len(s) > 253 {
		return false
	}
	letter := false
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			letter = true
		case c >= '0' && c <= '9', c == '.', c == '-':
		default:
			return false
		}
	}
	return letter
}

// fwPorts is a comma list of ports and port ranges; single allows one port or range only.
type fwPorts struct{ single bool }

func (fwPorts) Name() string { return "port[-port][,...]" }
func (p fwPorts) Parse(s string) (string, error) {
	parts := strings.Split(s, ",")
	if s == "" || (p.single && len(parts) > 1) || len(parts) > 15 {
		return "", value.ErrInvalid
	}
	for i, part := range parts {
		c, err := fwRange{0, 65535}.Parse(part)
		if err != nil {
			return "", err
		}
		parts[i] = c
	}
	return strings.Join(parts, ","), nil
}

// fwRange is a number or a range from-to within bounds.
type fwRange struct{ min, max int }

func (r fwRange) Name() string { return fmt.Sprintf("integer[-integer] [%d..%d]", r.min, r.max) }
func (r fwRange) Parse(s string) (string, error) {
	from, to, isRange := strings.Cut(s, "-")
	a, err := strconv.Atoi(from)
	if err != nil {
		return "", value.ErrInvalid
	}
	b := a
	if isRange {
		if b, err = strconv.Atoi(to); err != nil {
			return "", value.ErrInvalid
		}
	}
	if a < r.min || b > r.max || a > b {
		return "", &value.RangeError{Min: strconv.Itoa(r.min), Max: strconv.Itoa(r.max)}
	}
	if a == b {
		return strconv.Itoa(a), nil
	}
	return strconv.Itoa(a) + "-" + strconv.Itoa(b), nil
}

// FirewallProtocols are the protocol names RouterOS accepts, with their numbers.
var FirewallProtocols = map[string]int{
	"icmp": 1, "igmp": 2, "ggp": 3, "ip-encap": 4, "st": 5, "tcp": 6, "egp": 8, "pup": 12, "udp": 17,
	"hmp": 20, "xns-idp": 22, "rdp": 27, "iso-tp4": 29, "dccp": 33, "xtp": 36, "ddp": 37, "idpr-cmtp": 38,
	"ipv6-encap": 41, "ipv6-route": 43, "ipv6-frag": 44, "idrp": 45, "rsvp": 46, "gre": 47,
	"ipsec-esp": 50, "ipsec-ah": 51, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "rspf": 73,
	"vmtp": 81, "ospf": 89, "ipip": 94, "etherip": 97, "encap": 98, "pim": 103, "vrrp": 112,
	"l2tp": 115, "sctp": 132, "udp-lite": 136,
}

// fwProto is a protocol name or number.
type fwProto struct{}

func (fwProto) Name() string { return "protocol name | integer [0..255]" }
func (fwProto) Values() []string {
	var out []string
	for k := range FirewallProtocols {
		out = append(out, k)
	}
	return out
}
func (fwProto) Parse(s string) (string, error) {
	if _, ok := FirewallProtocols[s]; ok {
		return s, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return "", value.ErrNoMatch
	}
	if n < 0 || n > 255 {
		return "", &value.RangeError{Min: "0", Max: "255"}
	}
	for k, v := range FirewallProtocols {
		if v == n {
			return k, nil
		}
	}
	return strconv.Itoa(n), nil
}

// fwICMP is type[:code], numbers or RouterOS's names.
type fwICMP struct{}

// ICMPNames are the icmp-options words RouterOS accepts, as type:code.
var ICMPNames = map[string]string{
	"echo-reply": "0:0", "echo-request": "8:0", "dst-unreachable": "3", "net-unreachable": "3:0",
	"host-unreachable": "3:1", "protocol-unreachable": "3:2", "port-unreachable": "3:3",
	"fragmentation-needed": "3:4", "time-exceeded": "11", "ttl-exceeded": "11:0", "redirect": "5",
	"source-quench": "4:0", "parameter-problem": "12", "timestamp-request": "13:0", "timestamp-reply": "14:0",
}

func (fwICMP) Name() string { return "type[:code]" }
func (fwICMP) Parse(s string) (string, error) {
	if v, ok := ICMPNames[s]; ok {
		return v, nil
	}
	t, c, hasCode := strings.Cut(s, ":")
	if _, err := (fwRange{0, 255}).Parse(t); err != nil || strings.Contains(t, "-") {
		return "", value.ErrInvalid
	}
	if hasCode {
		if _, err := (fwRange{0, 255}).Parse(c); err != nil {
			return "", value.ErrInvalid
		}
	}
	return s, nil
}

// fwIpsecPolicy is direction,policy: in|out, ipsec|none.
type fwIpsecPolicy struct{}

func (fwIpsecPolicy) Name() string { return "in|out,ipsec|none" }
func (fwIpsecPolicy) Parse(s string) (string, error) {
	dir, pol, ok := strings.Cut(s, ",")
	if !ok || (dir != "in" && dir != "out") || (pol != "ipsec" && pol != "none") {
		return "", value.ErrNoMatch
	}
	return s, nil
}

// ctWord is a read-only value of /ip firewall connection that RouterOS prints as a word,
// not a quoted string (protocol=tcp src-address=192.0.2.1:1643).
type ctWord string

func (w ctWord) Name() string                 { return string(w) }
func (ctWord) Parse(s string) (string, error) { return s, nil }

// fwContent is content=: text of 1 to 128 bytes (the kernel's string match holds at most
// XT_STRING_MAX_PATTERN_SIZE).
type fwContent struct{}

func (fwContent) Name() string { return "string (1..128 bytes)" }
func (fwContent) Parse(s string) (string, error) {
	if len(s) == 0 || len(s) > 128 {
		return "", &value.RangeError{Min: "1", Max: "128"}
	}
	return s, nil
}

// fwPSD is psd=: weight-threshold,delay-threshold,low-port-weight,high-port-weight.
type fwPSD struct{}

func (fwPSD) Name() string { return "integer,time,integer,integer" }
func (fwPSD) Parse(s string) (string, error) {
	f := strings.Split(s, ",")
	if len(f) != 4 {
		return "", value.ErrInvalid
	}
	for i, x := range f {
		if i == 1 {
			d, err := value.ParseDuration(x)
			if err != nil || d < 0 {
				return "", value.ErrInvalid
			}
			f[i] = value.FormatDuration(d)
			continue
		}
		n, err := strconv.ParseUint(x, 10, 32)
		if err != nil {
			return "", value.ErrInvalid
		}
		f[i] = strconv.FormatUint(n, 10)
	}
	return strings.Join(f, ","), nil
}

// IPv6Headers are the extension header words of headers=, with the kernel's
// ipv6header match bit of each (MASK_HOPOPTS ... MASK_PROTO).
var IPv6Headers = map[string]uint8{"hop": 128, "dst": 64, "route": 32, "frag": 16, "ah": 8, "esp": 4, "none": 2, "proto": 1}

// fwHeaders is headers=: a comma list of [!]header[:contains|:exact]; every element
// has the same mode (the kernel's match has one).
type fwHeaders struct{}

func (fwHeaders) Name() string {
	return "[!]hop|dst|route|frag|ah|esp|none|proto[:contains|:exact][,...]"
}
func (fwHeaders) Parse(s string) (string, error) {
	mode := ""
	for _, e := range strings.Split(s, ",") {
		name, m, _ := strings.Cut(strings.TrimPrefix(e, "!"), ":")
		if _, ok := IPv6Headers[name]; !ok {
			return "", value.ErrNoMatch
		}
		switch m {
		case "":
			m = "contains"
		case "contains", "exact":
		default:
			return "", value.ErrNoMatch
		}
		if mode != "" && m != mode {
			return "", value.ErrInvalid
		}
		mode = m
	}
	return s, nil // kept as written; the compiler reads the modes again
}

// servicePortPrintKeys shows the SIP settings on the sip helper only, as RouterOS does:
// they mean nothing to the others.
func servicePortPrintKeys(p map[string]string) []string {
	ks := []string{"name"}
	if p["ports"] != "" {
		ks = append(ks, "ports")
	}
	if p["name"] == "sip" {
		ks = append(ks, "sip-direct-media", "sip-timeout")
	}
	return withStatus(ks, p)
}
