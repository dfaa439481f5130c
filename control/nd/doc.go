// Package nd implements /ipv6 nd and /ipv6 nd prefix: IPv6 router advertisements
// (RFC 4861 §6.2) on the wire. One raw ICMPv6 socket sends unsolicited advertisements at
// a random point of each interface's ra-interval and answers router solicitations; an
// advertisement carries the M/O flags, default router preference (RFC 4191), hop limit,
// router lifetime, reachable time, retransmit timer, the source link-layer address, the
// MTU, the prefixes (dynamic from /ipv6 address items with advertise=yes, plus static
// /ipv6 nd prefix items) and RDNSS (RFC 8106) from /ip dns servers when advertise-dns
// is set. Solicitations are parsed here (ParseRS) and fuzzed.
package nd
