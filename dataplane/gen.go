package dataplane

// The BPF objects are generated and committed, so that building routerd needs no clang.
// Regenerate after changing bpf/ (needs clang, llvm and libbpf-dev):
//
//	go generate ./dataplane

//go:generate go tool bpf2go -tags linux -target bpfel -cc clang -cflags "-O2 -g -Wall -mcpu=v3" -type tun_cfg -type tun_rx_key -type tun_rx -type tun_stats -type fp_port -type fp_stats -type fp_cfg -type fp_ct_key -type fp_ct_val -type esp_rx_key -type esp_rx_cfg -type esp_rx_stats tunnel ../bpf/tunnel.c -- -I../bpf
//go:generate go tool bpf2go -tags linux -target bpfel -cc clang -cflags "-O2 -g -Wall -mcpu=v3" bench ../bpf/bench.c -- -I../bpf
