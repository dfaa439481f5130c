// Package tunnel applies /interface gre, eoip, ipip and 6to4: each tunnel becomes a veth
// pair whose visible end carries the tunnel's name (addresses and routes go there) and
// whose hidden end runs the eBPF encapsulator; the decapsulator runs on the underlay
// interfaces the tunnels' remote addresses are reached through (package dataplane). The
// engine also sends keepalives, keeps the running flag, and exports the per-tunnel
// counters as Prometheus metrics.
package tunnel
