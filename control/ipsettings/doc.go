// Package ipsettings applies /ip settings and /ipv6 settings (RouterOS 7's "IP Settings"
// page) to the kernel of routerd's network namespace through /proc/sys, the kernel's
// interface for them: forwarding (RouterOS routes by default), redirects, source routing,
// reverse path filter, SYN cookies, ICMP rate limits, ARP reachable time, TCP timestamps,
// multipath hash policy, IPv6 router advertisements and disable-ipv6.
//
// Per-interface parameters are written to conf/all, conf/default (interfaces made later)
// and every existing interface; the resync puts back what was changed behind routerd's
// back and covers interfaces that appeared since. Not covered: the neighbour table limits
// (max-neighbor-entries) when routerd runs in a child namespace, because gc_thresh3 is
// one value for every namespace of the machine (the item says so); route-cache (Linux has
// none). The fast path's and FastTrack's counters (ipv4-/ipv6-fast-path-*,
// ipv4-/ipv6-fasttrack-*) come from package fastpath (the FastPath service), which
// applies allow-fast-path.
package ipsettings
