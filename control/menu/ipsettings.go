package menu

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control/value"
)

// ipSettingsMenus declares /ip settings and /ipv6 settings after RouterOS 7's "IP
// Settings" manual page: the kernel's forwarding and ICMP/ARP/TCP parameters, which
// package ipsettings applies to the namespace's sysctls. RouterOS routes by default.
func ipSettingsMenus() []*Menu {
	return []*Menu{
		{
			Path: Settings4Path,
			Kind: Single,
			Props: []Prop{
				{Name: "ip-forward", Type: value.Bool(), Default: "yes",
					Desc: "Forward IPv4 packets between interfaces (net.ipv4.ip_forward)."},
				{Name: "send-redirects", Type: value.Bool(), Default: "yes",
					Desc: "Send ICMP redirects when the router is on the best path's link."},
				{Name: "accept-source-route", Type: value.Bool(), Default: "no",
					Desc: "Accept packets with the source route (SRR) option."},
				{Name: "accept-redirects", Type: value.Bool(), Default: "no",
					Desc: "Accept ICMP redirects; typically off on routers."},
				{Name: "secure-redirects", Type: value.Bool(), Default: "yes",
					Desc: "Accept ICMP redirects only from gateways of the default route list."},
				{Name: "rp-filter", Type: value.Enum("no", "strict", "loose"), Default: "no",
					Desc: "Reverse path filtering: strict drops packets arriving on an interface that is not the best way back to their source, loose drops those with no way back."},
				{Name: "tcp-syncookies", Type: value.Bool(), Default: "no",
					Desc: "Send SYN cookies when a socket's SYN backlog overflows."},
				{Name: "max-neighbor-entries", Type: value.Int(0, math.MaxUint32), Default: "8192",
					Desc: "Most ARP entries (gc_thresh3 of the neighbour table)."},
				{Name: "arp-timeout", Type: value.Time(0, 1<<52), Default: "30s",
					Desc: "ARP reachable time (base_reachable_time_ms of every interface)."},
				{Name: "icmp-errors-use-inbound-interface-address", Type: value.Bool(), Default: "no",
					Desc: "Send ICMP errors from the address of the interface the packet came in on."},
				{Name: "icmp-rate-limit", Type: value.Int(0, math.MaxUint32), Default: "10",
					Desc: "Minimum space in milliseconds between ICMP messages of icmp-rate-mask's types to one target; 0 disables the limit."},
				{Name: "icmp-rate-mask", Type: hexMask{}, Default: "0x1818",
					Desc: "Mask of the ICMP types rate limited (bit n is type n)."},
				{Name: "route-cache", Type: value.Bool(), Default: "yes", NoEffect: "Linux has no IPv4 route cache since 3.6",
					Desc: "Use the route cache."},
				{Name: "allow-fast-path", Type: value.Bool(), Default: "yes",
					Desc: "Allow the fast path: IPv4 packets forwarded by the ports' XDP program while no firewall rule, IPsec policy or queue is configured."},
				{Name: "tcp-timestamps", Type: value.Enum("disable", "enable", "random-offset"), Default: "random-offset",
					Desc: "TCP timestamps (RFC 1323): off, on, or on with a random offset per connection."},
				{Name: "ipv4-multipath-hash-policy", Type: value.Enum("l3", "l4", "l3-inner"), Default: "l3",
					Desc: "Fields hashed to pick a path of an ECMP route."},
				// RouterOS 7.2x exports these; its defaults are not documented, so the
				// kernel's (ipfrag_time 30 s, ipfrag_high_thresh 4 MiB) are left alone.
				{Name: "ipv4-fragment-time", Type: value.Int(0, math.MaxInt32), Default: "",
					NoEffect: "the kernel's ipfrag_time is left as it is",
					Desc:     "Seconds an incomplete fragmented packet is kept."},
				{Name: "ipv4-high-fragment-thresh", Type: value.String(), Default: "",
					NoEffect: "the kernel's ipfrag_high_thresh is left as it is",
					Desc:     "Memory for reassembling fragments (RouterOS writes 1024.0KiB)."},
				{Name: "ipv4-fast-path-active", Type: value.Bool(), ReadOnly: true, Desc: "Whether the fast path is in use."},
				{Name: "ipv4-fast-path-packets", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "Packets forwarded by the fast path."},
				{Name: "ipv4-fast-path-bytes", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "Bytes forwarded by the fast path."},
				{Name: "ipv4-fasttrack-active", Type: value.Bool(), ReadOnly: true, Desc: "Whether FastTrack is in use."},
				{Name: "ipv4-fasttrack-packets", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "Packets forwarded by FastTrack."},
				{Name: "ipv4-fasttrack-bytes", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "Bytes forwarded by FastTrack."},
			},
			Desc: "IPv4 kernel parameters: forwarding, redirects, reverse path filter, ICMP rate limits, ARP.",
		},
		{
			Path: Settings6Path,
			Kind: Single,
			Props: []Prop{
				{Name: "disable-ipv6", Type: value.Bool(), Default: "no",
					Desc: "Disable IPv6 on every interface."},
				{Name: "forward", Type: value.Bool(), Default: "yes",
					Desc: "Forward IPv6 packets between interfaces (net.ipv6.conf.all.forwarding)."},
				{Name: "accept-redirects", Type: value.Enum("no", "yes-if-forwarding-disabled"), Default: "yes-if-forwarding-disabled",
					Desc: "Accept ICMPv6 redirects, only while forwarding is off."},
				{Name: "accept-router-advertisements", Type: value.Enum("no", "yes", "yes-if-forwarding-disabled"), Default: "yes-if-forwarding-disabled",
					Desc: "Accept router advertisements (accept_ra): never, always, or only while forwarding is off."},
				{Name: "accept-router-advertisements-on", Type: value.String(), Default: "all",
					NoEffect: "accept-router-advertisements applies to every interface",
					Desc:     "Interface list whose interfaces accept router advertisements."},
				{Name: "disable-link-local-address", Type: value.Bool(), Default: "no",
					Desc: "Give interfaces no automatic link-local address (addr_gen_mode none), for link-local addresses configured by hand. An interface that is up keeps the one it has until it goes down."},
				{Name: "stale-neighbor-detect-interval", Type: value.Int(1, math.MaxInt32), Default: "30",
					Desc:     "Seconds between checks of stale neighbour entries.",
					NoEffect: "Linux probes a stale neighbour when traffic uses it (delay_first_probe_time) rather than on a timer"},
				{Name: "stale-neighbor-timeout", Type: value.Int(1, math.MaxInt32), Default: "60",
					Desc: "Seconds after which an unused stale neighbour entry is removed (gc_stale_time)."},
				{Name: "min-neighbor-entries", Type: value.Int(0, math.MaxUint32), Default: "2048",
					Desc: "IPv6 neighbour entries below which none are collected (gc_thresh1)."},
				{Name: "soft-max-neighbor-entries", Type: value.Int(0, math.MaxUint32), Default: "4096",
					Desc: "IPv6 neighbour entries above which collection starts after 5 seconds (gc_thresh2)."},
				{Name: "max-neighbor-entries", Type: value.Int(0, math.MaxUint32), Default: "8192",
					Desc: "Most IPv6 neighbour entries (gc_thresh3)."},
				{Name: "multipath-hash-policy", Type: value.Enum("l3", "l4", "l3-inner"), Default: "l3",
					Desc: "Fields hashed to pick a path of an ECMP route."},
				{Name: "allow-fast-path", Type: value.Bool(), Default: "yes",
					Desc: "Allow the IPv6 fast path: IPv6 packets forwarded by the ports' XDP program while no firewall rule, IPsec policy or queue is configured."},
				{Name: "ipv6-fast-path-active", Type: value.Bool(), ReadOnly: true, Desc: "Whether the IPv6 fast path is in use."},
				{Name: "ipv6-fast-path-packets", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "IPv6 packets forwarded by the fast path."},
				{Name: "ipv6-fast-path-bytes", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "IPv6 bytes forwarded by the fast path."},
				{Name: "ipv6-fasttrack-active", Type: value.Bool(), ReadOnly: true, Desc: "Whether IPv6 FastTrack is in use."},
				{Name: "ipv6-fasttrack-packets", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "IPv6 packets forwarded by FastTrack."},
				{Name: "ipv6-fasttrack-bytes", Type: value.Int(0, math.MaxInt64), ReadOnly: true, Desc: "IPv6 bytes forwarded by FastTrack."},
			},
			Desc: "IPv6 kernel parameters: forwarding, redirects, router advertisements, neighbour table.",
		},
	}
}

// hexMask is a 32-bit mask RouterOS writes in hex (icmp-rate-mask=0x1818); decimal is
// accepted too.
type hexMask struct{}

func (hexMask) Name() string { return "0..FFFFFFFF" }

func (hexMask) Parse(s string) (string, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	base := 16
	if t == s {
		base = 10
	}
	n, err := strconv.ParseUint(t, base, 32)
	if err != nil || t == "" || strings.ContainsAny(t, "+-_") {
		return "", value.ErrInvalid
	}
	return fmt.Sprintf("0x%X", n), nil
}
