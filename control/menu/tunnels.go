package menu

import (
	"math"

	"github.com/routerd/routerd/control/value"
)

// tunnelCounters are the counters the eBPF dataplane keeps per tunnel, as `print stats`
// shows them: rx is what was decapsulated onto the tunnel, tx what was encapsulated from
// it; then the drops by reason (rx-drop and tx-drop sum them by direction).
var tunnelCounters = [][2]string{
	{"rx-byte", "Bytes decapsulated and delivered on the tunnel interface."},
	{"tx-byte", "Bytes encapsulated and sent to the underlay."},
	{"rx-packet", "Packets decapsulated and delivered on the tunnel interface."},
	{"tx-packet", "Packets encapsulated (a GSO packet counts once)."},
	{"rx-drop", "Received packets dropped (malformed, cleartext)."},
	{"tx-drop", "Packets dropped on the way out (every other reason)."},
	{"protocol-drop", "Payloads the tunnel does not carry (not IPv4/IPv6 on GRE, not IPv6 on 6to4 ...)."},
	{"no-route-drop", "Packets without a route to the remote (bpf_fib_lookup failed)."},
	{"no-neighbour-drop", "Packets whose next hop on the underlay had no resolved neighbour."},
	{"no-remote-drop", "6to4 packets without remote-address to a destination outside 2002::/16."},
	{"adjust-drop", "Packets the dataplane could not grow or shrink for the tunnel headers."},
	{"malformed-drop", "Received tunnel packets with an inconsistent header (EoIP length beyond the packet)."},
	{"cleartext-drop", "Received packets of a tunnel that IPsec protects (ipsec-secret, or a policy that requires its packets encrypted) that arrived in the clear."},
	{"frag-needed-drop", "Packets whose outer packet was too big for the underlay with DF set (dont-fragment=inherit and DF on the inner packet)."},
	{"tx-fragmented", "Outer packets too big for the underlay that the kernel fragmented (counted in tx-packet too)."},
	{"rx-reassembled", "Received outer packets that came in fragments: the kernel reassembled them and routerd decapsulated them (counted in rx-packet too)."},
}

var tunnelStats = func() []string {
	var out []string
	for _, c := range tunnelCounters {
		out = append(out, c[0])
	}
	return out
}()

// tunnelMenus declares the IP tunnels /interface gre, eoip, ipip and 6to4 after
// 08-interface-gre.txt, 07-interface-eoip.txt, 09-interface-ipip.txt and
// 06-interface-6to4.txt. Property order follows RouterOS print.
func tunnelMenus() []*Menu {
	anyTime := value.Time(0, math.MaxInt64)
	keepalive := value.Pair(anyTime, value.Int(0, 4294967295))
	flags := []Flag{FlagDisabled, FlagRunning}

	name := Prop{Name: "name", Type: value.String(), Unique: true, Desc: "Interface name."}
	mtu := func(max int64, def string) Prop {
		return Prop{Name: "mtu", Type: value.Int(0, max), Auto: true, Default: def,
			Desc: "Layer3 maximum transmission unit; auto derives it from the underlay."}
	}
	actualMTU := Prop{Name: "actual-mtu", Type: value.Int(0, 65535), ReadOnly: true,
		Desc: "MTU in effect."}
	l2mtu := func(max int64, settable bool) Prop {
		desc := "Layer2 maximum transmission unit; not configurable for EoIP."
		if settable {
			// The manual lets GRE set it; an L3 tunnel has no L2 header it would bound.
			desc = "Layer2 maximum transmission unit (kept and shown; a GRE tunnel carries no layer-2 header it would bound)."
		}
		p := Prop{Name: "l2mtu", Type: value.Int(0, max), Default: "65535", ReadOnly: !settable, Desc: desc}
		if settable {
			p.NoEffect = "a GRE tunnel carries no layer-2 header it would bound"
		}
		return p
	}
	local := func(def string) Prop {
		return Prop{Name: "local-address", Type: value.IPv4(), Default: def,
			Desc: "Source address of the tunnel packets, local on the router; 0.0.0.0 or unset uses the address of the outgoing interface."}
	}
	remote := func(required bool, desc string) Prop {
		// RouterOS takes a DNS name too and resolves it; routerd resolves it through
		// /ip dns and shows the address in use as actual-remote-address.
		return Prop{Name: "remote-address", Type: value.OneOf(value.IPv4(), HostName{}), Required: required, Desc: desc}
	}
	actualRemote := Prop{Name: "actual-remote-address", Type: value.IPv4(), ReadOnly: true,
		Desc: "Address in use when remote-address is a DNS name (resolved through /ip dns, again when the record's TTL runs out, 5s to 1d, and at once when /ip dns changes)."}
	ipsecSecret := Prop{Name: "ipsec-secret", Type: value.String(), Sensitive: true,
		Desc: "When set, a dynamic IPsec peer to remote-address with this pre-shared key and a policy are added."}
	keepaliveProp := func(def string) Prop {
		return Prop{Name: "keepalive", Type: keepalive, Default: def, Negatable: true,
			Desc: "KeepaliveInterval,KeepaliveRetries: the running flag is removed when retries keepalives in a row fail; !keepalive (or unset) sends none."}
	}
	dscp := Prop{Name: "dscp", Type: value.OneOf(value.Enum("inherit"), value.Int(0, 63)), Default: "inherit",
		Desc: "DSCP of the outer header: a fixed value, or inherit from the encapsulated packet."}
	clamp := Prop{Name: "clamp-tcp-mss", Type: value.Bool(), Default: "yes",
		Desc: "Lower the MSS of received TCP SYN packets to fit the tunnel MTU."}
	dontFragment := Prop{Name: "dont-fragment", Type: value.Enum("inherit", "no"), Default: "no",
		Desc: "no: fragment if needed; inherit: use the Dont Fragment flag of the original packet."}
	fastPath := Prop{Name: "allow-fast-path", Type: value.Bool(), Default: "yes",
		Desc: "Whether to allow FastPath processing; must be disabled if IPsec tunneling is used."}
	comment := Prop{Name: "comment", Type: value.String(), Desc: "Short description of the interface."}
	disabled := Prop{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the interface is disabled."}
	running := Prop{Name: "running", Type: value.Bool(), ReadOnly: true, Hidden: true,
		Desc: "The interface is up (and keepalives, if any, are answered)."}
	hook := Prop{Name: "hook", Type: value.String(), ReadOnly: true,
		Desc: "Where the eBPF decapsulator runs on the underlay: xdp-native, xdp-generic or tc."}
	pinned := Prop{Name: "pinned", Type: value.Bool(), ReadOnly: true,
		Desc: "Whether the tunnel's eBPF objects are pinned under --bpffs, so that traffic keeps flowing while routerd restarts (no: --bpffs is not on a bpf filesystem)."}
	var counters []Prop
	for _, c := range tunnelCounters {
		counters = append(counters, Prop{Name: c[0], Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: c[1]})
	}

	return []*Menu{
		{
			Path: GREPath,
			Kind: List,
			Props: append([]Prop{
				name,
				mtu(65536, "1476"),
				actualMTU,
				l2mtu(65536, true),
				local("0.0.0.0"),
				remote(true, "IP address of remote tunnel end."),
				actualRemote,
				ipsecSecret,
				keepaliveProp("10s,10"),
				dscp,
				clamp,
				dontFragment,
				fastPath,
				comment,
				disabled,
				running,
				hook,
				pinned,
			}, counters...),
			Stats:   tunnelStats,
			Flags:   flags,
			Columns: []string{"name", "mtu", "actual-mtu", "local-address", "remote-address"},
			Desc:    "GRE (RFC 1701) tunnels carrying IPv4 and IPv6.",
		},
		{
			Path: EoIPPath,
			Kind: List,
			Props: append([]Prop{
				name,
				mtu(65535, "auto"),
				actualMTU,
				l2mtu(65535, false),
				// Unset: a locally administered address is generated on add.
				{Name: "mac-address", Type: value.MAC(),
					Desc: "MAC address of the interface; 00:00:5E:80:00:00-00:00:5E:FF:FF:FF may be used freely."},
				{Name: "arp", Type: value.Enum("disabled", "enabled", "local-proxy-arp", "proxy-arp", "reply-only"), Default: "enabled",
					Desc: "Address Resolution Protocol mode."},
				{Name: "arp-timeout", Type: anyTime, Auto: true, Default: "auto",
					Desc: "Time after which ARP entries time out."},
				{Name: "loop-protect", Type: value.Enum("default", "on", "off"), Default: "default",
					Desc: "Loop protection on the interface."},
				{Name: "loop-protect-status", Type: value.Enum("off", "on", "disable"), Default: "off", ReadOnly: true,
					Desc: "Loop protection state."},
				{Name: "loop-protect-send-interval", Type: anyTime, Default: "5s",
					Desc: "Interval between loop protection packets."},
				{Name: "loop-protect-disable-time", Type: anyTime, Default: "5m",
					Desc: "How long the interface is disabled when a loop is detected."},
				local("0.0.0.0"),
				remote(true, "IP address of remote end of EoIP tunnel."),
				actualRemote,
				{Name: "tunnel-id", Type: value.Int(0, 65535), Required: true,
					Desc: "Unique tunnel identifier, which must match the other side of the tunnel."},
				ipsecSecret,
				keepaliveProp("10s,10"),
				dscp,
				clamp,
				dontFragment,
				fastPath,
				comment,
				disabled,
				running,
				hook,
				pinned,
			}, counters...),
			Stats: tunnelStats,
			Flags: flags,
			// The manual's print of EoIP is the detail form.
			Desc: "Ethernet over IP (MikroTik EoIP, GRE-based) tunnels.",
		},
		{
			Path: IPIPPath,
			Kind: List,
			Props: append([]Prop{
				name,
				mtu(65535, "1500"),
				actualMTU,
				local(""),
				remote(true, "IP address of remote end of IPIP tunnel."),
				actualRemote,
				ipsecSecret,
				keepaliveProp("10s,10"),
				dscp,
				clamp,
				dontFragment,
				fastPath,
				comment,
				disabled,
				running,
				hook,
				pinned,
			}, counters...),
			Stats:   tunnelStats,
			Flags:   flags,
			Columns: []string{"name", "mtu", "local-address", "remote-address"},
			Desc:    "IP-in-IP (RFC 2003) tunnels.",
		},
		{
			Path: SixToFourPath,
			Kind: List,
			Props: append([]Prop{
				name,
				mtu(65535, "auto"),
				actualMTU,
				local(""),
				remote(false, "IPv4 address of the remote end; unset derives it from the 2002::/16 destination."),
				actualRemote,
				ipsecSecret,
				keepaliveProp("0s,0"),
				dscp,
				clamp,
				dontFragment,
				comment,
				disabled,
				running,
				hook,
				pinned,
			}, counters...),
			Stats:   tunnelStats,
			Flags:   flags,
			Columns: []string{"name", "mtu", "actual-mtu", "local-address", "remote-address"},
			Desc:    "6to4 (IPv6 in IPv4, protocol 41) tunnels.",
		},
	}
}
