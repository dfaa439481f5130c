/* Benchmark support shared by bpf/tunnel.c (its bench modes) and bpf/bench.c (the
 * baselines), so that both pay exactly the same for it. */
#ifndef ROUTERD_BENCH_H
#define ROUTERD_BENCH_H

#define BENCH_HEAD 48

/* bench_restore writes head, the frame's first BENCH_HEAD bytes, back over the frame:
 * live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) recycles its pages and resets only the
 * data pointers, not the bytes, and a decapsulator writes over the outer headers. One
 * 2-byte store, then 4-byte stores at offsets 2, 6, ..., 46: every header field a
 * decapsulator then loads (EtherType at 12, IPv4 addresses at 26 and 30, GRE words at
 * 34 and 36, EoIP length and id at 38 and 40) lies inside one store, so the CPU
 * forwards it from the store buffer. 8-byte stores would split the IPv4 destination
 * address across two and stall its load, a cost the baselines, which read nothing,
 * would not pay. Returns -1 for a frame shorter than BENCH_HEAD. */
static __always_inline int bench_restore(struct xdp_md *ctx, const volatile __u8 *head)
{
	__u8 *p = (void *)(long)ctx->data;
	if ((void *)(p + BENCH_HEAD) > (void *)(long)ctx->data_end)
		return -1;
	*(__u16 *)p = *(const volatile __u16 *)head;
#pragma unroll
	for (int i = 2; i < BENCH_HEAD - 2; i += 4)
		*(__u32 *)(p + i) = *(const volatile __u32 *)(head + i);
	*(__u16 *)(p + BENCH_HEAD - 2) = *(const volatile __u16 *)(head + BENCH_HEAD - 2);
	return 0;
}

#endif
