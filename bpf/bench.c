// SPDX-License-Identifier: (MIT OR GPL-2.0)
/* Baselines for the tunnel benchmarks (dataplane/bench_test.go): the least an XDP
 * program can do with a frame. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "lib/bench.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} bench_count SEC(".maps");

/* redirect_ifindex is where redirect_only sends frames (set before loading). */
volatile const __u32 redirect_ifindex = 0;

/* With restore set, every program first writes bench_head back over the frame, as
 * tun_decap does in its benchmark modes (lib/bench.h), so that the baselines pay the
 * same stores. */
volatile const __u32 restore = 0;
volatile const __u8 bench_head[BENCH_HEAD] = {};

static __always_inline int count(struct xdp_md *ctx)
{
	if (restore && bench_restore(ctx, bench_head))
		return -1;
	__u32 k = 0;
	__u64 *n = bpf_map_lookup_elem(&bench_count, &k);
	if (n)
		(*n)++;
	return 0;
}

/* count_drop counts the frame and drops it. */
SEC("xdp")
int count_drop(struct xdp_md *ctx)
{
	count(ctx);
	return XDP_DROP;
}

/* redirect_only counts the frame and redirects it unchanged: the cost of the redirect
 * itself, without any parsing. */
SEC("xdp")
int redirect_only(struct xdp_md *ctx)
{
	if (count(ctx))
		return XDP_DROP;
	return bpf_redirect(redirect_ifindex, 0);
}

/* count_pass counts the frame and hands it to the kernel stack. */
SEC("xdp")
int count_pass(struct xdp_md *ctx)
{
	if (count(ctx))
		return XDP_DROP;
	return XDP_PASS;
}

/* count_strip counts the frame, strips 24 bytes from its head as a GRE decapsulation
 * does (bpf_xdp_adjust_head: a helper call, and a frame whose bounds changed, which
 * the live-frames loop then updates and resets) and drops it: the least any
 * decapsulation pays on this rig, beside count_drop. */
SEC("xdp")
int count_strip(struct xdp_md *ctx)
{
	if (count(ctx))
		return XDP_DROP;
	bpf_xdp_adjust_head(ctx, 24);
	return XDP_DROP;
}
