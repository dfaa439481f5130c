/* Types shared by the port program's fast path (bpf/tunnel.c, xdp_port) and routerd's Go
 * side (dataplane/fastpath.go, through bpf2go -type). No implicit padding: Go reads
 * them as raw bytes. */
#ifndef ROUTERD_FASTPATH_H
#define ROUTERD_FASTPATH_H

/* What a port's XDP program is there for (fp_port.roles); the link stays while any is
 * set. Only FP_ROLE_FORWARD changes what the program does. */
enum fp_role {
	FP_ROLE_DECAP = 1,   /* an underlay of tunnels (the tunnel engine) */
	FP_ROLE_FORWARD = 2, /* a fast path port: forwards what it receives */
};

/* fp_cfg.flags: what may take the fast path now (Go clears a family's bit while
 * allow-fast-path is off or a firewall rule or IPsec policy could see its packets). */
enum fp_flags {
	FP_ON4 = 1,
	FP_ON6 = 2,
	FP_FT4 = 4, /* FastTrack: IPv4 connections marked fasttracked bypass the firewall */
	FP_SRCV = 8, /* fp_srcv has entries: some interface validates sources (rp_filter, ...) */
	FP_FT6 = 16, /* FastTrack for IPv6 */
	FP_ESP4 = 32, /* no IPv4 firewall rule or queue could see inbound ESP: esp_steer may take it */
};

/* fp_srcv values: how the kernel validates an IPv4 packet's source on an input interface
 * (fib_validate_source). Without an entry: only that the source is none of the router's
 * own addresses (fp_local). */
enum fp_srcv_mode {
	FP_SRCV_STRICT = 1,  /* rp_filter 1: the route back to the source leaves by the input port */
	FP_SRCV_LOOSE = 2,   /* rp_filter 2: there is a unicast route back to the source */
	FP_SRCV_FULL = 4,    /* custom routing rules: the kernel checks the route back */
	FP_SRCV_ACCEPT_LOCAL = 8, /* accept_local: a source of our own is no martian */
};

/* fp_local: the router's own IPv4 addresses as a 65536-bit set, indexed by
 * FP_LOCAL_HASH; a source whose bit is set goes to the stack (a hash collision only costs
 * that source the slow path). */
#define FP_LOCAL_WORDS 1024
#define FP_LOCAL_HASH(a) ((__u32)((a) * 0x9E3779B1u) >> 16)
struct fp_local {
	__u64 bits[FP_LOCAL_WORDS];
};

/* The conntrack mark bit fasttrack-connection sets (firewall.FastTrackMark). */
#define FP_FASTTRACK_MARK 0x80000000u

/* Why a packet that reached the fast path went to the stack (fp_stats.pass). */
enum fp_pass {
	FP_PASS_OFF = 0,      /* fast path off for the family (settings, firewall, IPsec) */
	FP_PASS_NOT_IP = 1,   /* not IPv4/IPv6 over plain Ethernet, or not to our MAC */
	FP_PASS_OPTIONS = 2,  /* IPv4 options, IPv6 hop-by-hop header */
	FP_PASS_TTL = 3,      /* TTL / hop limit at most 1: the kernel sends time exceeded */
	FP_PASS_LOCAL = 4,    /* to us, broadcast, multicast, link-local, no route */
	FP_PASS_MTU = 5,      /* over the egress MTU: the kernel fragments or sends frag-needed */
	FP_PASS_NO_NEIGH = 6, /* next hop unresolved: the kernel resolves it */
	FP_PASS_NO_ROUTE = 7, /* unreachable, blackhole or prohibit route, forwarding off */
	FP_PASS_EGRESS = 8,   /* leaves by an interface that is not a fast path port */
	FP_PASS_NOT_FT = 9,   /* the firewall sees it: no fasttracked connection (or FIN/RST/SYN) */
	FP_PASS_MALFORMED = 10, /* bad IHL, length or header checksum: the kernel drops it */
	FP_PASS_MARTIAN = 11, /* martian source (ours, rp_filter) or destination: the kernel drops it */
	FP_PASS_CSUM_PARTIAL = 12, /* L4 checksum still partial (veth/tap offload): the stack completes it */
	FP_PASS_REDIRECT = 13, /* leaves by the port it came in on: the kernel sends a redirect */
	FP_PASS_ICMP_ERROR = 14, /* ICMP error: the kernel's multipath hash reads the quoted packet */
	FP_PASS_MAX = 15,
};

struct fp_cfg {
	__u32 flags;
	__u32 tcp_timeout; /* ms: nf_conntrack_tcp_timeout_established (0: the kernel's default) */
	__u32 udp_timeout; /* ms: nf_conntrack_udp_timeout_stream (0: the kernel's default) */
	__u32 pad;
};

/* Inbound raw ESP steering (bpf/tunnel.c esp_steer): IPv4 ESP to an inbound SA of the
 * userspace ESP path (esp_rx, by destination and SPI) is rewritten into UDP to that path's
 * own GRO socket (esp_rx_cfg.port) before the stack, so that the port's GRO hands it over
 * 64 KB at a time instead of one raw-socket delivery and wakeup per packet. */
struct esp_rx_key {
	__be32 dst;
	__be32 spi;
};

struct esp_rx_cfg {
	__u16 port; /* host order; 0: off */
	__u16 pad;
	__u32 pad2;
};

/* esp_rx_stats: per CPU. */
struct esp_rx_stats {
	__u64 steered;       /* ESP frames rewritten for the userspace path's socket */
	__u64 steered_bytes; /* their ESP bytes */
	__u64 spoofed;       /* UDP from the wire to the steering port, dropped */
	__u64 fallback;      /* ESP of a steered SA left to the raw socket (fragment, options, firewall) */
};

/* fp_port: a port with the port program, in xdp_ports by ifindex. */
struct fp_port {
	__u8 mac[6];  /* forwarded frames must be addressed to it */
	__u16 roles;
	__u32 slot;   /* index into fp_counters */
};

/* fp_stats: per CPU, in a per-CPU array at the ingress port's slot (slot 0: packets
 * decapsulated and forwarded in one pass that came in on no fast path port). */
struct fp_stats {
	__u64 packets4;
	__u64 bytes4;
	__u64 packets6;
	__u64 bytes6;
	__u64 ft_packets4; /* FastTrack (also counted in packets4/bytes4: it is fast path too) */
	__u64 ft_bytes4;
	__u64 ft_packets6; /* IPv6 FastTrack (also in packets6/bytes6) */
	__u64 ft_bytes6;
	__u64 pass[FP_PASS_MAX];
};

#define FP_MAX_PORTS 1024

/* fp_ct_key: a fasttracked connection by its original direction's tuple, as conntrack
 * keeps it (an IPv4 address in the first word, the others zero; ports in network
 * order), in fp_ct_counters. */
struct fp_ct_key {
	__u32 saddr[4];
	__u32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 v6;
	__u16 pad;
};

/* fp_ct_val: what the fast path forwarded of one connection, [0] in its original
 * direction and [1] in its reply direction (RouterOS's orig- and repl-fasttrack-packets
 * and -bytes: IP lengths, as conntrack's own counters). */
struct fp_ct_val {
	__u64 packets[2];
	__u64 bytes[2];
};

/* Connections the counters keep at most: the least recently forwarded go first, and
 * control/firewall deletes those conntrack no longer has when it prints. */
#define FP_CT_COUNTERS 65536

#endif
