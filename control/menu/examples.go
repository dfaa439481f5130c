package menu

import (
	"math"
	"strconv"
	"strings"

	"github.com/routerd/routerd/control/value"
)

// exampleMenus declares the menus the reference's examples use beyond the tunnels and
// services: /queue simple and /queue type (02-system-scheduler.txt), /tool e-mail (the same
// page's backup-by-mail example), /ipv6 nd and /ipv6 nd prefix (06-interface-6to4.txt), and
// /ip dns static and cache for the DNS server that allow-remote-requests turns on. Their
// property lists follow RouterOS v7's manual pages.
func exampleMenus() []*Menu {
	comment := Prop{Name: "comment", Type: value.String(), Desc: "Short description of the item."}
	disabled := Prop{Name: "disabled", Type: value.Bool(), Default: "no", Desc: "Whether the item is disabled."}
	invalid := Prop{Name: "invalid", Type: value.Bool(), ReadOnly: true, Hidden: true,
		Desc: "The item cannot be applied; print's status says why."}
	ro := func(name, desc string) Prop {
		return Prop{Name: name, Type: value.String(), ReadOnly: true, Desc: desc}
	}
	rates := value.RatePair()
	return []*Menu{
		{
			Path: QueueTypePath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Required: true, Desc: "Name of the queue type."},
				{Name: "kind", Type: value.Enum("pfifo", "bfifo", "sfq", "red", "pcq", "mq-pfifo", "fq-codel", "cake", "none"),
					Required: true, Desc: "Queueing discipline: pfifo, bfifo, sfq and red are applied with the kernel's qdiscs of that name; the others are refused where the kernel lacks them."},
				{Name: "pfifo-limit", Type: value.Int(1, 4294967295), Default: "50", Desc: "pfifo: queue length in packets."},
				{Name: "bfifo-limit", Type: value.Int(1, 4294967295), Default: "15000", Desc: "bfifo: queue length in bytes."},
				{Name: "sfq-perturb", Type: value.Int(0, 4294967295), Default: "5", Desc: "sfq: seconds between hash changes."},
				{Name: "sfq-allot", Type: value.Int(1, 4294967295), Default: "1514", Desc: "sfq: bytes a flow may send per round."},
				{Name: "red-limit", Type: value.Int(1, 4294967295), Default: "60", Desc: "red: queue limit in packets."},
				{Name: "red-min-threshold", Type: value.Int(1, 4294967295), Default: "10", Desc: "red: average queue size (packets) where marking starts."},
				{Name: "red-max-threshold", Type: value.Int(1, 4294967295), Default: "50", Desc: "red: average queue size (packets) where every packet is dropped."},
				{Name: "red-burst", Type: value.Int(1, 4294967295), Default: "20", Desc: "red: packets a burst may hold."},
				{Name: "red-avg-packet", Type: value.Int(1, 65535), Default: "1000", Desc: "red: average packet size in bytes."},
				// The kinds Linux has no qdisc for (pcq) or routerd does not build yet
				// (mq-pfifo, fq-codel, cake): their properties are accepted and exported as
				// RouterOS writes them; the type is invalid with the reason.
				{Name: "pcq-rate", Type: value.Rate(), Default: "0", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: rate limit of each sub-stream (not applied here)."},
				{Name: "pcq-limit", Type: kibSize{value.Int(1, 4294967295)}, Default: "50", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: queue size of one sub-stream in KiB (not applied here)."},
				{Name: "pcq-classifier", Type: value.EnumList("dst-address", "dst-port", "src-address", "src-port"),
					NoEffect: "Linux has no pcq qdisc", Desc: "pcq: what divides traffic into sub-streams (not applied here)."},
				{Name: "pcq-total-limit", Type: kibSize{value.Int(1, 4294967295)}, Default: "2000", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: queue size of all sub-streams in KiB (not applied here)."},
				{Name: "pcq-burst-rate", Type: value.Rate(), Default: "0", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: burst rate of a sub-stream (not applied here)."},
				{Name: "pcq-burst-threshold", Type: value.Rate(), Default: "0", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: burst threshold of a sub-stream (not applied here)."},
				{Name: "pcq-burst-time", Type: value.Time(0, 4294967295*1e9), Default: "10s", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: burst time of a sub-stream (not applied here)."},
				{Name: "pcq-src-address-mask", Type: value.Int(0, 32), Default: "32", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: IPv4 source prefix length that makes a sub-stream (not applied here)."},
				{Name: "pcq-dst-address-mask", Type: value.Int(0, 32), Default: "32", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: IPv4 destination prefix length that makes a sub-stream (not applied here)."},
				{Name: "pcq-src-address6-mask", Type: value.Int(0, 128), Default: "128", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: IPv6 source prefix length that makes a sub-stream (not applied here)."},
				{Name: "pcq-dst-address6-mask", Type: value.Int(0, 128), Default: "128", NoEffect: "Linux has no pcq qdisc", Desc: "pcq: IPv6 destination prefix length that makes a sub-stream (not applied here)."},
				{Name: "mq-pfifo-limit", Type: value.Int(1, 4294967295), Default: "50", NoEffect: "the mq-pfifo kind is not built here", Desc: "mq-pfifo: queue length of each hardware queue in packets (not applied here)."},
				{Name: "fq-codel-limit", Type: value.Int(1, 4294967295), Default: "10240", NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: queue length in packets (not applied here)."},
				{Name: "fq-codel-quantum", Type: value.Int(1, 4294967295), Default: "1514", NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: bytes a flow may send per round (not applied here)."},
				{Name: "fq-codel-target", Type: value.Time(0, 4294967295*1e9), Default: "5ms", NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: acceptable queueing delay (not applied here)."},
				{Name: "fq-codel-interval", Type: value.Time(0, 4294967295*1e9), Default: "100ms", NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: interval the delay is measured over (not applied here)."},
				{Name: "fq-codel-flows", Type: value.Int(1, 65536), Default: "1024", NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: number of flow queues (not applied here)."},
				{Name: "fq-codel-ecn", Type: value.Bool(), Default: "yes", NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: mark ECN-capable packets instead of dropping (not applied here)."},
				{Name: "fq-codel-ce-threshold", Type: value.Time(0, 4294967295*1e9), NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: delay above which packets are CE-marked (not applied here)."},
				{Name: "fq-codel-memlimit", Type: value.String(), Default: "32.0MiB", NoEffect: "the fq-codel kind is not built here", Desc: "fq-codel: memory limit (not applied here)."},
				// RouterOS 7's codel kind: export verbose writes these on every queue type.
				{Name: "codel-limit", Type: value.Int(1, 4294967295), Default: "1000", NoEffect: "the codel kind is not built here", Desc: "codel: queue length in packets (not applied here)."},
				{Name: "codel-target", Type: value.Time(0, 4294967295*1e9), Default: "5ms", NoEffect: "the codel kind is not built here", Desc: "codel: acceptable queueing delay (not applied here)."},
				{Name: "codel-interval", Type: value.Time(0, 4294967295*1e9), Default: "100ms", NoEffect: "the codel kind is not built here", Desc: "codel: interval the delay is measured over (not applied here)."},
				{Name: "codel-ecn", Type: value.Bool(), Default: "no", NoEffect: "the codel kind is not built here", Desc: "codel: mark ECN-capable packets instead of dropping (not applied here)."},
				{Name: "codel-ce-threshold", Type: value.Time(0, 4294967295*1e9), NoEffect: "the codel kind is not built here", Desc: "codel: delay above which packets are CE-marked (not applied here)."},
				{Name: "cake-bandwidth", Type: value.Rate(), Default: "0", NoEffect: "the cake kind is not built here", Desc: "cake: shaper rate, 0 for unlimited (not applied here)."},
				{Name: "cake-diffserv", Type: value.Enum("besteffort", "diffserv3", "diffserv4", "diffserv8", "precedence"), Default: "diffserv3",
					NoEffect: "the cake kind is not built here", Desc: "cake: priority tins from DSCP (not applied here)."},
				{Name: "cake-flowmode", Type: value.Enum("dsthost", "dual-dsthost", "dual-srchost", "flowblind", "flows", "hosts", "srchost", "triple-isolate"),
					Default: "triple-isolate", NoEffect: "the cake kind is not built here", Desc: "cake: flow isolation (not applied here)."},
				{Name: "cake-nat", Type: value.Bool(), Default: "no", NoEffect: "the cake kind is not built here", Desc: "cake: look up NAT for flow isolation (not applied here)."},
				{Name: "cake-rtt", Type: value.Time(0, 4294967295*1e9), Default: "100ms", NoEffect: "the cake kind is not built here", Desc: "cake: round-trip time the AQM is tuned for (not applied here)."},
				{Name: "cake-rtt-scheme", Type: value.Enum("datacentre", "internet", "interplanetary", "lan", "metro", "none", "oceanic", "regional", "satellite"),
					Default: "none", NoEffect: "the cake kind is not built here", Desc: "cake: preset round-trip time (not applied here)."},
				{Name: "cake-overhead", Type: value.Int(-64, 256), Default: "0", NoEffect: "the cake kind is not built here", Desc: "cake: per-packet overhead in bytes (not applied here)."},
				{Name: "cake-overhead-scheme", Type: value.EnumList("bridged-llcsnap", "bridged-ptm", "bridged-vcmux", "conservative", "docsis", "ethernet",
					"ipoa-llcsnap", "ipoa-vcmux", "pppoa-llc", "pppoa-vcmux", "pppoe-llcsnap", "pppoe-ptm", "pppoe-vcmux", "raw", "route-ptm"),
					NoEffect: "the cake kind is not built here", Desc: "cake: link layer overhead preset (not applied here)."},
				{Name: "cake-mpu", Type: value.Int(0, 256), NoEffect: "the cake kind is not built here", Desc: "cake: minimum packet size (not applied here)."},
				{Name: "cake-atm", Type: value.Enum("atm", "none", "ptm"), Default: "none", NoEffect: "the cake kind is not built here", Desc: "cake: ATM/PTM cell framing compensation (not applied here)."},
				{Name: "cake-ack-filter", Type: value.Enum("aggressive", "filter", "none"), Default: "none", NoEffect: "the cake kind is not built here", Desc: "cake: drop redundant TCP ACKs (not applied here)."},
				{Name: "cake-wash", Type: value.Bool(), Default: "no", NoEffect: "the cake kind is not built here", Desc: "cake: clear DSCP on egress (not applied here)."},
				{Name: "cake-memlimit", Type: value.String(), Default: "0", NoEffect: "the cake kind is not built here", Desc: "cake: memory limit (not applied here)."},
				{Name: "cake-autorate-ingress", Type: value.Bool(), Default: "no", NoEffect: "the cake kind is not built here", Desc: "cake: estimate the ingress rate (not applied here)."},
				comment,
				invalid,
			},
			Flags: []Flag{FlagInvalid, {'*', "default"}},
			Builtin: []map[string]string{
				// RouterOS's order: verbose exports set them by number (set 6 kind=pcq
				// name=pcq-upload-default ...).
				{"name": "default", "kind": "pfifo"},
				{"name": "ethernet-default", "kind": "pfifo"},
				{"name": "wireless-default", "kind": "sfq"},
				{"name": "synchronous-default", "kind": "red"},
				{"name": "hotspot-default", "kind": "sfq"},
				{"name": "pcq-upload-default", "kind": "pcq", "pcq-classifier": "src-address"},
				{"name": "pcq-download-default", "kind": "pcq", "pcq-classifier": "dst-address"},
				{"name": "only-hardware-queue", "kind": "none"},
				{"name": "multi-queue-ethernet-default", "kind": "mq-pfifo"},
				{"name": "default-small", "kind": "pfifo", "pfifo-limit": "10"},
			},
			Columns: []string{"name", "kind"},
			Desc:    "Queue types that simple queues use as their leaf queue (the default-small type is pfifo with 10 packets).",
		},
		{
			Path:     SimpleQueuePath,
			Kind:     List,
			Commands: []string{"reset-counters", "reset-counters-all"},
			Props: []Prop{
				{Name: "name", Type: value.String(), Unique: true, Desc: "Name of the queue (default queueN)."},
				{Name: "target", Type: value.List(value.String()),
					Desc: "What the queue limits: addresses or prefixes of the clients, or interfaces; upload is traffic from the target, download traffic to it."},
				{Name: "dst", Type: value.String(),
					Desc: "Only traffic to (upload) or from (download) this address, prefix or interface."},
				// The manual's scheduler example is v2-era syntax: interface= and dst-address=.
				{Name: "interface", Type: value.String(),
					Desc: "v2-era form: the interface the queue shapes on (taken as a target interface)."},
				{Name: "dst-address", Type: value.Prefix4(),
					Desc: "v2-era form: the clients' network (taken as a target address)."},
				{Name: "parent", Type: value.String(), Ref: SimpleQueuePath, RefExtra: []string{"none"}, Default: "none",
					Desc: "Parent queue in the hierarchy."},
				{Name: "priority", Type: value.String(), Default: "8/8",
					Desc: "Priority (1 highest .. 8) for upload/download when children compete for the parent's rate."},
				{Name: "queue", Type: value.String(), Default: "default-small/default-small",
					Desc: "Queue types (/queue type) of upload/download."},
				{Name: "limit-at", Type: rates, Default: "0/0", Desc: "Guaranteed rate upload/download (bits/s, k M G)."},
				{Name: "max-limit", Type: rates, Default: "0/0", Desc: "Largest rate upload/download; 0 is unlimited."},
				{Name: "burst-limit", Type: rates, Default: "0/0", Desc: "Rate allowed while a burst is on."},
				{Name: "burst-threshold", Type: rates, Default: "0/0",
					Desc: "A burst is allowed while the average rate stays below this."},
				{Name: "burst-time", Type: value.String(), Default: "0s/0s",
					Desc: "Period over which the average rate is computed, upload/download."},
				// RouterOS 7 exports these; routerd stores them so those exports import.
				{Name: "bucket-size", Type: bucketSizes{}, Default: "0.1/0.1", NoEffect: "routerd's HTB keeps the kernel's bucket",
					Desc: "HTB bucket capacity upload/download as a multiple of max-limit (0..10)."},
				{Name: "total-limit-at", Type: value.Rate(), Default: "0", NoEffect: "routerd shapes upload and download separately",
					Desc: "Guaranteed rate of upload and download together."},
				{Name: "total-max-limit", Type: value.Rate(), Default: "0", NoEffect: "routerd shapes upload and download separately",
					Desc: "Largest rate of upload and download together; 0 is unlimited."},
				{Name: "total-burst-limit", Type: value.Rate(), Default: "0", NoEffect: "routerd shapes upload and download separately",
					Desc: "Rate of upload and download together allowed while a burst is on."},
				{Name: "total-burst-threshold", Type: value.Rate(), Default: "0", NoEffect: "routerd shapes upload and download separately",
					Desc: "A total burst is allowed while the average total rate stays below this."},
				{Name: "total-burst-time", Type: value.Time(0, 1<<42), Default: "0s", NoEffect: "routerd shapes upload and download separately",
					Desc: "Period over which the average total rate is computed."},
				{Name: "total-priority", Type: value.Int(1, 8), Default: "8", NoEffect: "routerd shapes upload and download separately",
					Desc: "Priority of upload and download together."},
				{Name: "total-queue", Type: value.String(), Default: "default-small", NoEffect: "routerd shapes upload and download separately",
					Desc: "Queue type (/queue type) of upload and download together."},
				{Name: "packet-marks", Type: value.List(value.String()),
					Desc: "Only packets with these marks (firewall mangle new-packet-mark); routerd matches them in the download direction only (upload is classified before the firewall runs)."},
				{Name: "time", Type: value.String(),
					Desc: "When the queue is active: start-end,days (e.g. 8h-17h,mon,tue); empty is always."},
				comment,
				disabled,
				invalid,
				{Name: "rate", Type: value.String(), ReadOnly: true, Desc: "Current rate upload/download (bits/s)."},
				{Name: "packet-rate", Type: value.String(), ReadOnly: true, Desc: "Current packet rate upload/download."},
				{Name: "bytes", Type: value.String(), ReadOnly: true, Desc: "Bytes sent upload/download."},
				{Name: "packets", Type: value.String(), ReadOnly: true, Desc: "Packets sent upload/download."},
				{Name: "queued-bytes", Type: value.String(), ReadOnly: true, Desc: "Bytes waiting upload/download."},
				{Name: "queued-packets", Type: value.String(), ReadOnly: true, Desc: "Packets waiting upload/download."},
				{Name: "dropped", Type: value.String(), ReadOnly: true, Desc: "Packets dropped upload/download."},
			},
			Flags:   []Flag{FlagDisabled, FlagInvalid, FlagDynamic},
			Ordered: true,
			Stats:   []string{"rate", "packet-rate", "bytes", "packets", "queued-bytes", "queued-packets", "dropped"},
			Columns: []string{"name", "target", "parent", "limit-at", "max-limit"},
			Desc:    "Simple queues: per-target rate limits applied with HTB.",
		},
		{
			Path: EmailPath,
			Kind: Single,
			Props: []Prop{
				{Name: "server", Type: value.String(), Default: "0.0.0.0", Desc: "SMTP server's address or name."},
				{Name: "port", Type: value.Int(0, 65535), Default: "25", Desc: "SMTP server's port."},
				{Name: "tls", Type: value.Enum("no", "yes", "starttls"), Default: "no",
					Desc: "no: plain SMTP; yes: TLS from the start; starttls: upgrade with STARTTLS (refused when the server lacks it)."},
				{Name: "from", Type: value.String(), Default: "<>", Desc: "Sender address."},
				{Name: "user", Type: value.String(), Desc: "User name for SMTP authentication (PLAIN or LOGIN)."},
				{Name: "password", Type: value.String(), Sensitive: true, Desc: "Password for SMTP authentication."},
				{Name: "vrf", Type: value.String(), Default: "main", NoEffect: "routerd has no VRFs",
					Desc: "VRF the connection is made in."},
				// RouterOS 6 wrote the server as address= and TLS as start-tls= (package compat).
				{Name: "address", Type: value.String(), V6: "server", Desc: "RouterOS 6 name of server."},
				{Name: "start-tls", Type: value.Enum("no", "yes", "tls-only"), V6: "tls",
					Desc: "RouterOS 6 TLS choice: yes is tls=starttls, tls-only is tls=yes."},
				{Name: "last-status", Type: value.String(), ReadOnly: true, Desc: "Result of the last send."},
			},
			Commands: []string{"send"},
			Desc:     "E-mail: the SMTP server that /tool e-mail send uses.",
		},
		{
			Path: NDPath,
			Kind: List,
			Props: []Prop{
				{Name: "interface", Type: value.String(), Required: true, Unique: true,
					Desc: "Interface that sends advertisements; all means every interface without its own item."},
				{Name: "ra-interval", Type: value.String(), Default: "3m20s-10m",
					Desc: "Range of intervals between unsolicited advertisements (min-max)."},
				{Name: "ra-delay", Type: value.Time(0, 1<<42), Default: "3s", NoEffect: "advertisements are spaced by ra-interval only",
					Desc: "Least time between advertisements."},
				{Name: "ra-lifetime", Type: value.OneOf(value.Enum("none"), value.Time(0, 9000*1e9)), Default: "30m",
					Desc: "Router lifetime advertised; 0 says this is no default router."},
				{Name: "ra-preference", Type: value.Enum("low", "medium", "high"), Default: "medium",
					Desc: "Default router preference (RFC 4191)."},
				{Name: "pref64", Type: value.String(), NoEffect: "the PREF64 option (RFC 8781) is not sent here",
					Desc: "NAT64 prefix advertised in router advertisements."},
				{Name: "hop-limit", Type: value.OneOf(value.Enum("unspecified"), value.Int(1, 255)), Default: "unspecified",
					Desc: "Hop limit hosts should use."},
				{Name: "managed-address-configuration", Type: value.Bool(), Default: "no", Desc: "M flag: addresses from DHCPv6."},
				{Name: "other-configuration", Type: value.Bool(), Default: "no", Desc: "O flag: other settings from DHCPv6."},
				{Name: "advertise-mac-address", Type: value.Bool(), Default: "yes", Desc: "Send the source link-layer address option."},
				{Name: "advertise-dns", Type: value.Bool(), Default: "yes", Desc: "Send RDNSS with the servers of /ip dns (IPv6 ones) or dns=."},
				{Name: "dns", Type: value.List(value.IPv6()), Desc: "DNS servers to advertise instead of /ip dns's."},
				{Name: "mtu", Type: value.OneOf(value.Enum("unspecified"), value.Int(1280, 65535)), Default: "unspecified",
					Desc: "Link MTU advertised."},
				{Name: "reachable-time", Type: value.OneOf(value.Enum("unspecified"), value.Time(0, 3600*1e9)), Default: "unspecified",
					Desc: "Reachable time advertised."},
				{Name: "retransmit-interval", Type: value.OneOf(value.Enum("unspecified"), value.Time(0, 1<<42)), Default: "unspecified",
					Desc: "Retransmit timer advertised."},
				comment,
				disabled,
				invalid,
			},
			Flags:   []Flag{FlagDisabled, FlagInvalid, {'*', "default"}},
			Builtin: []map[string]string{{"interface": "all"}},
			Columns: []string{"interface", "ra-interval", "ra-lifetime", "hop-limit", "advertise-dns"},
			Desc:    "IPv6 router advertisement: routerd sends RAs on the interfaces listed and answers router solicitations.",
		},
		{
			Path: NDPrefixPath,
			Kind: List,
			Props: []Prop{
				{Name: "prefix", Type: value.Prefix6(), Required: true, Desc: "Prefix advertised."},
				{Name: "interface", Type: value.String(), Required: true, Desc: "Interface the prefix is advertised on."},
				{Name: "on-link", Type: value.Bool(), Default: "yes", Desc: "L flag: the prefix is on the link."},
				{Name: "autonomous", Type: value.Bool(), Default: "yes", Desc: "A flag: hosts may form addresses (SLAAC)."},
				{Name: "dhcp6-pd-preferred", Type: value.Bool(), Default: "no",
					Desc: "P flag (RFC 9762): hosts should ask DHCPv6 for a prefix of their own rather than form addresses in this one."},
				{Name: "valid-lifetime", Type: value.OneOf(value.Enum("infinity"), value.Time(0, 4294967294*1e9)), Default: "4w2d",
					Desc: "Valid lifetime."},
				{Name: "preferred-lifetime", Type: value.OneOf(value.Enum("infinity"), value.Time(0, 4294967294*1e9)), Default: "1w",
					Desc: "Preferred lifetime."},
				{Name: "6to4-interface", Type: value.String(), Default: "none", NoEffect: "the prefix is advertised as written, not derived from a 6to4 tunnel",
					Desc: "6to4 interface whose address the advertised prefix is made from."},
				comment,
				disabled,
				invalid,
			},
			Flags:   []Flag{FlagDisabled, FlagInvalid, FlagDynamic},
			Columns: []string{"prefix", "interface", "valid-lifetime", "preferred-lifetime"},
			Desc:    "Prefixes in router advertisements; addresses with advertise=yes add theirs dynamically.",
		},
		{
			Path: NDPrefixDefaultPath,
			Kind: Single,
			Props: []Prop{
				{Name: "autonomous", Type: value.Bool(), Default: "yes",
					Desc: "A flag of the prefixes addresses with advertise=yes add (a /64 only: SLAAC needs it)."},
				{Name: "dhcp6-pd-preferred", Type: value.Bool(), Default: "no",
					Desc: "P flag (RFC 9762) of the prefixes addresses with advertise=yes add."},
				{Name: "valid-lifetime", Type: value.OneOf(value.Enum("infinity"), value.Time(0, 4294967294*1e9)), Default: "4w2d",
					Desc: "Valid lifetime of the prefixes addresses with advertise=yes add."},
				{Name: "preferred-lifetime", Type: value.OneOf(value.Enum("infinity"), value.Time(0, 4294967294*1e9)), Default: "1w",
					Desc: "Preferred lifetime of the prefixes addresses with advertise=yes add."},
			},
			Desc: "What the prefixes addresses with advertise=yes add to router advertisements carry.",
		},
		{
			Path: DNSStaticPath,
			Kind: List,
			Props: []Prop{
				{Name: "name", Type: value.String(), Desc: "Name the entry answers."},
				{Name: "regexp", Type: value.String(), Desc: "Regular expression of names the entry answers (instead of name)."},
				{Name: "type", Type: value.Enum("A", "AAAA", "CNAME", "MX", "NS", "TXT", "SRV", "FWD", "NXDOMAIN"), Default: "A",
					Desc: "Record type."},
				{Name: "address", Type: value.IP(), Desc: "Address of A and AAAA entries."},
				{Name: "cname", Type: value.String(), Desc: "Target of CNAME entries."},
				{Name: "text", Type: value.String(), Desc: "Text of TXT entries."},
				{Name: "mx-exchange", Type: value.String(), Desc: "Mail exchanger of MX entries."},
				{Name: "mx-preference", Type: value.Int(0, 65535), Default: "0", Desc: "Preference of MX entries."},
				{Name: "ns", Type: value.String(), Desc: "Name server of NS entries."},
				{Name: "forward-to", Type: value.IP(), Desc: "Server FWD entries forward matching queries to."},
				// RouterOS 7.x exports carry it on FWD entries (split DNS feeding policy
				// routing); the forwarder does not fill firewall address lists yet.
				{Name: "address-list", Type: value.String(), NoEffect: "resolved addresses are not added to firewall address lists here",
					Desc: "Firewall address list the addresses an answer resolves to are added to."},
				{Name: "srv-target", Type: value.String(), Desc: "Target host of SRV entries."},
				{Name: "srv-port", Type: value.Int(0, 65535), Default: "0", Desc: "Port of SRV entries."},
				{Name: "srv-priority", Type: value.Int(0, 65535), Default: "0", Desc: "Priority of SRV entries."},
				{Name: "srv-weight", Type: value.Int(0, 65535), Default: "0", Desc: "Weight of SRV entries."},
				{Name: "ttl", Type: value.Time(0, 4294967295*1e9), Default: "1d", Desc: "Time to live of the answer."},
				{Name: "match-subdomain", Type: value.Bool(), Default: "no", Desc: "Also answer names below name."},
				comment,
				disabled,
				invalid,
			},
			Flags:         []Flag{FlagDisabled, FlagInvalid},
			Ordered:       true,
			Columns:       []string{"name", "regexp", "type", "address", "ttl"},
			NoDefaultName: true,
			Desc:          "Static DNS entries the DNS server answers from before asking upstream.",
		},
		{
			Path: DNSCachePath,
			Kind: Status,
			Props: []Prop{
				{Name: "name", Type: value.String(), ReadOnly: true, Desc: "Name."},
				{Name: "type", Type: value.String(), ReadOnly: true, Desc: "Record type."},
				{Name: "data", Type: value.String(), ReadOnly: true, Desc: "Record data."},
				{Name: "ttl", Type: value.String(), ReadOnly: true, Desc: "Time left."},
				ro("static", "From /ip dns static."),
			},
			Commands: []string{"flush"},
			Columns:  []string{"name", "type", "data", "ttl"},
			NoExport: true,
			Desc:     "The DNS server's cache.",
		},
		{
			Path: DNSCacheAllPath,
			Kind: Status,
			Props: []Prop{
				{Name: "name", Type: value.String(), ReadOnly: true, Desc: "Name."},
				{Name: "type", Type: value.String(), ReadOnly: true, Desc: "Record type."},
				{Name: "data", Type: value.String(), ReadOnly: true, Desc: "Record data."},
				{Name: "ttl", Type: value.String(), ReadOnly: true, Desc: "Time left."},
			},
			Columns:  []string{"name", "type", "data", "ttl"},
			NoExport: true,
			Desc:     "Every record of the DNS server's cache.",
		},
	}
}

// bucketSizes is /queue simple's bucket-size: upload/download multiples of max-limit,
// each 0..10 with up to three decimals (a single value sets both).
type bucketSizes struct{}

func (bucketSizes) Name() string { return "decimal [0..10]/decimal [0..10]" }

func (bucketSizes) Parse(s string) (string, error) {
	up, down, ok := strings.Cut(s, "/")
	if !ok {
		down = up
	}
	var out []string
	for _, x := range []string{up, down} {
		v, err := strconv.ParseFloat(x, 64)
		if err != nil || x == "" || strings.ContainsAny(x, "eEnNiIxXpP_+") {
			return "", value.ErrInvalid
		}
		if v < 0 || v > 10 {
			return "", &value.RangeError{Min: "0", Max: "10"}
		}
		out = append(out, strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64))
	}
	return out[0] + "/" + out[1], nil
}
