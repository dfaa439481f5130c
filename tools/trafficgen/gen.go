package trafficgen

// The BPF object is generated and committed (see dataplane/gen.go for the toolchain):
//
//	go generate ./tools/trafficgen

//go:generate go tool bpf2go -tags linux -target bpfel -cc clang -cflags "-O2 -g -Wall -mcpu=v3" trafficgen ../../bpf/trafficgen.c -- -I../../bpf
