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
