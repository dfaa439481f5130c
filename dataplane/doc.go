// Package dataplane is the Go side of routerd's eBPF programs (bpf/): it loads the
// compiled objects (bpf2go output, committed), pins maps, programs and links under the
// --bpffs directory so that a restarted routerd finds and reuses them, attaches the
// programs to links, and reads their counters.
//
// Tunnels: tun_encap runs at TC ingress of the hidden end of a tunnel's veth pair (an
// IPsec-protected tunnel's TCP GSO packets pass it twice: outer headers put in front
// without changing the GSO type, then sent on to the ESP device whole, see whole_gso);
// tun_decap runs at XDP (native, else generic) on the underlay, or tun_decap_tc at TC
// where XDP cannot attach, or tun_decap_l3 at TC on an underlay without a link-layer
// header (the userspace ESP path's TUN). tunnel_cfg is keyed by the hidden end's ifindex; each tunnel
// also has a slot, the index of its per-CPU counters (tunnel_stats) and of its receive
// entry in tunnel_slots. A received packet is matched through tunnel_rx_index (an array
// indexed by a hash of remote, protocol and EoIP tunnel-id that the Go side fills) and,
// where that finds nothing, through tunnel_rx, the complete table with its wildcards.
//
// Ports: xdp_port is the one XDP program of a port, whatever routerd needs it for
// (xdp_ports records the roles: an underlay of tunnels, a fast path port). It
// decapsulates tunnel packets as tun_decap does and, on a fast path port, forwards IPv4
// and IPv6 packets itself (bpf_fib_lookup with the packet's length, TTL/hop limit
// decremented with an incremental checksum update, MACs rewritten, redirect through the
// fp_tx devmap, which holds only the ports that take redirected frames, see
// TakesRedirects); everything else goes to the stack untouched, counted by reason in
// fp_counters, among them what the kernel would drop (malformed headers, martian
// addresses) and TCP/UDP packets whose checksum is still partial (the sender's offload). A tunnel's L3 payload is forwarded in the same pass where its tunnel
// allows the fast path. fp_config switches the fast path per family. A veth running it
// natively gets GRO on (vethGRO): the program takes TSO from the veth's peer, and without
// GRO a LAN host's TCP would reach the stack one segment a packet.
//
// bpffs.go states the one pinning policy every routerd eBPF object follows.
package dataplane
