// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* PTP steering for boundary clocks on bridge ports.
 *
 * A PTP-aware bridge terminates PTP: the clock's port consumes Sync, Announce and the
 * rest, and sends its own. On Linux a bridge port floods PTP multicast like any other
 * frame, so ptp_steer runs at TC ingress (tcx) of each bridge port of a PTP instance and
 * drops PTP event and general messages there, before the bridge sees them. The clock
 * still receives them: its packet socket on the port is a tap (ETH_P_ALL), and taps run
 * in __netif_receive_skb_core before the TC ingress hook, with the software receive
 * timestamp already taken.
 *
 * Matched: Ethernet type 0x88F7, and IPv4 UDP to port 319 (event) or 320 (general) for
 * 224.0.1.129 or 224.0.0.107, with or without one 802.1Q/802.1ad tag in the frame (a tag
 * the driver stripped into the skb's metadata does not show in the data). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "lib/ptp_steer.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define ETH_P_IP 0x0800
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_1588 0x88F7
#define IPPROTO_UDP_ 17
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define PTP_PORT_EVENT 319
#define PTP_PORT_GENERAL 320
/* 224.0.1.129 and 224.0.0.107 */
#define PTP_PRIMARY_IP 0xE0000181
#define PTP_PDELAY_IP 0xE000006B

#define MAX_PORTS 1024

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, struct ptp_steer_port);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ptp_steer_portmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, struct ptp_steer_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ptp_steer_counters SEC(".maps");

/* Message types 0-7 are event messages (IEEE 1588-2008 Table 19). */
static __always_inline int is_event(__u8 first)
{
	return (first & 0x0F) < 8;
}

SEC("tc")
int ptp_steer(struct __sk_buff *skb)
{
	__u32 key = skb->ifindex;
	if (!bpf_map_lookup_elem(&ptp_steer_portmap, &key))
		return TC_ACT_OK;

	__u32 off = 12;
	__be16 proto;
	if (bpf_skb_load_bytes(skb, off, &proto, 2) < 0)
		return TC_ACT_OK;
	off += 2;
	int tagged = skb->vlan_present;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		if (bpf_skb_load_bytes(skb, off + 2, &proto, 2) < 0)
			return TC_ACT_OK;
		off += 4;
		tagged = 1;
	}

	__u8 first;
	int udp = 0;
	if (proto == bpf_htons(ETH_P_1588)) {
		if (bpf_skb_load_bytes(skb, off, &first, 1) < 0)
			return TC_ACT_OK;
	} else if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
			return TC_ACT_OK;
		if (ip.version != 4 || ip.ihl < 5 || ip.protocol != IPPROTO_UDP_)
			return TC_ACT_OK;
		if (ip.daddr != bpf_htonl(PTP_PRIMARY_IP) && ip.daddr != bpf_htonl(PTP_PDELAY_IP))
			return TC_ACT_OK;
		/* A fragment carries no UDP header to match on; PTP messages are never fragmented. */
		if (ip.frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return TC_ACT_OK;
		off += ip.ihl * 4;
		struct udphdr uh;
		if (bpf_skb_load_bytes(skb, off, &uh, sizeof(uh)) < 0)
			return TC_ACT_OK;
		if (uh.dest != bpf_htons(PTP_PORT_EVENT) && uh.dest != bpf_htons(PTP_PORT_GENERAL))
			return TC_ACT_OK;
		if (bpf_skb_load_bytes(skb, off + sizeof(uh), &first, 1) < 0)
			return TC_ACT_OK;
		udp = 1;
	} else {
		return TC_ACT_OK;
	}

	struct ptp_steer_stats *st = bpf_map_lookup_elem(&ptp_steer_counters, &key);
	if (!st) {
		struct ptp_steer_stats zero = {};
		bpf_map_update_elem(&ptp_steer_counters, &key, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&ptp_steer_counters, &key);
	}
	if (st) {
		if (is_event(first))
			st->event++;
		else
			st->general++;
		st->tagged += tagged;
		st->udp += udp;
	}
	return TC_ACT_SHOT;
}
