package menu

import (
	"strings"

	"github.com/routerd/routerd/control/value"
)

// ipMenus declares the IP layer: addresses and routes of both families, address pools and
// the DNS client settings. Addresses and routes that routerd did not configure show as
// dynamic (D) rows read from the kernel.

func ipMenus() []*Menu {
	hidden := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.Bool(), ReadOnly: true, Hidden: true, Desc: desc}
	}
	comment := Prop{Name: "comment", Type: value.String(), Desc: "Short description of the item."}
	disabled := Prop{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the item is disabled."}
	iface := Prop{Name: "interface", Type: value.String(), RequiredEnabled: true,
		Desc: "Interface the address is on (a link, or one configured under /interface)."}
	addrFlags := []Flag{FlagDisabled, FlagInvalid, FlagDynamic}

	route := func(path string, dst value.Type, def string) *Menu {
		return &Menu{
			Path: path,
			Kind: List,
			Props: []Prop{
				{Name: "dst-address", Type: dst, Default: def, Desc: "Destination prefix."},
				// The manual's GRE-over-IPsec example writes dst-network=; the route engine
				// takes it as dst-address.
				{Name: "dst-network", Type: dst, Desc: "Same as dst-address."},
				{Name: "gateway", Type: value.String(),
					Desc: "Next hop: an address, an interface name, or address%interface; @table after it (RouterOS 7: 198.18.0.1@main) resolves it in that table, main otherwise."},
				{Name: "pref-src", Type: value.IP(), Desc: "Source address preferred for packets sent by this route."},
				{Name: "distance", Type: value.Int(0, 255), Default: "1",
					Desc: "Preference among routes to the same destination (lower wins); the kernel metric."},
				// A gateway resolves through the active routes of the main table whose scope
				// is at most the route's target-scope (connected networks have 10): a
				// larger target-scope makes a recursive route (gateway=8.8.8.8 over a route
				// to 8.8.8.8 with scope=10), installed via the resolved next hop.
				{Name: "scope", Type: value.Int(0, 255), Default: "30",
					Desc: "Scope of the route: routes whose target-scope is at least this resolve their gateway through it."},
				{Name: "target-scope", Type: value.Int(0, 255), Default: "10",
					Desc: "Largest scope of the route that resolves the gateway."},
				{Name: "routing-table", Type: value.String(), Ref: RoutingTablePath, RefExtra: []string{"main"}, Default: "main",
					Desc: "Routing table: main, or a table of /routing table."},
				{Name: "blackhole", Type: value.Bool(), Default: "no", Desc: "Silently discard packets to dst-address."},
				{Name: "check-gateway", Type: value.Enum("arp", "bfd", "bfd-multihop", "none", "ping"), Default: "none",
					Desc: "How the gateway's reachability is checked every 10 seconds (ping, arp; bfd is not run here): after two failures the route is inactive."},
				{Name: "suppress-hw-offload", Type: value.Bool(), Default: "no", NoEffect: "no hardware routing offload here",
					Desc: "Keep the route out of the switch chip's routing table."},
				{Name: "vrf-interface", Type: value.String(), NoEffect: "no VRF here",
					Desc: "VRF whose table the route is added to (RouterOS 6)."},
				// RouterOS 6 export verbose writes these on every route (unset: !bgp-as-path).
				{Name: "bgp-as-path", Type: value.String(), NoEffect: "no BGP here", Desc: "BGP AS path of the route (RouterOS 6)."},
				{Name: "bgp-atomic-aggregate", Type: value.Bool(), NoEffect: "no BGP here", Desc: "BGP ATOMIC_AGGREGATE of the route (RouterOS 6)."},
				{Name: "bgp-communities", Type: value.String(), NoEffect: "no BGP here", Desc: "BGP communities of the route (RouterOS 6)."},
				{Name: "bgp-local-pref", Type: value.Int(0, 4294967295), NoEffect: "no BGP here", Desc: "BGP LOCAL_PREF of the route (RouterOS 6)."},
				{Name: "bgp-med", Type: value.Int(0, 4294967295), NoEffect: "no BGP here", Desc: "BGP MULTI_EXIT_DISC of the route (RouterOS 6)."},
				{Name: "bgp-origin", Type: value.Enum("egp", "igp", "incomplete"), NoEffect: "no BGP here", Desc: "BGP ORIGIN of the route (RouterOS 6)."},
				{Name: "bgp-prepend", Type: value.Int(0, 16), NoEffect: "no BGP here", Desc: "Times the own AS is prepended (RouterOS 6)."},
				{Name: "route-tag", Type: value.Int(0, 4294967295), NoEffect: "no routing protocol here reads it", Desc: "Tag passed to routing protocols (RouterOS 6)."},
				{Name: "routing-mark", Type: value.String(), V6: "routing-table",
					Desc: "RouterOS 6 name of routing-table."},
				{Name: "type", Type: value.Enum("blackhole", "prohibit", "unicast", "unreachable"), V6: "blackhole",
					Desc: "RouterOS 6 route type; blackhole becomes blackhole=yes."},
				{Name: "immediate-gw", Type: value.String(), ReadOnly: true,
					Desc: "Next hop and interface the route uses (198.18.1.1%ether1), resolved recursively where the gateway is not connected."},
				{Name: "gateway-status", Type: value.String(), ReadOnly: true,
					Desc: "How the gateway is reached: reachable via an interface, recursive via a next hop, or unreachable."},
				comment,
				disabled,
				hidden("dynamic", "Route not configured through routerd (kernel, other daemons)."),
				hidden("connect", "Route of a connected network."),
				hidden("static", "Route configured through routerd."),
				hidden("ecmp", "One of several routes of equal distance to the destination, used together (one multipath kernel route)."),
				hidden("inactive", "Route that cannot be installed (status says why)."),
			},
			// RouterOS 7's legend, in its order, of the flags routerd sets ("D - DYNAMIC;
			// X - DISABLED, I - INACTIVE, A - ACTIVE; c - CONNECT, s - STATIC, ...;
			// + - ECMP"): lower-case route kinds, I for inactive. B is the blackhole=yes
			// route (RouterOS 7 prints the same letter for it).
			Flags: []Flag{FlagDynamic, FlagDisabled, {'I', "inactive"}, FlagActive, {'c', "connect"},
				{'s', "static"}, {'B', "blackhole"}, {'+', "ecmp"}},
			Columns: []string{"dst-address", "gateway", "distance"},
			Desc:    "Routes.",
		}
	}

	return []*Menu{
		{
			Path: Address4Path,
			Kind: List,
			Props: []Prop{
				{Name: "address", Type: value.Prefix4(), Required: true,
					Desc: "Address and prefix length; a bare address is /32."},
				// RouterOS writes network= on every address it exports. Unset, it is the
				// prefix's network; given, it is kept (on a /32 it names the peer of a
				// point-to-point address).
				{Name: "network", Type: value.IPv4(),
					Desc: "Network address of the prefix; on a /32 address, the address of the point-to-point peer."},
				iface,
				{Name: "actual-interface", Type: value.String(), ReadOnly: true, Desc: "Interface the address is applied on."},
				comment,
				disabled,
				hidden("dynamic", "Address not configured through routerd."),
			},
			Flags:   addrFlags,
			Columns: []string{"address", "network", "interface"},
			Desc:    "IPv4 addresses.",
		},
		{
			Path: Address6Path,
			Kind: List,
			Props: []Prop{
				{Name: "address", Type: value.Prefix6(), Required: true,
					Desc: "Address and prefix length; a bare address is /64."},
				iface,
				{Name: "eui-64", Type: value.Bool(), Default: "no",
					Desc: "Take the host part from the interface's EUI-64 identifier."},
				{Name: "advertise", Type: value.Bool(), Default: "yes",
					Desc: "Advertise the prefix in router advertisements (stored; no RA daemon yet)."},
				{Name: "no-dad", Type: value.Bool(), Default: "no", Desc: "Skip duplicate address detection."},
				{Name: "from-pool", Type: value.String(), Unsupported: "no IPv6 pools here, the address is not installed",
					Desc: "IPv6 pool the prefix of the address is taken from."},
				{Name: "auto-link-local", Type: value.Bool(), Default: "yes", NoEffect: "the kernel's link-local address is kept",
					Desc: "Add a link-local address when the interface gets a global one."},
				{Name: "actual-interface", Type: value.String(), ReadOnly: true, Desc: "Interface the address is applied on."},
				comment,
				disabled,
				hidden("dynamic", "Address not configured through routerd (link-local, SLAAC ...)."),
			},
			Flags:   addrFlags,
			Columns: []string{"address", "interface", "advertise"},
			Desc:    "IPv6 addresses.",
		},
		route(Route4Path, value.Prefix4(), "0.0.0.0/0"),
		route(Route6Path, value.Prefix6(), "::/0"),
		v6RouteRule(),
		{
			Path: PoolPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Required: true, Desc: "Pool name."},
				{Name: "ranges", Type: value.List(value.String()), Required: true,
					Desc: "Address ranges: from-to, a prefix, or one address, comma separated."},
				{Name: "next-pool", Type: value.String(), Ref: PoolPath, RefExtra: []string{"none"}, Default: "none",
					Desc: "Pool to take addresses from when this one is exhausted."},
				comment,
			},
			Columns: []string{"name", "ranges"},
			Desc:    "Address pools handed out by other services (IPsec mode-config).",
		},
		{
			Path: PoolUsedPath,
			Kind: Status,
			Props: []Prop{
				{Name: "pool", Type: value.String(), ReadOnly: true, Desc: "Pool the address came from."},
				{Name: "address", Type: value.IP(), ReadOnly: true, Desc: "Leased address."},
				{Name: "owner", Type: value.String(), ReadOnly: true, Desc: "Subsystem holding the lease."},
				{Name: "info", Type: value.String(), ReadOnly: true, Desc: "Who the address was given to."},
			},
			Columns:  []string{"pool", "address", "owner", "info"},
			NoExport: true,
			Desc:     "Addresses currently leased from pools.",
		},
		{
			Path: DNSPath,
			Kind: Single,
			Props: []Prop{
				{Name: "servers", Type: value.List(value.IP()), Desc: "DNS servers routerd asks."},
				{Name: "dynamic-servers", Type: value.String(), ReadOnly: true, Desc: "Servers learned from other services."},
				{Name: "allow-remote-requests", Type: value.Bool(), Default: "no",
					Desc: "Answer queries from the network on UDP and TCP port 53 (a caching DNS server with /ip dns static)."},
				{Name: "max-udp-packet-size", Type: value.Int(50, 65507), Default: "4096", Desc: "Largest UDP DNS message."},
				{Name: "query-server-timeout", Type: value.Time(0, 1<<40), Default: "2s", Desc: "Time to wait for one server."},
				{Name: "query-total-timeout", Type: value.Time(0, 1<<40), Default: "10s", Desc: "Time to wait for an answer."},
				{Name: "cache-size", Type: kibSize{value.Int(64, 1<<20)}, Default: "2048", Desc: "Cache size in KiB (RouterOS 7 writes 2048KiB)."},
				{Name: "cache-max-ttl", Type: value.Time(0, 1<<52), Default: "1w", Desc: "Longest time an answer is cached, whatever its TTL."},
				{Name: "cache-used", Type: value.Int(0, 1<<40), ReadOnly: true, Desc: "KiB of the cache in use."},
				// What RouterOS 7 exports besides: kept, with a status, until routerd's
				// DNS server applies them.
				{Name: "max-concurrent-queries", Type: value.Int(1, 1000), Default: "100", NoEffect: "the server's own limit applies",
					Desc: "Most queries handled at once."},
				{Name: "max-concurrent-tcp-sessions", Type: value.Int(1, 1000), Default: "20", NoEffect: "the server's own limit applies",
					Desc: "Most TCP sessions at once."},
				{Name: "use-doh-server", Type: value.String(), NoEffect: "no DNS over HTTPS here",
					Desc: "DNS over HTTPS server URL used instead of servers."},
				{Name: "verify-doh-cert", Type: value.Bool(), Default: "no", NoEffect: "no DNS over HTTPS here",
					Desc: "Verify the DoH server's certificate."},
				{Name: "doh-max-server-connections", Type: value.Int(1, 1000), Default: "5", NoEffect: "no DNS over HTTPS here",
					Desc: "Most connections to the DoH server."},
				{Name: "doh-max-concurrent-queries", Type: value.Int(1, 1000), Default: "50", NoEffect: "no DNS over HTTPS here",
					Desc: "Most queries in flight to the DoH server."},
				{Name: "doh-timeout", Type: value.Time(0, 1<<52), Default: "5s", NoEffect: "no DNS over HTTPS here",
					Desc: "Time to wait for the DoH server."},
				{Name: "address-list-extra-time", Type: value.Time(0, 1<<52), Default: "0s", NoEffect: "no DNS-based address lists here",
					Desc: "Extra time address-list entries made from DNS answers are kept."},
				{Name: "vrf", Type: value.String(), Default: "main", NoEffect: "no VRF here",
					Desc: "VRF the DNS client and server use."},
				{Name: "mdns-repeat-ifaces", Type: value.String(), NoEffect: "no mDNS repeater here",
					Desc: "Interfaces between which mDNS is repeated."},
			},
			Desc: "DNS client settings, used by routerd to resolve names (peer addresses).",
		},
	}
}

// kibSize is a size in KiB that RouterOS 7 writes with its unit (cache-size=2048KiB);
// the canonical value is the number.
type kibSize struct{ value.Type }

func (t kibSize) Parse(s string) (string, error) { return t.Type.Parse(strings.TrimSuffix(s, "KiB")) }

// v6RouteRule is RouterOS 6's /ip route rule: v7 keeps its rules in /routing rule, and
// so does routerd; an add here is rewritten there (package compat), so the menu never
// holds an item.
func v6RouteRule() *Menu {
	to := func(name string, t value.Type, desc string) Prop {
		return Prop{Name: name, Type: t, V6: Console(RoutingRulePath, name), Desc: desc}
	}
	return &Menu{
		Path: V6RouteRulePath,
		Kind: List,
		Props: []Prop{
			to("src-address", value.Prefix(), "Source prefix the rule matches."),
			to("dst-address", value.Prefix(), "Destination prefix the rule matches."),
			to("routing-mark", value.String(), "Routing mark the rule matches (a /routing table, made if missing)."),
			to("interface", value.String(), "Incoming interface the rule matches."),
			to("action", value.Enum("lookup", "lookup-only-in-table", "drop", "unreachable"), "What to do with a matching packet."),
			to("table", value.String(), "Table to look the route up in (a /routing table, made if missing)."),
			to("comment", value.String(), "Short description of the rule."),
			to("disabled", value.Bool(), "Whether the rule is disabled."),
		},
		Desc: "RouterOS 6 policy routing rules: each add becomes a /routing rule, as the upgrade to 7 does.",
	}
}
