// Package dataplane is the Go side of routerd's eBPF programs (bpf/): it loads the
// compiled objects (bpf2go output, committed), pins maps, programs and links under the
// --bpffs directory so that a restarted routerd finds and reuses them, attaches the
// programs to links, and reads their counters.
//
// Tunnels: tun_encap runs at TC ingress of the hidden end of a tunnel's veth pair;
// tun_decap runs at XDP (native, else generic) on the underlay, or tun_decap_tc at TC
// where XDP cannot attach, or tun_decap_l3 at TC on an underlay without a link-layer
// header (the userspace ESP path's TUN). tunnel_cfg is keyed by the hidden end's ifindex; each tunnel
// also has a slot, the index of its per-CPU counters (tunnel_stats) and of its receive
// entry in tunnel_slots. A received packet is matched through tunnel_rx_index (an array
// indexed by a hash of remote, protocol and EoIP tunnel-id that the Go side fills) and,
// where that finds nothing, through tunnel_rx, the complete table with its wildcards.
package dataplane
