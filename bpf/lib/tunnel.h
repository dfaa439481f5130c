/* Types shared by the tunnel programs (bpf/tunnel.c) and routerd's Go side
 * (dataplane, through bpf2go -type). Keep the layouts free of implicit padding:
 * Go reads them as raw bytes. */
#ifndef ROUTERD_TUNNEL_H
#define ROUTERD_TUNNEL_H

enum tun_kind {
	TUN_GRE = 1,
	TUN_EOIP = 2,
	TUN_IPIP = 3,
	TUN_6TO4 = 4,
};

/* Why a packet of a tunnel was dropped (index into tun_stats.drops). */
enum tun_drop {
	TUN_DROP_PROTO = 0,   /* payload the tunnel does not carry (ARP on GRE, IPv6 on IPIP) */
	TUN_DROP_NO_ROUTE = 1, /* no route to the remote address */
	TUN_DROP_NO_NEIGH = 2, /* next hop unresolved and the frame is not IP */
	TUN_DROP_NO_REMOTE = 3, /* 6to4 without remote-address and a non-2002::/16 destination */
	TUN_DROP_ADJUST = 4,  /* the kernel refused to grow or shrink the packet */
	TUN_DROP_MALFORMED = 5, /* EoIP length beyond the packet */
	TUN_DROP_CLEARTEXT = 6, /* an IPsec-protected tunnel's packet that did not come out of ESP */
	TUN_DROP_FRAG_NEEDED = 7, /* too big for the underlay, and DF set (dont-fragment=inherit) */
	TUN_DROP_MAX = 8,
};

#define TUN_DSCP_INHERIT 0xff

/* tunnel_cfg (map) holds tun_cfg: what the encapsulator needs, keyed by the ifindex of the hidden veth end. */
struct tun_cfg {
	__u32 kind;
	__be32 local;   /* 0: the source address of the route to remote */
	__be32 remote;  /* 0 (6to4 only): taken from the 2002::/16 destination */
	__u16 tunnel_id; /* EoIP, host order; sent little-endian */
	__u8 dscp;      /* 0-63 or TUN_DSCP_INHERIT */
	__u8 df_inherit; /* 1: copy DF from the inner packet; 0: never set DF */
	__u8 ttl;
	__u8 clamp;     /* clamp the MSS of TCP SYNs to mss4/mss6 */
	__u16 mss4;
	__u16 mss6;
	__u16 slot;     /* index into tunnel_stats */
	/* Non-zero: the tunnel is protected by IPsec (ipsec-secret) on the userspace ESP
	 * path, whose policies steer the outer packets through this routing table to the
	 * ESP device. The outer packet is routed in that table only: with no route there
	 * yet (no policy installed) it is dropped, never sent in the clear. */
	__u32 ipsec_table;
};

/* tun_rx_key: outer header fields a received packet is matched on. */
struct tun_rx_key {
	__be32 remote; /* outer source; 0 matches any (6to4 without remote-address) */
	__be32 local;  /* outer destination; 0 matches any */
	__u8 proto;    /* 47, 4 or 41 */
	__u8 eoip;     /* 1: EoIP (GRE 0x2001/0x6400) */
	__u16 id;      /* EoIP tunnel-id, host order */
};

/* tun_rx: where a matched packet goes. */
struct tun_rx {
	__u32 ifindex;     /* hidden veth end: redirecting there delivers on the visible end */
	__u8 peer_mac[6];  /* visible end: destination of decapsulated L3 packets */
	__u8 own_mac[6];   /* hidden end: their source */
	__u16 mss4;
	__u16 mss6;
	__u8 clamp;
	__u8 kind;
	__u16 slot;        /* index into tunnel_stats, as in tun_cfg */
	__u32 vis_ifindex; /* visible end: where decapsulated packets are received */
	__u8 fast;         /* allow-fast-path: L3 payloads may be forwarded in the same pass */
	/* 1: IPsec protects the tunnel (ipsec-secret, or an inbound require/unique or
	 * discard policy matches its outer packets): only what the userspace ESP path
	 * decrypted (tun_decap_l3 on its device) is decapsulated; the same packet in the
	 * clear on any other interface is dropped and counted (TUN_DROP_CLEARTEXT), from
	 * the moment the tunnel exists, with or without an SA or a policy route. */
	__u8 ipsec;
	__u16 pad;
};

/* tun_slot: a tunnel's receive entry at its slot (tunnel_slots), for the fast lookup
 * through tunnel_rx_index. */
struct tun_slot {
	struct tun_rx_key key;
	struct tun_rx rx;
};

/* tunnel_rx_index is indexed by tun_rx_hash of (remote, proto, eoip, id): slot + 1 of the
 * one tunnel with that hash (local any or one address), 0 for none or several. The Go
 * side (dataplane/tunnels.go rxHash) computes the same. */
#define TUN_RX_INDEX_BITS 14

/* tun_stats: per CPU, in a per-CPU array at the tunnel's slot: tun_rx and tun_cfg carry
 * the slot, so that counting costs no second hash lookup. */
struct tun_stats {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
	__u64 keepalive_rx;        /* keepalive answers (GRE, IPIP, 6to4) or announcements (EoIP) */
	__u64 keepalive_reflected; /* peers' GRE/IPIP/6to4 keepalives sent back */
	__u64 tx_fragmented;       /* outer packets too big for the underlay, left to the stack to fragment */
	__u64 drops[TUN_DROP_MAX];
};

#endif
