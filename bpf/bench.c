// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* Baselines for the tunnel benchmarks: the least an XDP program can do with a frame. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_count SEC(".maps");

/* redirect_ifindex is where redirect_only sends frames (set before loading). */
volatile const __u32 redirect_ifindex = 0;

/* count_drop counts the frame and drops it. */
SEC("xdp")
int count_drop(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&bench_count, &k);
	if (n)
		(*n)++;
	return XDP_DROP;
}

/* redirect_only counts the frame and redirects it unchanged: the cost of the redirect
 * itself, without any parsing. */
SEC("xdp")
int redirect_only(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&bench_count, &k);
	if (n)
		(*n)++;
	return bpf_redirect(redirect_ifindex, 0);
}

/* count_pass counts the frame and hands it to the kernel stack. */
SEC("xdp")
int count_pass(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&bench_count, &k);
	if (n)
		(*n)++;
	return XDP_PASS;
}

/* Live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) recycles its pages and resets only the
 * data pointers, not the bytes: a decapsulator that wrote its new Ethernet header over
 * the outer headers would find them clobbered on the next pass. restore_then writes the
 * frame's first 48 bytes back (six 8-byte stores) and tail-calls bench_progs[0], so that
 * every program measured (baselines included) sees the original frame and pays the same
 * prologue. */
volatile const __u64 bench_head[6] = {};

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} bench_progs SEC(".maps");

SEC("xdp")
int restore_then(struct xdp_md *ctx)
{
	__u64 *p = (void *)(long)ctx->data;
	if ((void *)(p + 6) > (void *)(long)ctx->data_end)
		return XDP_DROP;
#pragma unroll
	for (int i = 0; i < 6; i++)
		p[i] = bench_head[i];
	bpf_tail_call(ctx, &bench_progs, 0);
	return XDP_ABORTED;
}
