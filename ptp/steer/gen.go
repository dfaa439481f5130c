package steer

// The BPF object is generated and committed, so that building routerd needs no clang.
// Regenerate after changing bpf/ptp_steer.c (needs clang, llvm and libbpf-dev):
//
//	go generate ./ptp/steer

//go:generate go tool bpf2go -tags linux -target bpfel -cc clang -cflags "-O2 -g -Wall -mcpu=v3" -type ptp_steer_port -type ptp_steer_stats steer ../../bpf/ptp_steer.c -- -I../../bpf
