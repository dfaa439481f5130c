// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* routerd's packet generator (tools/trafficgen), run by BPF_PROG_RUN in live-frames mode
 * (BPF_F_TEST_XDP_LIVE_FRAMES) as xdp-trafficgen does: the kernel hands gen the same
 * frame again and again and carries out its verdict, so frames leave an interface at a
 * rate no userspace sender reaches. count is the sink: it counts what arrives and drops it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define GEN_HEAD 128

/* The frame's first head_len bytes (a multiple of 8), written back before each send:
 * live-frames mode recycles its pages without resetting their bytes, and a router that
 * forwards the frame in XDP changes them in place (TTL, MACs) on the same page. */
volatile const __u32 head_len = 0;
volatile const __u8 head[GEN_HEAD] = {};
/* flows > 1 varies the 16-bit field at port_off (a source port) over flows values, the
 * checksum at csum_off (0: none) updated to match. */
volatile const __u32 flows = 1;
volatile const __u32 port_off = 0;
volatile const __u32 csum_off = 0;
/* out_ifindex: where frames go (bpf_redirect); 0 sends them back out of the interface
 * the run is bound to (XDP_TX). */
volatile const __u32 out_ifindex = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} gen_count SEC(".maps");

static __always_inline __u16 fold(__u32 s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

SEC("xdp")
int gen(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
#pragma unroll
	for (int i = 0; i < GEN_HEAD; i += 8) {
		if (i >= head_len || (void *)(p + i + 8) > end)
			break;
		*(__u64 *)(p + i) = *(const volatile __u64 *)(head + i);
	}
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&gen_count, &k);
	if (!n)
		return XDP_DROP;
	__u64 c = (*n)++;
	if (flows > 1 && port_off) {
		__u16 *pp = (void *)(p + (port_off & 0xff));
		if ((void *)(pp + 1) > end)
			return XDP_DROP;
		__u16 old = *pp;
		__u16 new = bpf_htons(bpf_ntohs(old) + (__u16)(c % flows));
		*pp = new;
		if (csum_off) {
			__u16 *cs = (void *)(p + (csum_off & 0xff));
			if ((void *)(cs + 1) > end)
				return XDP_DROP;
			/* RFC 1624 eqn. 3 */
			*cs = fold((__u16)~*cs + (__u16)~old + new);
		}
	}
	if (out_ifindex)
		return bpf_redirect(out_ifindex, 0);
	return XDP_TX;
}

/* count counts a frame and drops it: the sink of a benchmark. */
SEC("xdp")
int count(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&gen_count, &k);
	if (n)
		(*n)++;
	return XDP_DROP;
}
