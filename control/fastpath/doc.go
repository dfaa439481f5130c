// Package fastpath runs RouterOS's FastPath in XDP: every Ethernet port routerd manages
// gets the port program (dataplane's xdp_port, the same program that decapsulates
// tunnels on an underlay, so a port has one XDP program whatever its roles), which
// forwards IPv4 and IPv6 packets itself (bpf_fib_lookup, TTL/hop limit, MAC rewrite,
// redirect through a devmap) and hands the stack everything the kernel must see: packets
// to us, TTL at most 1, over the egress MTU, IP options, unresolved neighbours, packets
// leaving by a port that cannot take redirected frames, what the kernel would drop
// (malformed IPv4/IPv6 headers, martian addresses: the stack applies its own checks),
// TCP/UDP packets whose checksum is still partial (a veth or tap sender with TX checksum
// offload; redirected from XDP they would arrive incomplete, the stack completes them),
// IPv4 sources the kernel refuses (fib_validate_source: one of our addresses unless
// accept_local, rp_filter strict or loose, the route back under custom routing rules;
// this engine hands the program our addresses, kept from the address events after one
// dump (a 10,000-address import costs a map write per address, not a dump per burst), and
// each interface's rp_filter/accept_local every pass), packets that would leave by the
// port they came in on (the kernel also sends an ICMP redirect), transit ICMP errors
// (the kernel's multipath hash reads the packet they quote), and, as in RouterOS, every packet
// of a family while a firewall rule (filter, nat, mangle, raw), an IPsec policy or a queue
// is configured or /ip settings allow-fast-path (/ipv6 settings allow-fast-path) is no.
// Tunnels with allow-fast-path=yes forward their decapsulated L3 payload in the same pass
// (GRE, IPIP, 6to4; EoIP when the tunnel is routed, its inner frame addressed to the
// tunnel interface). A bridged EoIP tunnel's frames are delivered to its interface and
// switched by the kernel's bridge (no IP stack, no netfilter unless br_netfilter): XDP has
// no bridge FDB lookup, and skipping the bridge would skip its learning of the remote
// MACs, port states (STP), VLAN filtering, horizon and loop protection.
//
// It publishes the counters of /ip settings and /ipv6 settings (ipv4-fast-path-*,
// ipv6-fast-path-*), a fast-path property per port in /interface print detail, and
// per-port Prometheus counters (routerd_fastpath_pass_total by reason). FastTrack
// refreshes a connection's conntrack entry with the namespace's established TCP and UDP
// stream timeouts, which this engine hands to the program (fp_config) every pass.
//
// Multipath routes: the lookup is given the flow's ports, so that with
// fib_multipath_hash_policy 1 a flow takes the next hop the kernel's software hash picks
// (a NIC's RSS hash, which the kernel prefers when the driver set one, is not seen).
//
// FastTrack: TCP/UDP connections a fasttrack-connection rule of the family marked
// (conntrack mark bit 31; /ip or /ipv6 firewall filter or mangle) are looked up with
// bpf_xdp_ct_lookup and forwarded with their NAT applied (addresses, ports, checksums)
// while the firewall blocks FastPath for the family; /ip and /ipv6 settings show
// ipv4-/ipv6-fasttrack-*, and the filter's dummy rule their counters.
//
// Not covered yet: sending into tunnels (traffic routed into a tunnel goes
// through the stack), ports that are bridge members (the bridge forwards them; while
// FastTrack is on, /ip settings' status names those ports and says why). Dynamic
// firewall rules other engines add block the fast path once the firewall applied them
// (firewall.DynamicRules.RulesApplied, looked at every pass).
package fastpath
