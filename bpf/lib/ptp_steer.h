/* Types shared by the PTP steering program (bpf/ptp_steer.c) and routerd's Go side
 * (ptp/steer, through bpf2go -type). No implicit padding: Go reads them as raw bytes. */
#ifndef ROUTERD_PTP_STEER_H
#define ROUTERD_PTP_STEER_H

/* ptp_steer_portmap holds one entry per bridge port a PTP clock terminates, keyed by
 * ifindex; a port without an entry passes everything (a stale attachment is harmless). */
struct ptp_steer_port {
	__u32 flags; /* reserved, 0 */
};

/* ptp_steer_stats (in map ptp_steer_counters): per CPU and port, what the program kept from the bridge. */
struct ptp_steer_stats {
	__u64 event;   /* Sync, Delay_Req, Pdelay_Req, Pdelay_Resp */
	__u64 general; /* Announce, Follow_Up, Delay_Resp, Pdelay_Resp_Follow_Up, signaling, management */
	__u64 tagged;  /* of those, frames with a VLAN tag */
	__u64 udp;     /* of those, UDPv4 (the rest are Ethernet, 0x88F7) */
};

#endif
