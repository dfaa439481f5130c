// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* Tunnel dataplane of routerd: GRE (RFC 2784/1701), MikroTik EoIP, IPIP (RFC 2003) and
 * 6to4 (IPv6 in IPv4, protocol 41) without the kernel's tunnel modules.
 *
 * A tunnel interface is a veth pair. The kernel sends what is routed into the tunnel
 * out of the visible end; it arrives at the hidden end, where tun_encap (TC ingress)
 * adds the outer headers and redirects to the underlay. tun_decap (XDP on the underlay,
 * or tun_decap_tc where XDP cannot attach) matches outer headers against tun_rx, strips
 * them and redirects the inner packet to the hidden end, so that it is received on the
 * visible end. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/tunnel.h"
#include "lib/bench.h"
#include "lib/fastpath.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_TEB 0x6558
#define ETH_ALEN 6
#define IPPROTO_IPIP_ 4
#define IPPROTO_TCP_ 6
#define IPPROTO_GRE_ 47
#define IPPROTO_IPV6_ 41
#define IPPROTO_NONE_ 59
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define AF_INET 2
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

#define GRE_C 0x8000
#define GRE_K 0x2000
#define GRE_S 0x1000
#define EOIP_FLAGS 0x2001
#define EOIP_PROTO 0x6400

#define MAX_TUNNELS 4096

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TUNNELS);
	__type(key, __u32);
	__type(value, struct tun_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_TUNNELS);
	__type(key, struct tun_rx_key);
	__type(value, struct tun_rx);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel_rx SEC(".maps");

/* The receive fast path: an inlined array lookup by hash, then the tunnel's slot. A
 * kernel hash map lookup (tunnel_rx) costs several out-of-line calls, which is most of
 * a decapsulation where returns are expensive (retpolines, SRSO). tunnel_rx stays the
 * complete table: wildcard entries and colliding ones are found there. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << TUN_RX_INDEX_BITS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel_rx_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_TUNNELS);
	__type(key, __u32);
	__type(value, struct tun_slot);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel_slots SEC(".maps");

/* Indexed by the slot in tun_cfg/tun_rx: an array lookup is inlined by the JIT, where
 * a hash keyed by ifindex would cost a second hash per packet. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_TUNNELS);
	__type(key, __u32);
	__type(value, struct tun_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tunnel_stats SEC(".maps");

/* Benchmarks only (dataplane/bench_test.go); routerd loads 0, and the verifier removes
 * the code behind a known-constant read-only value, so production pays nothing.
 * BENCH_RESTORE writes the frame's original head (bench_head) back before parsing
 * (lib/bench.h says why); BENCH_DROP also drops where the packet would be redirected,
 * so that the decapsulation is measured without the delivery. */
#define BENCH_RESTORE 1
#define BENCH_DROP 2
#define BENCH_MATCH 3 /* drop right after matching: the parse and lookup alone */
volatile const __u32 bench_mode = 0;
/* Tests only (FuzzDecapFast): 1 turns fast_match off, so that the general path decides
 * every packet. */
volatile const __u32 slow_only = 0;
volatile const __u8 bench_head[BENCH_HEAD] = {};

struct eoiphdr {
	__be16 flags;
	__be16 proto;
	__be16 len;   /* payload length, big-endian */
	__u16 id;     /* tunnel-id, little-endian on the wire */
};

/* carries reports whether a tunnel of this kind carries payloads of this ethertype
 * (EoIP carries Ethernet frames, whatever they hold). */
static __always_inline bool carries(__u32 kind, __be16 ethertype)
{
	switch (kind) {
	case TUN_GRE:
		return ethertype == bpf_htons(ETH_P_IP) || ethertype == bpf_htons(ETH_P_IPV6);
	case TUN_IPIP:
		return ethertype == bpf_htons(ETH_P_IP);
	case TUN_6TO4:
		return ethertype == bpf_htons(ETH_P_IPV6);
	case TUN_EOIP:
		return true;
	}
	return false;
}

static __always_inline struct tun_stats *stats_of(__u32 slot)
{
	return bpf_map_lookup_elem(&tunnel_stats, &slot);
}

static __always_inline void count_drop(struct tun_stats *st, int reason)
{
	if (st && reason >= 0 && reason < TUN_DROP_MAX)
		st->drops[reason]++;
}

static __always_inline __u16 csum_fold32(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* ip_csum computes the checksum of a 20-byte IPv4 header. */
static __always_inline __u16 ip_csum(struct iphdr *ip)
{
	__u16 *w = (__u16 *)ip;
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	return csum_fold32(s);
}

/* csum_replace2 updates a 16-bit ones' complement checksum for one changed word
 * (RFC 1624, eqn. 3). */
static __always_inline void csum_replace2(__u16 *sum, __u16 old, __u16 new)
{
	__u32 s = (__u16)~*sum + (__u16)~old + new;
	*sum = csum_fold32(s);
}

/* mss_opt finds the MSS option of a TCP SYN whose header starts at tcp: MSS is the
 * first option in the SYNs of every common stack, so only that place is looked at.
 * Returns a pointer to the 16-bit value, or NULL. */
static __always_inline __be16 *mss_opt(struct tcphdr *tcp, void *end)
{
	if ((void *)(tcp + 1) > end || !tcp->syn || tcp->doff < 6)
		return NULL;
	__u8 *o = (__u8 *)(tcp + 1);
	if ((void *)(o + 4) > end || o[0] != 2 || o[1] != 4)
		return NULL;
	return (__be16 *)(o + 2);
}

/* inner_tcp returns the TCP header of an IPv4 or IPv6 packet at l3 (no IPv4 options or
 * IPv6 extension headers, as in SYNs), or NULL. */
static __always_inline struct tcphdr *inner_tcp(void *l3, __u16 ethertype, void *end)
{
	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_TCP_ ||
		    (ip->frag_off & bpf_htons(IP_OFFSET)))
			return NULL;
		return (struct tcphdr *)(ip + 1);
	}
	if (ethertype == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP_)
			return NULL;
		return (struct tcphdr *)(ip6 + 1);
	}
	return NULL;
}

/* clamp_mss lowers the MSS of a TCP SYN in a complete packet (checksum fixed
 * incrementally). */
static __always_inline void clamp_mss(void *l3, __u16 ethertype, void *end, __u16 mss4, __u16 mss6)
{
	struct tcphdr *tcp = inner_tcp(l3, ethertype, end);
	if (!tcp)
		return;
	__be16 *m = mss_opt(tcp, end);
	if (!m)
		return;
	__u16 lim = ethertype == bpf_htons(ETH_P_IP) ? mss4 : mss6;
	if (lim == 0 || bpf_ntohs(*m) <= lim)
		return;
	__u16 old = *m, new = bpf_htons(lim);
	*m = new;
	csum_replace2(&tcp->check, old, new);
}

/* ---------------------------------------------------------------- decapsulation */

/* decap_parse is what both decapsulators agree on: it matches the outer headers of an
 * Ethernet frame and says what to do. */
enum {
	DECAP_PASS = 0,  /* not ours: to the stack untouched */
	DECAP_DELIVER,   /* strip hlen bytes after the Ethernet header (EoIP: and it) */
	DECAP_KEEPALIVE, /* a keepalive answer or announcement: count and drop */
	DECAP_REFLECT,   /* a peer's GRE/IPIP keepalive: strip and send back */
	DECAP_SWAP,      /* a peer's 6to4 keepalive: send back with the outer addresses swapped */
	DECAP_DROP,      /* ours but unusable */
};

struct decap {
	struct tun_rx *rx;
	struct tun_stats *st;
	__u32 hlen;       /* outer IP + GRE/EoIP header */
	__u16 ethertype;  /* of the payload (network order); 0 for EoIP */
	__u16 inner_len;  /* EoIP payload length */
	__u8 eoip;
};

/* is_6to4_of says whether a is the 6to4 address 2002:<v4>:: (interface id zero). */
static __always_inline int is_6to4_of(struct in6_addr *a, __be32 v4)
{
	__u16 *w = (__u16 *)&v4;
	return a->in6_u.u6_addr16[0] == bpf_htons(0x2002) && a->in6_u.u6_addr16[1] == w[0] &&
	       a->in6_u.u6_addr16[2] == w[1] &&
	       (a->in6_u.u6_addr16[3] | a->in6_u.u6_addr32[2] | a->in6_u.u6_addr32[3]) == 0;
}

static __always_inline __u32 tun_rx_hash(struct tun_rx_key *k)
{
	__u32 x = k->remote ^ ((__u32)k->id << 16 | (__u32)k->eoip << 8 | k->proto);
	return (x * 0x9E3779B1u) >> (32 - TUN_RX_INDEX_BITS);
}

/* rx_lookup finds the tunnel of a packet: through the index when one tunnel has its
 * hash, else in tunnel_rx, most specific entry first. */
static __always_inline struct tun_rx *rx_lookup(struct tun_rx_key *k)
{
	__u32 h = tun_rx_hash(k);
	__u32 *ix = bpf_map_lookup_elem(&tunnel_rx_index, &h);
	if (ix && *ix) {
		__u32 slot = *ix - 1;
		struct tun_slot *e = bpf_map_lookup_elem(&tunnel_slots, &slot);
		/* remote, then proto, eoip and id as one word; local 0 matches any */
		if (e && e->key.remote == k->remote &&
		    *(__u32 *)&e->key.proto == *(__u32 *)&k->proto &&
		    (e->key.local == 0 || e->key.local == k->local))
			return &e->rx;
	}
	struct tun_rx *rx = bpf_map_lookup_elem(&tunnel_rx, k);
	if (rx)
		return rx;
	__be32 local = k->local;
	k->local = 0;
	if ((rx = bpf_map_lookup_elem(&tunnel_rx, k)))
		return rx;
	k->local = local;
	k->remote = 0;
	if ((rx = bpf_map_lookup_elem(&tunnel_rx, k)))
		return rx;
	k->local = 0;
	return bpf_map_lookup_elem(&tunnel_rx, k);
}

/* decap_parse reads the headers from the linear part [data, end); len is the whole
 * frame's length, which at TC is more than the linear part for GSO and paged packets. */
static __always_inline int decap_parse(void *data, void *end, __u32 len, volatile struct decap *d, int via_esp)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return DECAP_PASS;
	/* Version 4 without options, not a fragment: options and fragments are the
	 * stack's (it reassembles; an option-bearing tunnel packet is rare enough not to be
	 * worth a slow path here). */
	if (*(__u8 *)ip != 0x45 || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return DECAP_PASS;
	__u16 tot = bpf_ntohs(ip->tot_len);
	if (tot < sizeof(*ip) || tot > len - sizeof(*eth))
		return DECAP_PASS;
	/* The outputs are kept in locals and written to d (volatile: kept in memory) once,
	 * after the match. As registers, clang carries every output to a common exit and
	 * sets them all on each early return. */
	struct tun_rx_key k = {.remote = ip->saddr, .local = ip->daddr, .proto = ip->protocol};
	void *p = ip + 1;
	int verdict = DECAP_DELIVER;
	__u32 hlen = sizeof(*ip);
	__u16 ethertype = 0, inner_len = 0;
	__u8 eoip = 0;

	switch (ip->protocol) {
	case IPPROTO_GRE_: {
		__be16 *g = p;
		if ((void *)(g + 2) > end)
			return DECAP_PASS;
		if (g[0] == bpf_htons(EOIP_FLAGS) && g[1] == bpf_htons(EOIP_PROTO)) {
			struct eoiphdr *e = p;
			if ((void *)(e + 1) > end)
				return DECAP_PASS;
			k.eoip = eoip = 1;
			k.id = e->id;
			hlen += sizeof(*e);
			inner_len = bpf_ntohs(e->len);
			if (inner_len == 0)
				verdict = DECAP_KEEPALIVE;
			break;
		}
		/* Version 0 only; routing (R), strict source route and recursion are obsolete
		 * (RFC 2784) and go to the stack. A key is matched: no tunnel here has one, so
		 * keyed packets are not ours. */
		__u16 flags = bpf_ntohs(g[0]);
		if (flags & ~(GRE_C | GRE_S))
			return DECAP_PASS;
		hlen += 4;
		if (flags & GRE_C)
			hlen += 4;
		if (flags & GRE_S)
			hlen += 4;
		if ((void *)ip + hlen > end || hlen > tot)
			return DECAP_PASS;
		ethertype = g[1];
		if (ethertype == 0)
			verdict = DECAP_KEEPALIVE;
		break;
	}
	case IPPROTO_IPIP_:
		ethertype = bpf_htons(ETH_P_IP);
		/* The answer to an IPIP keepalive is a bare IPv4 header. */
		if (tot == sizeof(*ip))
			verdict = DECAP_KEEPALIVE;
		break;
	case IPPROTO_IPV6_:
		ethertype = bpf_htons(ETH_P_IPV6);
		break;
	default:
		return DECAP_PASS;
	}

	struct tun_rx *rx = rx_lookup(&k);
	if (!rx)
		return DECAP_PASS;
	struct tun_stats *st = stats_of(rx->slot);
	/* An IPsec-protected tunnel takes its packets from the ESP path alone, keepalives
	 * included: handing cleartext to the stack instead would reach the require policy's
	 * nftables drop only once a policy exists, so it is dropped here in every state. */
	if (rx->ipsec && !via_esp) {
		count_drop(st, TUN_DROP_CLEARTEXT);
		return DECAP_DROP;
	}
	d->rx = rx;
	d->st = st;
	d->hlen = hlen;
	d->ethertype = ethertype;
	d->inner_len = inner_len;
	d->eoip = eoip;
	if (verdict != DECAP_DELIVER)
		return verdict;

	void *inner = (void *)ip + hlen;
	if (eoip) {
		if (hlen + inner_len > tot || inner_len < sizeof(struct ethhdr)) {
			count_drop(st, TUN_DROP_MALFORMED);
			return DECAP_DROP;
		}
		return DECAP_DELIVER;
	}
	if (!carries(rx->kind, ethertype))
		goto proto;
	/* A keepalive of the peer is a packet of our own protocol addressed back to it
	 * from us: send it back instead of delivering it. */
	if (ethertype == bpf_htons(ETH_P_IP) && ip->protocol != IPPROTO_IPV6_) {
		struct iphdr *in = inner;
		if ((void *)(in + 1) <= end && in->protocol == ip->protocol &&
		    in->saddr == ip->daddr && in->daddr == ip->saddr)
			return DECAP_REFLECT;
	} else if (ip->protocol == IPPROTO_IPV6_) {
		/* 6to4 keepalive (control/tunnel/keepalive.go): an empty IPv6 packet (next
		 * header 59) between the 6to4 addresses 2002:<v4>:: of the two ends. Going
		 * back to its sender it is the answer to ours; going to the peer it is the
		 * peer's, which a 6to4 router would route back into the tunnel. */
		struct ipv6hdr *in6 = inner;
		if ((void *)(in6 + 1) <= end && in6->nexthdr == IPPROTO_NONE_ && in6->payload_len == 0) {
			if (is_6to4_of(&in6->saddr, ip->saddr) && is_6to4_of(&in6->daddr, ip->daddr))
				return DECAP_KEEPALIVE;
			if (is_6to4_of(&in6->saddr, ip->daddr) && is_6to4_of(&in6->daddr, ip->saddr))
				return DECAP_SWAP;
		}
	}
	return DECAP_DELIVER;
proto:
	count_drop(st, TUN_DROP_PROTO);
	return DECAP_DROP;
}

static __always_inline void count_rx(struct tun_stats *st, __u64 bytes)
{
	if (st) {
		st->rx_packets++;
		st->rx_bytes += bytes;
	}
}

/* The packet pointers are reloaded after each head/tail adjustment through these:
 * clang otherwise merges the loads of both into ctx+offset arithmetic, which the
 * verifier rejects. */
static __always_inline void *xdp_data(struct xdp_md *ctx)
{
	void *p;
	asm volatile("%0 = *(u32 *)(%1 + 0)" : "=r"(p) : "r"(ctx));
	return p;
}

static __always_inline void *xdp_end(struct xdp_md *ctx)
{
	void *p;
	asm volatile("%0 = *(u32 *)(%1 + 4)" : "=r"(p) : "r"(ctx));
	return p;
}

/* swap_outer turns a 6to4 keepalive of the peer around: Ethernet and IPv4 addresses
 * swapped (the IPv4 checksum does not change), the inner packet left as it is. */
static __always_inline void swap_outer(struct ethhdr *eth, struct iphdr *ip)
{
	__u8 mac[ETH_ALEN];
	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	__be32 a = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = a;
}

/* fast_match is tun_decap's match for what a tunnel carries in the common case: a
 * plain GRE header (no C/K/S bits) with an IPv4 or IPv6 payload, EoIP with a payload
 * and no Ethernet padding, IPIP and 6to4, found through the index, on a tunnel without
 * MSS clamping. It decides in few instructions and only then calls anything (the
 * strip): where returns are expensive (retpolines, SRSO), a helper or subprogram call
 * costs as much as the whole match. Everything else, keepalives included, gets NULL
 * with the packet untouched, and decap_slow decides as for every packet before: a
 * packet fast_match takes is one decap_parse would deliver the same way (FuzzDecapFast
 * compares the two). On a match, *se is what to strip behind the Ethernet header (low
 * 16 bits) and the payload's ethertype (high 16 bits; 0: EoIP, whose frame replaces
 * the Ethernet header), packed so that ctx, the packet, the key and se are all that
 * live across the two lookups: clang counts them as calls (the verifier inlines them)
 * and keeps only r6-r9 across a call, so any fifth value would go to the stack. */
static __always_inline struct tun_slot *fast_match(void *data, void *end, __u32 *se)
{
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	/* 48 bytes: the outer headers and the first bytes of the inner packet, which
	 * every kind looks at (a keepalive's inner header). */
	if (data + 48 > end || eth->h_proto != bpf_htons(ETH_P_IP) || *(__u8 *)ip != 0x45 ||
	    (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
		return NULL;
	/* sizeof(*ip) <= tot <= the frame's length behind the Ethernet header, as one
	 * unsigned comparison. */
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (tot - sizeof(*ip) > (__u32)(end - data) - sizeof(*eth) - sizeof(*ip))
		return NULL;
	__u8 proto = ip->protocol;
	void *inner = ip + 1;
	/* key: proto | eoip << 8 | id << 16, tun_rx_key's last word. */
	__u32 key = proto, s;
	if (proto == IPPROTO_GRE_) {
		__u32 g = *(__u32 *)inner;
		if (g == bpf_htonl(ETH_P_IP)) {
			/* A peer's keepalive carries GRE inside (DECAP_REFLECT). */
			if (((struct iphdr *)(inner + 4))->protocol == IPPROTO_GRE_)
				return NULL;
			s = (__u32)bpf_htons(ETH_P_IP) << 16 | (sizeof(*ip) + 4);
		} else if (g == bpf_htonl(ETH_P_IPV6)) {
			s = (__u32)bpf_htons(ETH_P_IPV6) << 16 | (sizeof(*ip) + 4);
		} else if (g == bpf_htonl(EOIP_FLAGS << 16 | EOIP_PROTO)) {
			struct eoiphdr *e = inner;
			__u32 len = bpf_ntohs(e->len);
			/* No keepalive (length 0), no padding, nothing shorter than a frame. */
			if (len < sizeof(struct ethhdr) || sizeof(*ip) + sizeof(*e) + len != tot ||
			    sizeof(*eth) + tot != (__u32)(end - data))
				return NULL;
			key |= 1 << 8 | (__u32)e->id << 16;
			s = sizeof(*ip) + sizeof(*e) + sizeof(struct ethhdr);
		} else {
			return NULL;
		}
		/* EoIP's length check covers its header; GRE's is 24 bytes. */
		if (tot < sizeof(*ip) + 4)
			return NULL;
	} else if (proto == IPPROTO_IPIP_) {
		/* Not a bare header (keepalive answer), not IPIP inside (keepalive). */
		if (tot == sizeof(*ip) || ((struct iphdr *)inner)->protocol == IPPROTO_IPIP_)
			return NULL;
		s = (__u32)bpf_htons(ETH_P_IP) << 16 | sizeof(*ip);
	} else if (proto == IPPROTO_IPV6_) {
		/* 6to4 keepalives are empty IPv6 packets (next header 59). */
		if (((struct ipv6hdr *)inner)->nexthdr == IPPROTO_NONE_)
			return NULL;
		s = (__u32)bpf_htons(ETH_P_IPV6) << 16 | sizeof(*ip);
	} else {
		return NULL;
	}

	__u32 h = ((ip->saddr ^ key) * 0x9E3779B1u) >> (32 - TUN_RX_INDEX_BITS);
	__u32 *ix = bpf_map_lookup_elem(&tunnel_rx_index, &h);
	if (!ix)
		return NULL;
	/* No tunnel (0) becomes slot 0xffffffff, which the array lookup's own bounds
	 * check turns into NULL: no branch of its own. */
	__u32 slot = *ix - 1;
	struct tun_slot *e = bpf_map_lookup_elem(&tunnel_slots, &slot);
	/* The addresses are read from the packet again rather than kept in registers
	 * (see above). The key decides the kind (dataplane rxKey: 47 is GRE, 47 with eoip
	 * EoIP, 4 IPIP, 41 6to4), so the kind needs no check of its own. */
	if (!e || e->key.remote != ip->saddr || *(__u32 *)&e->key.proto != key ||
	    (e->key.local != 0 && e->key.local != ip->daddr) || e->rx.clamp || e->rx.ipsec)
		return NULL;
	*se = s;
	return e;
}

/* decap_slow is tun_decap for everything fast_match does not take. A subprogram, not
 * inlined: its register pressure would otherwise spill fast-path values to the stack
 * (clang allocates registers for the whole function), and its call costs only packets
 * that are rare (keepalives, GRE options, clamping, wildcard or colliding tunnels). */
static __noinline int fp_forward_decap(struct xdp_md *ctx, __u32 vis);

/* eoip_to_vis says whether the Ethernet frame at eth that an EoIP tunnel carried is an
 * IPv4 or IPv6 packet addressed to the tunnel interface itself (vis_mac): a routed EoIP
 * tunnel's, which the fast path may forward as if received there. The tunnel engine
 * allows the fast path only on EoIP tunnels that are no bridge port; a bridged one's
 * frames go to the bridge (see control/fastpath's doc.go). */
static __always_inline int eoip_to_vis(struct ethhdr *eth, void *end, __u8 *vis_mac)
{
	if ((void *)(eth + 1) > end)
		return 0;
	if (*(__u32 *)eth->h_dest != *(__u32 *)vis_mac || *(__u16 *)(eth->h_dest + 4) != *(__u16 *)(vis_mac + 4))
		return 0;
	return eth->h_proto == bpf_htons(ETH_P_IP) || eth->h_proto == bpf_htons(ETH_P_IPV6);
}

/* With fwd (the port program), an L3 payload of a tunnel with allow-fast-path (or a
 * routed EoIP tunnel's IP packet) is forwarded in the same pass where the fast path can
 * take it, as in decap_deliver. */
static __noinline int decap_slow(struct xdp_md *ctx, int fwd)
{
	void *data = xdp_data(ctx), *end = xdp_end(ctx);
	volatile struct decap d;
	int v = decap_parse(data, end, end - data, &d, 0);
	if (bench_mode == BENCH_MATCH)
		return v == DECAP_PASS ? XDP_PASS : XDP_DROP;

	switch (v) {
	case DECAP_PASS:
		return XDP_PASS;
	case DECAP_DROP:
		return XDP_DROP;
	case DECAP_KEEPALIVE:
		if (d.st)
			d.st->keepalive_rx++;
		return XDP_DROP;
	case DECAP_SWAP:
		/* decap_parse checked both headers against end. */
		swap_outer(data, data + sizeof(struct ethhdr));
		if (d.st)
			d.st->keepalive_reflected++;
		return XDP_TX;
	}

	/* Only a reflection needs the outer MACs, which adjust_head moves out of reach. */
	struct ethhdr old;
	if (v == DECAP_REFLECT)
		__builtin_memcpy(&old, data, sizeof(old));
	struct tun_rx *rx = d.rx;
	struct tun_stats *st = d.st;
	__u16 ethertype = d.ethertype;
	__u32 strip = d.hlen + (d.eoip ? sizeof(struct ethhdr) : 0);
	if (bpf_xdp_adjust_head(ctx, strip)) {
		count_drop(st, TUN_DROP_ADJUST);
		return XDP_DROP;
	}
	data = xdp_data(ctx);
	end = xdp_end(ctx);
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;

	if (v == DECAP_REFLECT) {
		__builtin_memcpy(eth->h_dest, old.h_source, ETH_ALEN);
		__builtin_memcpy(eth->h_source, old.h_dest, ETH_ALEN);
		eth->h_proto = bpf_htons(ETH_P_IP);
		if (st)
			st->keepalive_reflected++;
		return XDP_TX;
	}
	if (d.eoip) {
		/* Ethernet padding of the underlay frame is not part of the payload. */
		__u32 flen = end - data;
		if (flen > d.inner_len && flen - d.inner_len < 64) {
			bpf_xdp_adjust_tail(ctx, -(int)(flen - d.inner_len));
			data = xdp_data(ctx);
			end = xdp_end(ctx);
			eth = data;
			if ((void *)(eth + 1) > end)
				return XDP_DROP;
		}
		if (rx->clamp)
			clamp_mss(eth + 1, eth->h_proto, end, rx->mss4, rx->mss6);
	} else {
		__builtin_memcpy(eth->h_dest, rx->peer_mac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, rx->own_mac, ETH_ALEN);
		eth->h_proto = ethertype;
		if (rx->clamp)
			clamp_mss(eth + 1, ethertype, end, rx->mss4, rx->mss6);
	}
	count_rx(st, end - data);
	if (bench_mode == BENCH_DROP)
		return XDP_DROP;
	if (fwd && rx->fast && (!d.eoip || eoip_to_vis(eth, end, rx->peer_mac))) {
		int v = fp_forward_decap(ctx, rx->vis_ifindex);
		if (v >= 0)
			return v;
	}
	return bpf_redirect(rx->ifindex, 0);
}

/* ---------------------------------------------------------------- fast path */

/* xdp_ports: the ports that run xdp_port, by ifindex, with their roles. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct fp_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} xdp_ports SEC(".maps");

/* fp_tx: where the fast path may send, the fast path ports (a redirect into an
 * interface without it would skip whatever the kernel does there). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_tx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, struct fp_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_counters SEC(".maps");

/* The router's own IPv4 addresses (control/fastpath keeps them, lib/fastpath.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_local);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_local SEC(".maps");

/* fp_srcv: by input ifindex, how the kernel validates sources there (enum fp_srcv_mode);
 * looked up only while fp_cfg says it has entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4 * FP_MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_srcv SEC(".maps");

/* fp_ct_counters: per connection, what FastTrack forwarded (fp_ct_val), read by
 * /ip firewall connection print as orig- and repl-fasttrack-packets and -bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, FP_CT_COUNTERS);
	__type(key, struct fp_ct_key);
	__type(value, struct fp_ct_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} fp_ct_counters SEC(".maps");

/* fp_ct_scratch: where fp_ft_lookup leaves the connection's key for ft_count, and a
 * zero value to start its counters from (the stack has no room for either). */
struct fp_ct_scratch {
	struct fp_ct_key key;
	struct fp_ct_val zero;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fp_ct_scratch);
} fp_ct_scratch SEC(".maps");

#define AF_INET6 10
#define NEXTHDR_HOP 0

/* The conntrack kfuncs FastTrack uses. */
struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *, struct bpf_sock_tuple *, __u32, struct bpf_ct_opts *,
				  __u32) __ksym;
void bpf_ct_release(struct nf_conn *) __ksym;
int bpf_ct_change_timeout(struct nf_conn *, __u32) __ksym;

#define IPPROTO_UDP_ 17
#define TCP_CONNTRACK_ESTABLISHED_ 3
#define IPS_CONFIRMED_ 8

/* ft is a fasttracked packet's translation: its addresses (IPv4: the first word) and
 * ports after the connection's NAT (as the conntrack entry's other direction says), and
 * which L4 checksum it has. */
struct ft {
	__be32 saddr[4], daddr[4];
	__be16 sport, dport;
	__u16 l4sum; /* FT_TCP, FT_UDP (with a checksum) or 0 (UDP without one) */
	__u16 dir;   /* the packet's direction: 0 original, 1 reply (its connection's key
		      * is in fp_ct_scratch) */
};

#define FT_TCP 1
#define FT_UDP 2

/* fp_ft_lookup finds the conntrack entry of a TCP or UDP packet (IPv4 without options,
 * not a fragment; IPv6 with the transport header next) whose transport header is at l4,
 * the tuple filled in tup, and fills *ft when the connection is fasttracked (ct mark bit
 * FP_FASTTRACK_MARK), confirmed and, for TCP, established, and the packet is no SYN, FIN
 * or RST (the stack sees those, so conntrack follows the connection's end). The entry's
 * timeout is refreshed as the kernel would on a packet. Returns 0 when fasttracked. */
static __always_inline int fp_ft_lookup(struct xdp_md *ctx, struct bpf_sock_tuple *tup, int v6, __u8 proto,
					void *l4, void *end, struct ft *ft, struct fp_cfg *cfg)
{
	__be16 *ports = l4;
	__u32 timeout;
	if (proto == IPPROTO_TCP_) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > end || tcp->syn || tcp->fin || tcp->rst)
			return -1;
		ft->l4sum = FT_TCP;
		/* The namespace's nf_conntrack_tcp_timeout_established, as control/fastpath
		 * read it; the kernel's default when it has not said. */
		timeout = cfg && cfg->tcp_timeout ? cfg->tcp_timeout : 432000000;
	} else if (proto == IPPROTO_UDP_) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > end)
			return -1;
		ft->l4sum = udp->check ? FT_UDP : 0;
		timeout = cfg && cfg->udp_timeout ? cfg->udp_timeout : 120000; /* ..._udp_timeout_stream */
	} else {
		return -1;
	}
	if ((void *)(ports + 2) > end)
		return -1;
	struct bpf_ct_opts opts = {.netns_id = -1, .l4proto = proto};
	struct nf_conn *ct;
	if (v6) {
		tup->ipv6.sport = ports[0];
		tup->ipv6.dport = ports[1];
		ct = bpf_xdp_ct_lookup(ctx, tup, sizeof(tup->ipv6), &opts, sizeof(opts));
	} else {
		tup->ipv4.sport = ports[0];
		tup->ipv4.dport = ports[1];
		ct = bpf_xdp_ct_lookup(ctx, tup, sizeof(tup->ipv4), &opts, sizeof(opts));
	}
	if (!ct)
		return -1;
	int ok = (ct->mark & FP_FASTTRACK_MARK) && (ct->status & IPS_CONFIRMED_) &&
		 (proto != IPPROTO_TCP_ || ct->proto.tcp.state == TCP_CONNTRACK_ESTABLISHED_);
	if (ok) {
		/* The other direction's tuple, reversed, is this packet after NAT. */
		struct nf_conntrack_tuple *o = opts.dir ? &ct->tuplehash[0].tuple : &ct->tuplehash[1].tuple;
		__builtin_memcpy(ft->saddr, o->dst.u3.all, 16);
		__builtin_memcpy(ft->daddr, o->src.u3.all, 16);
		ft->sport = o->dst.u.all;
		ft->dport = o->src.u.all;
		ft->dir = opts.dir ? 1 : 0;
		__u32 z = 0;
		struct fp_ct_scratch *sc = bpf_map_lookup_elem(&fp_ct_scratch, &z);
		if (sc) {
			struct nf_conntrack_tuple *t = &ct->tuplehash[0].tuple;
			__builtin_memcpy(sc->key.saddr, t->src.u3.all, 16);
			__builtin_memcpy(sc->key.daddr, t->dst.u3.all, 16);
			sc->key.sport = t->src.u.all;
			sc->key.dport = t->dst.u.all;
			sc->key.proto = proto;
			sc->key.v6 = v6;
			sc->key.pad = 0;
		}
		bpf_ct_change_timeout(ct, timeout);
	}
	bpf_ct_release(ct);
	return ok ? 0 : -1;
}

/* ft_count adds a forwarded packet of len bytes to its connection's counters (the key
 * fp_ft_lookup left in fp_ct_scratch). */
static __always_inline void ft_count(struct ft *ft, __u32 len)
{
	__u32 z = 0;
	struct fp_ct_scratch *sc = bpf_map_lookup_elem(&fp_ct_scratch, &z);
	if (!sc)
		return;
	struct fp_ct_val *v = bpf_map_lookup_elem(&fp_ct_counters, &sc->key);
	if (!v) {
		bpf_map_update_elem(&fp_ct_counters, &sc->key, &sc->zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&fp_ct_counters, &sc->key);
		if (!v)
			return;
	}
	__u32 d = ft->dir & 1;
	__sync_fetch_and_add(&v->packets[d], 1);
	__sync_fetch_and_add(&v->bytes[d], len);
}

/* csum_replace4 updates a ones' complement checksum for a changed 32-bit word. */
static __always_inline void csum_replace4(__u16 *sum, __be32 old, __be32 new)
{
	csum_replace2(sum, old >> 16, new >> 16);
	csum_replace2(sum, old & 0xffff, new & 0xffff);
}

/* ft_l4sum finds the L4 checksum ft says the packet has, its transport header at l4. */
static __always_inline __u16 *ft_l4sum(void *l4, void *end, struct ft *ft)
{
	if (ft->l4sum == FT_TCP) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) <= end)
			return &tcp->check;
	} else if (ft->l4sum == FT_UDP) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) <= end)
			return &udp->check;
	}
	return NULL;
}

/* ft_ports rewrites the ports at l4 as ft says, the L4 checksum l4sum updated. */
static __always_inline void ft_ports(__be16 *ports, void *end, __u16 *l4sum, struct ft *ft)
{
	if ((void *)(ports + 2) > end)
		return;
	if (ports[0] != ft->sport) {
		if (l4sum)
			csum_replace2(l4sum, ports[0], ft->sport);
		ports[0] = ft->sport;
	}
	if (ports[1] != ft->dport) {
		if (l4sum)
			csum_replace2(l4sum, ports[1], ft->dport);
		ports[1] = ft->dport;
	}
}

/* ft_apply rewrites the IPv4 packet at ip as ft says, checksums updated incrementally
 * (the L4 checksum covers the addresses through the pseudo header). */
static __always_inline void ft_apply(struct iphdr *ip, void *end, struct ft *ft)
{
	__u16 *l4sum = ft_l4sum(ip + 1, end, ft);
	if (ip->saddr != ft->saddr[0]) {
		csum_replace4(&ip->check, ip->saddr, ft->saddr[0]);
		if (l4sum)
			csum_replace4(l4sum, ip->saddr, ft->saddr[0]);
		ip->saddr = ft->saddr[0];
	}
	if (ip->daddr != ft->daddr[0]) {
		csum_replace4(&ip->check, ip->daddr, ft->daddr[0]);
		if (l4sum)
			csum_replace4(l4sum, ip->daddr, ft->daddr[0]);
		ip->daddr = ft->daddr[0];
	}
	ft_ports((void *)(ip + 1), end, l4sum, ft);
}

/* ft_apply6 is ft_apply for IPv6 (no header checksum; addresses are four words). */
static __always_inline void ft_apply6(struct ipv6hdr *ip6, void *end, struct ft *ft)
{
	__u16 *l4sum = ft_l4sum(ip6 + 1, end, ft);
	__be32 *sa = ip6->saddr.in6_u.u6_addr32, *da = ip6->daddr.in6_u.u6_addr32;
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (sa[i] != ft->saddr[i]) {
			if (l4sum)
				csum_replace4(l4sum, sa[i], ft->saddr[i]);
			sa[i] = ft->saddr[i];
		}
		if (da[i] != ft->daddr[i]) {
			if (l4sum)
				csum_replace4(l4sum, da[i], ft->daddr[i]);
			da[i] = ft->daddr[i];
		}
	}
	ft_ports((void *)(ip6 + 1), end, l4sum, ft);
}

/* l4_partial says whether the TCP or UDP checksum at l4 holds only the pseudo header's
 * sum psum (folded, not complemented), which is what a sender with checksum offload
 * leaves for the device (a CHECKSUM_PARTIAL skb: veth, tap). XDP cannot see ip_summed,
 * and a frame redirected from XDP reaches the receiver with that incomplete checksum;
 * the stack completes it. A complete checksum that happens to equal it only costs the
 * packet the slow path. */
static __always_inline int l4_partial(__u32 psum, __u8 proto, void *l4, void *end)
{
	__u16 check;
	if (proto == IPPROTO_TCP_) {
		struct tcphdr *tcp = l4;
		if ((void *)(tcp + 1) > end)
			return 0;
		check = tcp->check;
	} else if (proto == IPPROTO_UDP_) {
		struct udphdr *udp = l4;
		if ((void *)(udp + 1) > end)
			return 0;
		check = udp->check;
	} else {
		return 0;
	}
	__u16 f = ~csum_fold32(psum);
	return check == f || (f == 0xffff && check == 0);
}

static __always_inline int fp_pass(struct fp_stats *st, int reason)
{
	if (st && reason >= 0 && reason < FP_PASS_MAX)
		st->pass[reason]++;
	return -1;
}

/* l4_ports reads what the kernel's flow dissector takes as a packet's ports (the
 * multipath hash of fib_multipath_hash_policy 1 covers them): the first four bytes of the
 * transport header for TCP, UDP, UDP-Lite, DCCP, SCTP and ESP, bytes 4-7 for AH, nothing
 * for other protocols (and for fragments, which the caller leaves out). */
static __always_inline void l4_ports(struct bpf_fib_lookup *fib, __u8 proto, void *l4, void *end)
{
	__u32 off;
	switch (proto) {
	case 6: case 17: case 33: case 50: case 132: case 136:
		off = 0;
		break;
	case 51:
		off = 4;
		break;
	default:
		return;
	}
	__be16 *pp = l4 + off;
	if ((void *)(pp + 2) > end)
		return;
	fib->sport = pp[0];
	fib->dport = pp[1];
}

/* fp_src_ok says whether the kernel would take saddr as the source of a packet that came
 * in on in and leaves by out, as fib_validate_source decides: without rp_filter only that
 * it is none of ours (fp_local), unless accept_local; with rp_filter (or custom routing
 * rules) the route back to the source must be unicast and, for strict rp_filter, leave by
 * in. The route back is looked up as the kernel does, from out. Anything else (a route
 * back through another of several next hops, a local or unreachable one) is left to the
 * stack, which decides. */
static __always_inline int fp_src_ok(struct xdp_md *ctx, __u32 on, __u32 in, __u32 out, __be32 saddr,
				     __be32 daddr, __u8 tos)
{
	__u32 mode = 0;
	if (on & FP_SRCV) {
		__u32 *m = bpf_map_lookup_elem(&fp_srcv, &in);
		if (m)
			mode = *m;
	}
	if (!(mode & FP_SRCV_ACCEPT_LOCAL)) {
		__u32 k = 0;
		struct fp_local *l = bpf_map_lookup_elem(&fp_local, &k);
		__u32 h = FP_LOCAL_HASH(saddr);
		if (l && (l->bits[(h >> 6) & (FP_LOCAL_WORDS - 1)] >> (h & 63)) & 1)
			return 0;
	}
	if (!(mode & (FP_SRCV_STRICT | FP_SRCV_LOOSE | FP_SRCV_FULL)))
		return 1;
	struct bpf_fib_lookup r = {};
	r.family = AF_INET;
	r.tos = tos;
	r.ipv4_src = daddr;
	r.ipv4_dst = saddr;
	r.ifindex = out;
	long rc = bpf_fib_lookup(ctx, &r, sizeof(r), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return 0;
	return !(mode & FP_SRCV_STRICT) || r.ifindex == in;
}

/* icmp_error says whether an ICMP (v4: proto 1) or ICMPv6 (58) message at l4 is an error,
 * which the kernel's multipath hash takes from the packet quoted inside. */
static __always_inline int icmp_error(__u8 proto, void *l4, void *end)
{
	__u8 *type = l4;
	if ((void *)(type + 1) > end)
		return 0;
	if (proto == 1)
		return *type == 3 || *type == 4 || *type == 5 || *type == 11 || *type == 12;
	if (proto == 58)
		return *type < 128;
	return 0;
}

/* fp_route forwards the frame at [data, end), an IPv4 or IPv6 packet behind an
 * Ethernet header, that arrived on ifindex in: the kernel's FIB and neighbour table
 * decide (bpf_fib_lookup, with the packet's length so that the route MTU is checked),
 * the TTL or hop limit is decremented (IPv4 checksum updated incrementally, RFC 1624,
 * as ip_decrease_ttl does), the MACs rewritten, and the frame redirected through
 * fp_tx. Returns the XDP verdict, or -1 (counted in st->pass) to leave the frame to
 * the stack untouched. */
static __always_inline int fp_route(struct xdp_md *ctx, __u32 in, struct fp_stats *st)
{
	void *data = xdp_data(ctx), *end = xdp_end(ctx);
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return fp_pass(st, FP_PASS_NOT_IP);
	__u32 k = 0;
	struct fp_cfg *cfg = bpf_map_lookup_elem(&fp_config, &k);
	__u32 on = cfg ? cfg->flags : 0;
	struct bpf_fib_lookup fib = {};
	fib.ifindex = in;
	struct iphdr *ip = (void *)(eth + 1);
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	__u32 len;
	struct ft ft = {};
	int fasttrack = 0;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		if ((void *)(ip + 1) > end)
			return fp_pass(st, FP_PASS_NOT_IP);
		if (!(on & (FP_ON4 | FP_FT4)))
			return fp_pass(st, FP_PASS_OFF);
		__u8 vihl = *(__u8 *)ip;
		if (vihl != 0x45) {
			if ((vihl >> 4) != 4)
				return fp_pass(st, FP_PASS_NOT_IP);
			return fp_pass(st, (vihl & 0xf) < 5 ? FP_PASS_MALFORMED : FP_PASS_OPTIONS);
		}
		/* What ip_rcv_core drops: a length outside [header, frame], a bad checksum. */
		len = bpf_ntohs(ip->tot_len);
		if (len < sizeof(*ip) || len > (__u32)(end - (void *)ip) || ip_csum(ip))
			return fp_pass(st, FP_PASS_MALFORMED);
		/* Martian sources (0/8, loopback, multicast, limited broadcast) and
		 * destinations (0/8, loopback) that ip_route_input drops. */
		__u8 s0 = ((__u8 *)&ip->saddr)[0], d0 = ((__u8 *)&ip->daddr)[0];
		if (s0 == 0 || s0 == 127 || (s0 & 0xf0) == 0xe0 || ip->saddr == 0xffffffff || d0 == 0 || d0 == 127)
			return fp_pass(st, FP_PASS_MARTIAN);
		/* Multicast and limited broadcast are not routed by the FIB. */
		if ((d0 & 0xf0) == 0xe0 || ip->daddr == 0xffffffff)
			return fp_pass(st, FP_PASS_LOCAL);
		if (ip->ttl <= 1)
			return fp_pass(st, FP_PASS_TTL);
		if (!(ip->frag_off & bpf_htons(IP_OFFSET))) {
			__u32 ps = (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16) +
				   bpf_htons((__u16)ip->protocol) + bpf_htons((__u16)(len - sizeof(*ip)));
			if (l4_partial(ps, ip->protocol, ip + 1, end))
				return fp_pass(st, FP_PASS_CSUM_PARTIAL);
		}
		if (icmp_error(ip->protocol, ip + 1, end))
			return fp_pass(st, FP_PASS_ICMP_ERROR);
		fib.family = AF_INET;
		fib.tos = ip->tos;
		fib.l4_protocol = ip->protocol;
		fib.tot_len = len;
		fib.ipv4_src = ip->saddr;
		fib.ipv4_dst = ip->daddr;
		if (!(ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)))
			l4_ports(&fib, ip->protocol, ip + 1, end);
		if (!(on & FP_ON4)) {
			/* A firewall rule could see the packet: only a fasttracked connection's
			 * may pass it by. The kernel routes it after prerouting's destination NAT
			 * and before postrouting's source NAT: by its source address and port as
			 * received, its destination's as translated. */
			if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
				return fp_pass(st, FP_PASS_NOT_FT);
			struct bpf_sock_tuple tup = {};
			tup.ipv4.saddr = ip->saddr;
			tup.ipv4.daddr = ip->daddr;
			if (fp_ft_lookup(ctx, &tup, 0, ip->protocol, ip + 1, end, &ft, cfg))
				return fp_pass(st, FP_PASS_NOT_FT);
			fasttrack = 1;
			fib.ipv4_dst = ft.daddr[0];
			if (fib.dport)
				fib.dport = ft.dport;
		}
		ip6 = NULL;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		if ((void *)(ip6 + 1) > end || ip6->version != 6)
			return fp_pass(st, FP_PASS_NOT_IP);
		if (!(on & (FP_ON6 | FP_FT6)))
			return fp_pass(st, FP_PASS_OFF);
		if (ip6->nexthdr == NEXTHDR_HOP)
			return fp_pass(st, FP_PASS_OPTIONS);
		/* What ip6_rcv_core drops: a payload longer than the frame, source :: or
		 * multicast, loopback either way (destination :: is routed nowhere). */
		__u32 plen = bpf_ntohs(ip6->payload_len);
		if (plen > (__u32)(end - (void *)(ip6 + 1)))
			return fp_pass(st, FP_PASS_MALFORMED);
		__u32 *sa = ip6->saddr.in6_u.u6_addr32, *da = ip6->daddr.in6_u.u6_addr32;
		int s_low = !(sa[0] | sa[1] | sa[2]) && (sa[3] == 0 || sa[3] == bpf_htonl(1));
		int d_low = !(da[0] | da[1] | da[2]) && (da[3] == 0 || da[3] == bpf_htonl(1));
		if (s_low || d_low || ip6->saddr.in6_u.u6_addr8[0] == 0xff)
			return fp_pass(st, FP_PASS_MARTIAN);
		if (ip6->hop_limit <= 1)
			return fp_pass(st, FP_PASS_TTL);
		{
			__u32 ps = bpf_htons((__u16)plen) + bpf_htons((__u16)ip6->nexthdr);
#pragma unroll
			for (int i = 0; i < 8; i++)
				ps += ip6->saddr.in6_u.u6_addr16[i] + ip6->daddr.in6_u.u6_addr16[i];
			if (l4_partial(ps, ip6->nexthdr, ip6 + 1, end))
				return fp_pass(st, FP_PASS_CSUM_PARTIAL);
		}
		/* Multicast (ff00::/8) and link-local (fe80::/10) stay on their link. */
		__u16 d = bpf_ntohs(ip6->daddr.in6_u.u6_addr16[0]), s = bpf_ntohs(ip6->saddr.in6_u.u6_addr16[0]);
		if ((d >> 8) == 0xff || (d & 0xffc0) == 0xfe80 || (s & 0xffc0) == 0xfe80)
			return fp_pass(st, FP_PASS_LOCAL);
		if (icmp_error(ip6->nexthdr, ip6 + 1, end))
			return fp_pass(st, FP_PASS_ICMP_ERROR);
		l4_ports(&fib, ip6->nexthdr, ip6 + 1, end);
		len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		fib.family = AF_INET6;
		fib.flowinfo = *(__be32 *)ip6 & bpf_htonl(0x0FFFFFFF);
		fib.l4_protocol = ip6->nexthdr;
		fib.tot_len = len;
		__builtin_memcpy(fib.ipv6_src, &ip6->saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, &ip6->daddr, 16);
		if (!(on & FP_ON6)) {
			/* As for IPv4: only a fasttracked connection's packets pass the firewall
			 * by, routed by the destination after NAT. */
			struct bpf_sock_tuple tup = {};
			__builtin_memcpy(tup.ipv6.saddr, &ip6->saddr, 16);
			__builtin_memcpy(tup.ipv6.daddr, &ip6->daddr, 16);
			if (fp_ft_lookup(ctx, &tup, 1, ip6->nexthdr, ip6 + 1, end, &ft, cfg))
				return fp_pass(st, FP_PASS_NOT_FT);
			fasttrack = 1;
			__builtin_memcpy(fib.ipv6_dst, ft.daddr, 16);
			if (fib.dport)
				fib.dport = ft.dport;
		}
		ip = NULL;
	} else {
		return fp_pass(st, FP_PASS_NOT_IP);
	}

	/* The lookup writes the next hop over ipv4_dst and the route's metric over tos. */
	__be32 src4 = fib.ipv4_src, dst4 = fib.ipv4_dst;
	__u8 tos4 = fib.tos;
	long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_NOT_FWDED:
		return fp_pass(st, FP_PASS_LOCAL);
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		return fp_pass(st, FP_PASS_MTU);
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return fp_pass(st, FP_PASS_NO_NEIGH);
	default:
		return fp_pass(st, FP_PASS_NO_ROUTE);
	}
	__u32 out = fib.ifindex;
	/* Out of the port it came in on, the kernel would also tell the sender of the
	 * better next hop (ICMP redirect). */
	if (out == in)
		return fp_pass(st, FP_PASS_REDIRECT);
	if (!bpf_map_lookup_elem(&fp_tx, &out))
		return fp_pass(st, FP_PASS_EGRESS);
	if (fib.family == AF_INET && !fp_src_ok(ctx, on, in, out, src4, dst4, tos4))
		return fp_pass(st, FP_PASS_MARTIAN);

	/* The helper call may have moved nothing, but the verifier forgets the bounds. */
	data = xdp_data(ctx);
	end = xdp_end(ctx);
	eth = data;
	if (data + sizeof(*eth) + sizeof(struct ipv6hdr) > end) {
		/* An IPv4 packet shorter than an IPv6 header: check its own size. */
		ip = data + sizeof(*eth);
		if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
			return fp_pass(st, FP_PASS_NOT_IP);
		ip6 = NULL;
	} else if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		ip = data + sizeof(*eth);
		ip6 = NULL;
	} else {
		ip6 = data + sizeof(*eth);
		ip = NULL;
	}
	if (fasttrack)
		ft_count(&ft, len);
	if (ip) {
		if (fasttrack)
			ft_apply(ip, end, &ft);
		__u32 check = ip->check;
		check += bpf_htons(0x0100);
		ip->check = (__u16)(check + (check >= 0xFFFF));
		ip->ttl--;
		if (st) {
			st->packets4++;
			st->bytes4 += len;
			if (fasttrack) {
				st->ft_packets4++;
				st->ft_bytes4 += len;
			}
		}
	} else if (ip6) {
		if (fasttrack)
			ft_apply6(ip6, end, &ft);
		ip6->hop_limit--;
		if (st) {
			st->packets6++;
			st->bytes6 += len;
			if (fasttrack) {
				st->ft_packets6++;
				st->ft_bytes6 += len;
			}
		}
	}
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect_map(&fp_tx, out, 0);
}

/* fp_forward is the fast path of a frame received on port p (ifindex in): only frames
 * addressed to the port's MAC are routed (the stack drops the others as not ours). */
static __noinline int fp_forward(struct xdp_md *ctx, __u32 in, struct fp_port *p)
{
	__u32 slot = p->slot;
	struct fp_stats *st = bpf_map_lookup_elem(&fp_counters, &slot);
	void *data = xdp_data(ctx), *end = xdp_end(ctx);
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	if (*(__u32 *)eth->h_dest != *(__u32 *)p->mac || *(__u16 *)(eth->h_dest + 4) != *(__u16 *)(p->mac + 4))
		return fp_pass(st, FP_PASS_NOT_IP);
	return fp_route(ctx, in, st);
}

/* fp_forward_decap is the fast path of a tunnel's payload, as if received on the
 * tunnel interface vis; counted at the underlay port's slot, else at slot 0. */
static __noinline int fp_forward_decap(struct xdp_md *ctx, __u32 vis)
{
	__u32 in = ctx->ingress_ifindex;
	struct fp_port *p = bpf_map_lookup_elem(&xdp_ports, &in);
	__u32 slot = p ? p->slot : 0;
	struct fp_stats *st = bpf_map_lookup_elem(&fp_counters, &slot);
	return fp_route(ctx, vis, st);
}

/* decap_deliver is what decap_slow does for DECAP_DELIVER without clamping, in one
 * helper call, for a tunnel fast_match found. With fwd (the port program), an L3
 * payload of a tunnel with allow-fast-path is forwarded in the same pass where the fast
 * path can take it (decap-and-forward), as if received on the tunnel interface. */
static __always_inline int decap_deliver(struct xdp_md *ctx, struct tun_slot *e, __u32 se, int fwd)
{
	__u32 sslot = e->rx.slot;
	struct tun_stats *st = bpf_map_lookup_elem(&tunnel_stats, &sslot);
	if (bpf_xdp_adjust_head(ctx, se & 0xffff)) {
		count_drop(st, TUN_DROP_ADJUST);
		return XDP_DROP;
	}
	void *data = xdp_data(ctx), *end = xdp_end(ctx);
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	if (se >> 16) {
		/* peer_mac and own_mac lie side by side, as h_dest and h_source. */
		*(__u32 *)eth = *(__u32 *)e->rx.peer_mac;
		*(__u32 *)((void *)eth + 4) = *(__u32 *)(e->rx.peer_mac + 4);
		*(__u32 *)((void *)eth + 8) = *(__u32 *)(e->rx.peer_mac + 8);
		eth->h_proto = se >> 16;
	}
	count_rx(st, end - data);
	if (bench_mode == BENCH_DROP)
		return XDP_DROP;
	if (fwd && e->rx.fast && ((se >> 16) || eoip_to_vis(eth, end, e->rx.peer_mac))) {
		int v = fp_forward_decap(ctx, e->rx.vis_ifindex);
		if (v >= 0)
			return v;
	}
	return bpf_redirect(e->rx.ifindex, 0);
}

SEC("xdp")
int tun_decap(struct xdp_md *ctx)
{
	if (bench_mode && bench_restore(ctx, bench_head))
		return XDP_DROP;
	if (slow_only)
		return decap_slow(ctx, 0);
	__u32 se;
	struct tun_slot *e = fast_match(xdp_data(ctx), xdp_end(ctx), &se);
	if (!e)
		return decap_slow(ctx, 0);
	if (bench_mode == BENCH_MATCH)
		return XDP_DROP;
	return decap_deliver(ctx, e, se, 0);
}

/* ---------------------------------------------------------------- raw ESP steering */

#define IPPROTO_UDP_ 17
#define IPPROTO_ESP_ 50
#define ESP_RX_MAX 4096
/* ESP_STEER_MAX: the longest ESP steered (three 512-byte checksum rounds and a
 * remainder); longer frames (jumbo) keep the raw socket. */
#define ESP_STEER_MAX 2044

/* esp_rx: the userspace ESP path's inbound SAs (ike/esp adds and removes them with its
 * SAD); the value is unused. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ESP_RX_MAX);
	__type(key, struct esp_rx_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esp_rx SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct esp_rx_cfg);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esp_rx_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct esp_rx_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} esp_rx_counters SEC(".maps");

/* esp_sum adds up the ESP bytes from p to end (a multiple of 4, at most ESP_STEER_MAX)
 * for the UDP checksum: constant-size rounds, so the verifier sees every access bounded. */
static __always_inline __u64 esp_sum(void *p, void *end)
{
	__u64 sum = 0;
#pragma unroll
	for (int i = 0; i < 3; i++) {
		if (p + 512 > end)
			break;
		sum += (__u32)bpf_csum_diff(0, 0, p, 512, 0);
		p += 512;
	}
#pragma unroll
	for (int sz = 256; sz >= 4; sz >>= 1) {
		if (p + sz <= end) {
			sum += (__u32)bpf_csum_diff(0, 0, p, sz, 0);
			p += sz;
		}
	}
	return sum;
}

/* esp_steer rewrites IPv4 ESP to an SA in esp_rx into UDP (both ports esp_rx_cfg.port,
 * a valid checksum, which UDP GRO requires) so that the stack aggregates it for the
 * userspace path's socket; it drops UDP from the wire to that port (only we make it).
 * Only while no firewall rule of an IPv4 table (or queue) could see the ESP (FP_ESP4,
 * the fast path's condition without IPsec policies); fragments, options and jumbo frames keep the raw socket. -1: not
 * ours, the port program goes on. */
static __noinline int esp_steer(struct xdp_md *ctx)
{
	void *data = xdp_data(ctx), *end = xdp_end(ctx);
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	if (ip->protocol != IPPROTO_ESP_ && ip->protocol != IPPROTO_UDP_)
		return -1;
	__u32 z = 0;
	struct esp_rx_cfg *c = bpf_map_lookup_elem(&esp_rx_config, &z);
	if (!c || !c->port)
		return -1;
	__u16 port = bpf_htons(c->port);
	struct esp_rx_stats *st = bpf_map_lookup_elem(&esp_rx_counters, &z);
	if (ip->protocol == IPPROTO_UDP_) {
		if (ip->frag_off & bpf_htons(IP_OFFSET))
			return -1;
		__u32 ihl = ip->ihl * 4;
		if (ihl < 20 || ihl > 60)
			return -1;
		struct udphdr *uh = (void *)ip + ihl;
		if ((void *)(uh + 1) > end || uh->dest != port)
			return -1;
		if (st)
			st->spoofed++;
		return XDP_DROP;
	}
	__be32 *spi = (void *)(ip + 1);
	if ((void *)(spi + 2) > end)
		return -1;
	struct esp_rx_key k = {.dst = ip->daddr, .spi = *spi};
	if (!bpf_map_lookup_elem(&esp_rx, &k))
		return -1;
	struct fp_cfg *f = bpf_map_lookup_elem(&fp_config, &z);
	__u32 tot = bpf_ntohs(ip->tot_len);
	__u32 esplen = tot - sizeof(*ip);
	if (!f || !(f->flags & FP_ESP4) || ip->ihl != 5 || (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET)) ||
	    tot < sizeof(*ip) + 8 || (void *)ip + tot != end || (esplen & 3) || esplen > ESP_STEER_MAX) {
		if (st)
			st->fallback++;
		return -1;
	}
	__u16 ulen = bpf_htons(esplen + sizeof(struct udphdr));
	__u64 sum = esp_sum(spi, end);
	sum += (ip->saddr & 0xffff) + (ip->saddr >> 16) + (ip->daddr & 0xffff) + (ip->daddr >> 16);
	sum += bpf_htons(IPPROTO_UDP_) + ulen;           /* pseudo header */
	sum += (__u32)port + port + ulen;                  /* UDP header, check 0 */
	sum = (sum & 0xffffffff) + (sum >> 32);
	__u16 check = csum_fold32((__u32)((sum & 0xffffffff) + (sum >> 32)));
	if (!check)
		check = 0xffff;

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(struct udphdr))) {
		if (st)
			st->fallback++;
		return -1;
	}
	data = xdp_data(ctx);
	end = xdp_end(ctx);
	/* Ethernet and IP headers move 8 bytes to the front, the UDP header goes between. */
	if (data + sizeof(struct ethhdr) + sizeof(struct iphdr) + 2 * sizeof(struct udphdr) > end)
		return XDP_DROP;
	__u16 *w = data;
#pragma unroll
	for (int i = 0; i < (sizeof(struct ethhdr) + sizeof(struct iphdr)) / 2; i++)
		w[i] = w[i + sizeof(struct udphdr) / 2];
	ip = data + sizeof(struct ethhdr);
	ip->protocol = IPPROTO_UDP_;
	ip->tot_len = bpf_htons(tot + sizeof(struct udphdr));
	/* GRO merges IPv4 datagrams only with IDs that count up by one, or with DF and a
	 * fixed ID; a raw ESP sender's IDs (the kernel's per-destination counter, which
	 * jumps) rarely do. The packet is not fragmented and ends here, so DF and ID 0 say
	 * nothing untrue and make the flow one GRO merges. */
	ip->frag_off = bpf_htons(IP_DF);
	ip->id = 0;
	ip->check = 0;
	ip->check = ip_csum(ip);
	struct udphdr *uh = (void *)(ip + 1);
	uh->source = port;
	uh->dest = port;
	uh->len = ulen;
	uh->check = check;
	if (st) {
		st->steered++;
		st->steered_bytes += esplen;
	}
	return XDP_PASS;
}

/* xdp_port is the one XDP program of a port routerd manages (dataplane attaches it for
 * either role, fp_role): tunnel packets are decapsulated as by tun_decap (and their
 * payload forwarded in the same pass where the fast path may), other packets that came
 * in on a fast path port are forwarded by fp_forward where they may, and the rest go on
 * to decap_slow, which hands them to the stack unless they are a tunnel's. */
SEC("xdp")
int xdp_port(struct xdp_md *ctx)
{
	if (bench_mode && bench_restore(ctx, bench_head))
		return XDP_DROP;
	__u32 se;
	struct tun_slot *e = fast_match(xdp_data(ctx), xdp_end(ctx), &se);
	if (e)
		return decap_deliver(ctx, e, se, 1);
	int v = esp_steer(ctx);
	if (v >= 0)
		return v;
	__u32 in = ctx->ingress_ifindex;
	struct fp_port *p = bpf_map_lookup_elem(&xdp_ports, &in);
	if (p && (p->roles & FP_ROLE_FORWARD)) {
		v = fp_forward(ctx, in, p);
		if (v >= 0)
			return v;
	}
	return decap_slow(ctx, 1);
}

/* decap_tc is tun_decap for interfaces where XDP cannot attach; skb->data is at an
 * Ethernet header. */
static __always_inline int decap_tc(struct __sk_buff *skb, int via_esp)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	volatile struct decap d;
	int v = decap_parse(data, end, skb->len, &d, via_esp);

	switch (v) {
	case DECAP_PASS:
		return TC_ACT_OK;
	case DECAP_DROP:
		return TC_ACT_SHOT;
	case DECAP_KEEPALIVE:
		if (d.st)
			d.st->keepalive_rx++;
		return TC_ACT_SHOT;
	case DECAP_SWAP:
		swap_outer(data, data + sizeof(struct ethhdr));
		if (d.st)
			d.st->keepalive_reflected++;
		return bpf_redirect(skb->ifindex, 0);
	}
	struct ethhdr old;
	__builtin_memcpy(&old, data, sizeof(old));
	struct tun_rx *rx = d.rx;
	struct tun_stats *st = d.st;
	__u16 ethertype = d.ethertype;
	int eoip = d.eoip;

	/* Shrink behind the Ethernet header; for EoIP the inner Ethernet header then
	 * lies where the outer one was and is moved over it. */
	__s32 shrink = d.hlen + (eoip ? sizeof(struct ethhdr) : 0);
	struct ethhdr inner_eth;
	if (eoip && bpf_skb_load_bytes(skb, sizeof(struct ethhdr) + d.hlen, &inner_eth, sizeof(inner_eth)))
		return TC_ACT_SHOT;
	/* A GSO packet (aggregated by the sender, carried whole over veth) stays one: the
	 * segment size is the inner TCP's and must not grow by what is stripped. */
	__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO;
	if (!eoip)
		flags |= ethertype == bpf_htons(ETH_P_IPV6) ? BPF_F_ADJ_ROOM_DECAP_L3_IPV6 : BPF_F_ADJ_ROOM_DECAP_L3_IPV4;
	if (bpf_skb_adjust_room(skb, -shrink, BPF_ADJ_ROOM_MAC, flags)) {
		count_drop(st, TUN_DROP_ADJUST);
		return TC_ACT_SHOT;
	}
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	if (v == DECAP_REFLECT) {
		__builtin_memcpy(eth->h_dest, old.h_source, ETH_ALEN);
		__builtin_memcpy(eth->h_source, old.h_dest, ETH_ALEN);
		if (st)
			st->keepalive_reflected++;
		return bpf_redirect(skb->ifindex, 0);
	}
	if (eoip) {
		__builtin_memcpy(eth, &inner_eth, sizeof(inner_eth));
	} else {
		__builtin_memcpy(eth->h_dest, rx->peer_mac, ETH_ALEN);
		__builtin_memcpy(eth->h_source, rx->own_mac, ETH_ALEN);
		eth->h_proto = ethertype;
	}
	count_rx(st, skb->len);
	return bpf_redirect(rx->ifindex, 0);
}

SEC("tc")
int tun_decap_tc(struct __sk_buff *skb)
{
	return decap_tc(skb, 0);
}

/* tun_decap_l3 is tun_decap_tc for underlays without a link-layer header, such as the TUN
 * device of the userspace ESP path (GRE over IPsec): the decrypted outer packet arrives
 * there as bare IP. An Ethernet header is put in front of a packet that may be a tunnel's,
 * so that the Ethernet decapsulator applies unchanged. A packet left to the stack keeps
 * the pushed header as its (ignored) MAC header: TC ingress pulls mac_len, which
 * change_head set, before the stack goes on at the IP header. XDP cannot serve here: a
 * TUN runs native XDP only for TAP frames. */
SEC("tc")
int tun_decap_l3(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;
	if ((void *)(ip + 1) > end || ip->version != 4 || skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	if (ip->protocol != IPPROTO_GRE_ && ip->protocol != IPPROTO_IPIP_ && ip->protocol != IPPROTO_IPV6_)
		return TC_ACT_OK;
	if (bpf_skb_change_head(skb, sizeof(struct ethhdr), 0))
		return TC_ACT_OK;
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	eth->h_proto = bpf_htons(ETH_P_IP);
	/* Decrypted by the ESP path: the one way into an IPsec-protected tunnel. */
	return decap_tc(skb, 1);
}

/* ---------------------------------------------------------------- encapsulation */

#define ROUTE_TOO_BIG -2

/* route_out finds the egress of the outer packet and writes its Ethernet header.
 * Returns the ifindex, 0 when the neighbour is unresolved (nh is then the next hop),
 * -1 without a route, or ROUTE_TOO_BIG when tot_len exceeds the route's MTU. */
static __always_inline int route_out(struct __sk_buff *skb, __be32 *src, __be32 dst, __u32 *nh,
				     __u32 *oif, __u32 table, __u16 tot_len, __u8 proto)
{
	struct bpf_fib_lookup fib = {};
	fib.family = AF_INET;
	/* The outer protocol: ip rules that select by it (the userspace ESP path's
	 * per-policy rules, ike/esp) see the packet as the kernel would route it. */
	fib.l4_protocol = proto;
	/* The MTU check on the outer IP length: without it the kernel checks the whole
	 * frame, whose Ethernet header an underlay without one (the ESP device) does not
	 * allow for, and drops the largest packets that fit. 0 (GSO) skips the check. */
	fib.tot_len = tot_len;
	/* On the userspace ESP path (table) the ESP device's MTU is no limit for the
	 * tunnels it protects: it takes an outer packet of any size, and the kernel
	 * fragments the ESP packet made of it, after encryption (RFC 4303 applies
	 * transport mode to whole datagrams only, and a fragment's offset would not survive
	 * it). The device's MTU sizes tunnel-mode traffic and the tunnels' auto mtu. 1 fits
	 * every route (0 would check the skb against the device). */
	if (table)
		fib.tot_len = 1;
	fib.ipv4_src = *src;
	fib.ipv4_dst = dst;
	fib.ifindex = skb->ifindex;
	__u32 flags = *src ? 0 : BPF_FIB_LOOKUP_SRC;
	if (table) {
		/* IPsec-protected: that table alone (tun_cfg.ipsec_table). */
		flags |= BPF_FIB_LOOKUP_DIRECT | BPF_FIB_LOOKUP_TBID;
		fib.tbid = table;
	}
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), flags);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return ROUTE_TOO_BIG;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -1;
	*src = fib.ipv4_src;
	*nh = fib.ipv4_dst;
	*oif = fib.ifindex;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		return 0;
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return -1;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	return fib.ifindex;
}

static __always_inline bool zero_mac(const __u8 *m)
{
	return !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]);
}

/* The kernel's skb, for the GSO type the context does not show (whole_gso). Weak: a
 * kernel without it (before 6.3) keeps every packet on bpf_skb_adjust_room. */
extern void *bpf_cast_to_kern_ctx(void *) __ksym __weak;

/* whole_gso says whether an IPsec-protected tunnel's GSO packet can reach the userspace
 * ESP path's TUN whole, so that routerd reads one 64 KB packet and segments it itself
 * (ike/esp gso.go) rather than the kernel segmenting it into 1.4 KB TUN reads. The TUN
 * has no NETIF_F_GSO_GRE (nor IPXIP4) and no NETIF_F_GSO_ROBUST: bpf_skb_adjust_room's
 * encapsulation sets SKB_GSO_GRE/IPXIP4, and it ORs SKB_GSO_DODGY into every GSO
 * packet it grows, with or without the ENCAP flags, so nothing it grows passes whole.
 * bpf_skb_change_head changes no GSO state: the outer headers go in front with it, and
 * the packet, received once more on the hidden end (outer_resend), is a plain TCPV4 or
 * TCPV6 GSO packet whose checksum start is the inner TCP header. The kernel still
 * segments it in software when the TUN cannot take it whole, and that segmentation
 * knows nothing of outer headers without skb->encapsulation: gre_gso_segment refuses
 * it and the packet is lost. So only the types the TUN takes (TCPV4 or TCPV6 and no
 * other bit: not ECN, FIXEDID, DODGY, ...) and packets within its 64 KB go this way;
 * everything else takes adjust_room as before. */
static __always_inline bool whole_gso(struct __sk_buff *skb, __u32 len)
{
	if (!skb->gso_size || len > 0xffff || !bpf_cast_to_kern_ctx)
		return false;
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	unsigned char *head = k->head;
	unsigned int end = k->end;
	struct skb_shared_info *sh = (void *)(head + end);
	unsigned int t = 0;
	if (bpf_probe_read_kernel(&t, sizeof(t), &sh->gso_type))
		return false;
	return t == SKB_GSO_TCPV4 || t == SKB_GSO_TCPV6;
}

/* eoip_resend sends on an EoIP packet that tun_encap wrapped and sent back in through
 * the hidden end (see the end of tun_encap): the kernel has parsed it as the IP packet
 * it now is, so the network header is the outer one, and an L3 egress (the ESP device)
 * or the kernel's neighbour code take it whole. ip is the outer header, in bounds.
 * The same for a protected tunnel's whole GSO packet (whole_gso), which goes to an L3
 * egress (the ESP device; the kernel's neighbour code when the lookup found no entry)
 * alone: a link-layer egress would see a GSO packet without encapsulation. */
static __always_inline int eoip_resend(struct __sk_buff *skb, struct tun_cfg *c, struct tun_stats *st,
				       struct iphdr *ip)
{
	__be32 local = ip->saddr;
	__u32 nh = 0, oif = 0;
	int out = route_out(skb, &local, ip->daddr, &nh, &oif, c->ipsec_table,
			    bpf_ntohs(ip->tot_len), ip->protocol);
	if (out < 0) {
		count_drop(st, TUN_DROP_NO_ROUTE);
		return TC_ACT_SHOT;
	}
	if (out > 0 && c->kind != TUN_EOIP) {
		void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
		struct ethhdr *eth = data;
		if ((void *)(eth + 1) > end)
			return TC_ACT_SHOT;
		if (!zero_mac(eth->h_source)) {
			count_drop(st, TUN_DROP_NO_ROUTE);
			return TC_ACT_SHOT;
		}
	}
	if (out > 0)
		return bpf_redirect(out, 0);
	struct bpf_redir_neigh rn = {.nh_family = AF_INET, .ipv4_nh = nh};
	return bpf_redirect_neigh(oif, &rn, sizeof(rn), 0);
}

/* outer_proto is the outer IP protocol of a tunnel kind. */
static __always_inline __u8 outer_proto(__u8 kind)
{
	return kind == TUN_IPIP ? IPPROTO_IPIP_ : kind == TUN_6TO4 ? IPPROTO_IPV6_ : IPPROTO_GRE_;
}

#define PACKET_HOST_ 0
/* The destination of an outer packet handed to the stack (encap_too_big): any unicast
 * address but all-zero, which marks eoip_resend's. */
#define STACK_MARK_MAC0 0x02

/* encap_too_big takes an outer packet (headers complete but for the source address, the
 * checksum and the Ethernet header) that is too big for the underlay's MTU. With DF
 * (dont-fragment=inherit and DF on the inner packet) it is dropped and counted. Else the
 * stack fragments it, as RouterOS fragments the outer packet so that a tunnel of MTU 1500
 * carries full frames over a 1500-byte underlay: no eBPF hook can fragment, so the
 * packet is received once more on the hidden end, marked by an all-zero source address
 * (see the start of tun_encap), which hands it to the stack; the stack forwards it like
 * any packet routed to the remote and fragments it on the way out (ip_forward, then
 * ip_fragment), GSO packets segment by segment. The forwarded packet loses a hop: the TTL
 * is raised by one first. Fragments need an identification of their own (RFC 791): the
 * encapsulator's packets carry 0, so one is drawn here. Not inlined: the common path
 * stays as it was. */
static __noinline int encap_too_big(struct __sk_buff *skb, struct tun_cfg *c, struct tun_stats *st)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	if (ip->frag_off & bpf_htons(IP_DF)) {
		count_drop(st, TUN_DROP_FRAG_NEEDED);
		return TC_ACT_SHOT;
	}
	/* The source the route gives (local-address unset): the lookup that found the
	 * packet too big stopped before choosing it. A length of 1 fits every route, so
	 * that this lookup checks no size (0 would check the skb's own). */
	__be32 local = ip->saddr, remote = ip->daddr;
	__u32 nh = 0, oif = 0;
	if (route_out(skb, &local, remote, &nh, &oif, c->ipsec_table, 1, ip->protocol) < 0) {
		count_drop(st, TUN_DROP_NO_ROUTE);
		return TC_ACT_SHOT;
	}
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	ip->saddr = local;
	ip->id = bpf_get_prandom_u32();
	if (ip->ttl < 255)
		ip->ttl++;
	ip->check = 0;
	ip->check = ip_csum(ip);
	__builtin_memset(eth->h_source, 0, ETH_ALEN);
	__builtin_memset(eth->h_dest, 0, ETH_ALEN);
	eth->h_dest[0] = STACK_MARK_MAC0;
	eth->h_proto = bpf_htons(ETH_P_IP);
	if (st) {
		st->tx_packets++;
		st->tx_bytes += skb->len - sizeof(struct ethhdr) - sizeof(struct iphdr) -
				(c->kind == TUN_GRE ? 4 : c->kind == TUN_EOIP ? sizeof(struct eoiphdr) : 0);
		st->tx_fragmented++;
	}
	return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
}

SEC("tc")
int tun_encap(struct __sk_buff *skb)
{
	__u32 ifx = skb->ifindex;
	struct tun_cfg *c = bpf_map_lookup_elem(&tunnel_cfg, &ifx);
	if (!c)
		return TC_ACT_OK;
	struct tun_stats *st = stats_of(c->slot);
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	__u16 ethertype = eth->h_proto;
	__be32 remote = c->remote, local = c->local;
	__u8 tos = 0, df = 0, kind = c->kind;
	void *l3 = eth + 1;

	if (zero_mac(eth->h_source)) {
		/* Back from this program: no frame from the visible end has an all-zero
		 * source (the stack sends with the interface's address; a bridge drops such
		 * a source). A destination set: an outer packet too big for the underlay,
		 * for the stack to fragment (encap_too_big), which takes only packets
		 * addressed to the interface. */
		if (!zero_mac(eth->h_dest)) {
			bpf_skb_change_type(skb, PACKET_HOST_);
			return TC_ACT_OK;
		}
		/* None: from the end of this program, the outer header of this EoIP
		 * tunnel in front of a frame. */
		struct iphdr *ip = l3;
		struct eoiphdr *e = (void *)(ip + 1);
		if (kind == TUN_EOIP && skb->protocol == bpf_htons(ETH_P_IP) && (void *)(e + 1) <= end &&
		    ip->version == 4 && ip->ihl == 5 && ip->protocol == IPPROTO_GRE_ && ip->daddr == remote &&
		    e->flags == bpf_htons(EOIP_FLAGS) && e->proto == bpf_htons(EOIP_PROTO) && e->id == c->tunnel_id)
			return eoip_resend(skb, c, st, ip);
		/* A protected tunnel's whole GSO packet (whole_gso), outer headers on. */
		__be16 *g = (void *)(ip + 1);
		if (kind != TUN_EOIP && c->ipsec_table && skb->protocol == bpf_htons(ETH_P_IP) &&
		    (void *)(g + 2) <= end && ip->version == 4 && ip->ihl == 5 &&
		    ip->protocol == outer_proto(kind) && (remote == 0 || ip->daddr == remote) &&
		    (kind != TUN_GRE || g[0] == 0))
			return eoip_resend(skb, c, st, ip);
	}

	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > end)
			return TC_ACT_SHOT;
		tos = ip->tos;
		df = (ip->frag_off & bpf_htons(IP_DF)) != 0;
	} else if (ethertype == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > end)
			return TC_ACT_SHOT;
		tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
		df = 1; /* IPv6 is never fragmented on the way */
		if (kind == TUN_6TO4 && remote == 0) {
			if (ip6->daddr.in6_u.u6_addr16[0] != bpf_htons(0x2002)) {
				count_drop(st, TUN_DROP_NO_REMOTE);
				return TC_ACT_SHOT;
			}
			__builtin_memcpy(&remote, &ip6->daddr.in6_u.u6_addr8[2], 4);
		}
	}
	if (!carries(kind, ethertype))
		goto proto;
	if (c->clamp && kind != TUN_EOIP) {
		struct tcphdr *tcp = inner_tcp(l3, ethertype, end);
		__be16 *m = tcp ? mss_opt(tcp, end) : NULL;
		__u16 lim = ethertype == bpf_htons(ETH_P_IP) ? c->mss4 : c->mss6;
		if (m && lim && bpf_ntohs(*m) > lim) {
			__u16 old = *m, new = bpf_htons(lim);
			__u32 off = (void *)m - data;
			__u32 coff = (void *)&tcp->check - data;
			/* The helper knows whether the checksum is still to be computed
			 * (CHECKSUM_PARTIAL) and leaves it alone then. */
			bpf_skb_store_bytes(skb, off, &new, sizeof(new), 0);
			bpf_l4_csum_replace(skb, coff, old, new, sizeof(new));
		}
	}

	__u32 pkt_len = skb->len - sizeof(struct ethhdr);
	__u32 olen;
	bool whole = 0;
	if (kind == TUN_EOIP) {
		/* EoIP carries any frame; adjust_room only knows IP packets, so the outer
		 * headers go in front of the whole frame. The visible end does no GSO: the
		 * EoIP length field has to be right in every packet. */
		pkt_len = skb->len;
		olen = sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct eoiphdr);
		if (bpf_skb_change_head(skb, olen, 0))
			goto adjust;
	} else {
		__u64 flags = BPF_F_ADJ_ROOM_FIXED_GSO | BPF_F_ADJ_ROOM_ENCAP_L3_IPV4;
		olen = sizeof(struct iphdr);
		if (kind == TUN_GRE) {
			olen += 4;
			flags |= BPF_F_ADJ_ROOM_ENCAP_L4_GRE;
		}
		if (c->ipsec_table && whole_gso(skb, pkt_len + olen)) {
			/* In front of the Ethernet header, which the outer headers
			 * then overwrite: the inner packet stays where it was. */
			whole = 1;
			if (bpf_skb_change_head(skb, olen, 0))
				goto adjust;
		} else if (bpf_skb_adjust_room(skb, olen, BPF_ADJ_ROOM_MAC, flags))
			goto adjust;
	}

	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	__u8 ecn = tos & 3;
	ip->version = 4;
	ip->ihl = 5;
	/* RFC 6040 normal mode: ECN copied, except CE, which becomes ECT(0). */
	ip->tos = (c->dscp == TUN_DSCP_INHERIT ? (tos & 0xfc) : (c->dscp << 2)) | (ecn == 3 ? 2 : ecn);
	ip->tot_len = bpf_htons(pkt_len + olen - (kind == TUN_EOIP ? sizeof(struct ethhdr) : 0));
	ip->id = 0;
	ip->frag_off = (c->df_inherit && df) ? bpf_htons(IP_DF) : 0;
	ip->ttl = c->ttl;
	ip->protocol = outer_proto(kind);
	ip->check = 0;
	ip->daddr = remote;
	ip->saddr = local;
	if (kind == TUN_GRE) {
		__be16 *g = (void *)(ip + 1);
		if ((void *)(g + 2) > end)
			return TC_ACT_SHOT;
		g[0] = 0;
		g[1] = ethertype;
	} else if (kind == TUN_EOIP) {
		struct eoiphdr *e = (void *)(ip + 1);
		if ((void *)(e + 1) > end)
			return TC_ACT_SHOT;
		e->flags = bpf_htons(EOIP_FLAGS);
		e->proto = bpf_htons(EOIP_PROTO);
		e->len = bpf_htons(pkt_len);
		e->id = c->tunnel_id;
	}

	__u32 nh = 0, oif = 0;
	int out = route_out(skb, &local, remote, &nh, &oif, c->ipsec_table,
			    skb->gso_size ? 0 : bpf_ntohs(ip->tot_len), ip->protocol);
	if (out == ROUTE_TOO_BIG)
		return encap_too_big(skb, c, st);
	if (out < 0) {
		count_drop(st, TUN_DROP_NO_ROUTE);
		return TC_ACT_SHOT;
	}
	/* A GSO packet is checked by its segments, as the underlay will send them. */
	__u32 mtu_len = 0;
	if (skb->gso_size && !c->ipsec_table && bpf_check_mtu(skb, oif, &mtu_len, 0, BPF_MTU_CHK_SEGS))
		return encap_too_big(skb, c, st);
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + sizeof(struct ethhdr);
	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	ip->saddr = local;
	ip->check = ip_csum(ip);
	if (st) {
		st->tx_packets++;
		st->tx_bytes += pkt_len;
	}
	eth = data;
	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	if ((kind == TUN_EOIP || whole) && (out == 0 || zero_mac(eth->h_source))) {
		/* change_head left the network header at the inner frame. An egress without
		 * a link layer (the ESP device: fib gives it an all-zero address) takes the
		 * packet from there, so it would get the inner payload alone; the kernel's
		 * neighbour code (unresolved next hop) takes IP packets only, and no ARP
		 * frame is one. Received once more on the hidden end, the frame is parsed
		 * as the outer IP packet it now is, and the start of this program sends it
		 * on (eoip_resend). */
		__builtin_memset(eth->h_dest, 0, ETH_ALEN);
		__builtin_memset(eth->h_source, 0, ETH_ALEN);
		eth->h_proto = bpf_htons(ETH_P_IP);
		return bpf_redirect(skb->ifindex, BPF_F_INGRESS);
	}
	if (whole) {
		/* The protected tunnel's table leads elsewhere than the ESP device. */
		count_drop(st, TUN_DROP_NO_ROUTE);
		return TC_ACT_SHOT;
	}
	if (out > 0)
		return bpf_redirect(out, 0);
	/* Unresolved next hop: the kernel's neighbour code resolves it and queues the
	 * packet (IP only; EoIP went above). */
	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6)) {
		count_drop(st, TUN_DROP_NO_NEIGH);
		return TC_ACT_SHOT;
	}
	/* redirect_neigh drops frames with a multicast destination (EoIP broadcast). */
	__builtin_memset(eth->h_dest, 0, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	struct bpf_redir_neigh rn = {.nh_family = AF_INET, .ipv4_nh = nh};
	return bpf_redirect_neigh(oif, &rn, sizeof(rn), 0);

proto:
	count_drop(st, TUN_DROP_PROTO);
	return TC_ACT_SHOT;
adjust:
	count_drop(st, TUN_DROP_ADJUST);
	return TC_ACT_SHOT;
}
