// Package dataplane is the Go side of routerd's eBPF programs (bpf/): it loads the
// compiled objects (bpf2go output, committed), pins maps, programs and links under the
// --bpffs directory so that a restarted routerd finds and reuses them, attaches the
// programs to links, and reads their counters.
//
// Tunnels: tun_encap runs at TC ingress of the hidden end of a tunnel's veth pair;
// tun_decap runs at XDP (native, else generic) on the underlay, or tun_decap_tc at TC
// where XDP cannot attach. The tunnel maps are keyed by the hidden end's ifindex.
package dataplane
