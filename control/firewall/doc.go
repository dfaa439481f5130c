// Package firewall applies RouterOS's /ip firewall and /ipv6 firewall (filter, nat, mangle,
// raw, address-list) to the kernel's nftables, through github.com/google/nftables.
//
// Each family's configuration compiles into one table, "ip routerd" and "ip6 routerd",
// which routerd owns and replaces in one nftables transaction: the kernel switches from
// the old ruleset to the new at once, or refuses and keeps the old one. No other table
// is touched.
//
// Layout: RouterOS chain C of table T is the nftables chain "T/C". The built-in chains of
// filter, mangle and raw are base chains on their hooks (raw at priority -300, mangle at
// -150 with output as a route chain, filter at 0); nat's srcnat and dstnat are regular
// chains jumped to from hook chains (dstnat for prerouting and output, srcnat for
// postrouting). Each rule counts in a named counter "T/id", so counters survive
// reapplying and restarts of routerd while the kernel keeps the table (print stats,
// reset-counters, Prometheus).
//
// Address list L is two sets: "list/L" (configured entries: addresses, prefixes, ranges,
// resolved DNS names, with per-entry timeouts; an interval set) and "dyn/L" (entries
// added by add-src-to-address-list and add-dst-to-address-list with
// address-list-timeout; a hash set, since the kernel cannot add to interval sets from a
// rule). A list match is "in list/L, or not in list/L and in dyn/L": matchers that are a
// disjunction of two tests (address lists, port= "source or destination") become
// mutually exclusive nftables rules sharing the rule's counter, so each packet counts
// and acts once.
//
// A rule's value lists are sets, not alternatives (issue 15): src-port=, dst-port= and
// port= lists of ports and ranges (merged, an anonymous interval set; one range is a
// range compare), the members of an interface list (and all-ethernet ...), the types of
// src-/dst-address-type= and time='s days are each one lookup in an anonymous constant
// set the rule carries (sets.go); "!" is the inverted lookup. So
// `in-interface-list=WAN dst-port=21,22,80,443 src-port=1024-2047,4000-4999` is one kernel
// rule, where it was the cross product (3 x 4 x 2 rules). The apply creates each set in
// the transaction that adds its rule; the kernel deletes it with the rule. An interface
// list's members are part of its rules' fingerprints, so a change of members brings the
// rules again with new sets in the pass's one transaction.
//
// Lists live apart from rules, as in RouterOS: a list no configured entry and no enabled
// rule names any more keeps its sets while its dynamic set has entries (disabling the
// port-knocking rules does not lock the knocker out; orphans.go), until the last expires.
//
// address-list-timeout=none-static adds a configured entry, as RouterOS keeps it: the
// rule adds to dyn/L with a marker timeout and the engine saves the address into the
// configuration within a second (keep.go).
//
// Blocklist scale (issue 15): a list and address may name one entry (the menu's
// UniqueKey, checked in the add's own transaction through the store's key index, so an
// add costs the same on 100,000 entries as on none); listcheck.go only asks the kernel
// whether a rule added the address, and not even that for a list whose dynamic set was
// read empty while no rule fills it. A pass sends a list without timed entries only the
// ranges that changed since the last (Kernel.applyDiff), not the whole set again.
// Memory per entry: the engine keeps a few words per configured entry (entryMeta: its
// creation-time, the hash of the value the store's meta bucket has); what print shows
// beyond the configuration (creation-time, a timed entry's countdown and D flag) is
// computed when print asks (control.Executor.ProvideRowProps), and only an entry that is
// invalid or has a status holds a control.ItemState. print count-only counts the stored
// entries by their keys without reading them.
//
// A configured entry with timeout= gets the time left as its kernel timeout and leaves the
// configuration when it runs out, as in RouterOS (the timer starts when routerd first
// applies the entry or its timeout changes; a restart starts it again). Every entry's
// creation-time is kept in the store's meta bucket, so it survives restarts and reboots,
// as RouterOS keeps it; so are those of the entries rules added and of the addresses
// DNS names resolved to (while the kernel keeps the former). Entries given by
// DNS name are resolved through /ip dns (control/hostname's shared resolver: static
// entries, then its servers) and resolved again when the record's TTL runs out (at least
// the resolver's MinTTL); a changed answer reapplies the table.
//
// Marks, the one bit map of the packet mark (skb->mark):
//
//	0xfff00000  routing-mark: the routing table's number (control/routing); the all-ones
//	            value routing.ReservedMark is no table's: it is ike/esp's bypass mark
//	            (SO_MARK on IKE's and ESP's outer sockets, ip rule "not fwmark
//	            0xfff00000/0xfff00000 lookup 220", the discard chains' exemption), so no
//	            table aliases it, and mark-packet and the bridge-port class keep it;
//	            mark-routing may replace it (IKE out a backup table): ike/esp's rules
//	            for this host's own ESP and IKE do not depend on it
//	0x000f0000  the class of the bridge port the packet entered through (in-bridge-port)
//	0x0000ffff  packet-mark (names allocated numbers, as control/queue matches them)
//
// Connection marks are the conntrack mark: bit 31 is FastTrackMark, the low 31 bits
// connection-mark (names allocated numbers).
//
// How names map (Marks, marks.go): the engine allocates each packet-mark and
// connection-mark name a number from one table for the whole box (both families, and
// control/queue's packet-marks through the *Marks the engine offers). A new name gets
// NameMark's FNV-1a hash of it (16 bits for packet marks, 31 for connection marks; 0 is
// no-mark) when that number is free, else the next free one; so two names never share a
// number (16 bits: user98 and user1220 are both 0xc50b; even odds at ~300 names), and a
// name keeps its number while the table has it. A pass allocates the names rules set
// before the names they only match. The table is kept in the store's meta bucket
// (firewall/marks) once a second when it changed, and read at start, leaving out the
// names no rule names any more: numbers survive restarts, as conntrack's connection
// marks do.
//
// Dynamic rules (flag D, never exported) come from other engines through the
// *DynamicRules service the engine offers on the engine host (Register; consumers call
// engine.Lookup[*firewall.DynamicRules](h) and Set(owner, rules) / Withdraw(owner)). They
// apply before the configured rules of their table; a rule that cannot apply is refused by
// Set with the reason.
//
// FastTrack: fasttrack-connection sets FastTrackMark (bit 31) in the connection's conntrack
// mark; connection marks use the low 31 bits (ConnMarkMask), so the two never disturb each
// other. The XDP fast path forwards the packets of connections carrying the bit and offers
// its counters as a FastTrackCounters service; while an enabled fasttrack-connection rule
// exists, the filter table shows RouterOS's "special dummy rule to show fasttrack counters"
// (D) with those counters. /ip firewall connection shows such connections with flag F.
//
// ipsec-policy: two data paths, both compiled into every such rule. The kernel's XFRM
// (meta secpath for in, rt ipsec for out) is active where the kernel has ESP; routerd's
// userspace ESP (ike/esp, the active path on kernels without ESP, such as the test
// machines) writes decapsulated packets to its TUN ipsec0 and routes packets to protect
// into it, so in,ipsec is "came in on ipsec0" and out,ipsec "goes out on ipsec0". Combined
// with in-interface=X (out-interface=X) the kernel path also needs X, while the userspace
// path accepts ipsec0 whichever interface carried the ESP: the reference's
// `in-interface=WAN ipsec-policy=in,ipsec` accepts decapsulated traffic on both paths.
// (test/firewall TestReferenceIpsecPolicyTraffic runs it against charon.)
//
// Service ports (/ip firewall service-port, RouterOS's defaults: ftp, tftp, irc, h323,
// sip, pptp on; rtsp off) assign the kernel's connection tracking helpers through nftables
// ct helper objects ("helper/NAME/PROTO") from base chains on prerouting and output, in
// both families (IRC and PPTP exist only for IPv4 in the kernel). rtsp is refused: Linux
// has no RTSP helper; udplite, dccp and sctp select no helper and cannot be turned off.
// connection-type= matches "a helper is assigned and the connection's original protocol
// and port are those of that service port": the kernel's ct helper expression does not
// match entries whose helper an object assigned (seen on 6.18; `nft` shows the same).
//
// Covered: matchers src/dst-address (!, prefixes, ranges), src/dst-address-list,
// src/dst-address-type, protocol, src-port, dst-port, port, in/out-interface,
// in/out-interface-list, connection-state, connection-nat-state, connection-type, connection-mark,
// packet-mark, routing-mark, ipsec-policy (meta secpath / rt ipsec), icmp-options,
// tcp-flags, tcp-mss, packet-size, ttl, dscp, src-mac-address, fragment (IPv4), random,
// nth, limit, dst-limit (a per-rule meter set whose elements carry a limit, keyed as
// RouterOS's modes say: dst-address, src-address, src-and-dst-addresses,
// dst-address-and-port, addresses-and-dst-port), connection-limit
// (a meter with connlimit: ct count over N per source block), per-connection-classifier
// (jhash of the packet's fields with one seed for all rules, modulo every; with ports, a
// packet of a protocol without ports (not tcp, udp, udplite, sctp, dccp: meta l4proto)
// hashes its ports as zero, so one ping stays in one class), time (meta hour
// and day, in /system clock's zone: the kernel counts hours in UTC and days in sys_tz, so
// the window is shifted by both offsets and compiled again when either changes, zone.go); actions change-mss (new-mss=N or clamp-to-pmtu via rt mtu), accept, drop, reject (reject-with), jump, return, passthrough, log,
// add-src/dst-to-address-list, src-nat, dst-nat, masquerade, redirect, netmap, same,
// notrack, mark-connection, mark-packet, mark-routing, change-dscp (the traffic class's DSCP bits, IPv4
// and IPv6), change-ttl and change-hop-limit (set:N a payload write; increment:N and
// decrement:N a constant map of the 256 TTL values to their result, written back:
// nftables cannot add to a header field), fasttrack-connection, set-priority (meta priority, which priority= matches;
// from-dscp and from-dscp-high-3-bits a constant map of the DSCP to the priority),
// change-hop-limit; content= (the kernel's xt_string through nft_compat), IPv6
// headers= (xt ipv6header), NAT's randomise-ports (the random flag) and
// same-not-by-dst (action same hashes source and destination, or with yes the source
// only: the persistent flag).
//
// What nothing here carries out is kept, exported and shown invalid with the reason,
// never applied with the part left out: an export of a RouterOS box loads whole. The
// matchers and parameters are the schema's (menu.Prop.Unsupported: psd, layer7-protocol,
// p2p, realm, hotspot, connection-rate, ingress-priority, routing-table, tls-host,
// route-dst, sniff-*, src-prefix and dst-prefix), refused by engine.Decode; the actions
// are unsupportedActions (tarpit, route, sniff-tzsp, sniff-pc, clear-df,
// strip-ipv4-options, snpt, dnpt, endpoint-independent-nat), and a few values
// (ErrNotSupported: new-priority=from-ingress, ipv4-options timestamp, IPv6
// fragment) are found by Rule.Check, which add and set let through
// and the pass shows invalid. Placement out of a hook stays refused at add:
// out-bridge-port and out-bridge-port-list in input, prerouting, dstnat and output,
// in-bridge-port in output, postrouting and srcnat.
//
// in-interface and out-interface all-ethernet, all-vlan, all-ppp and all-wireless name
// every interface of the kind, as on RouterOS: the link engine resolves them like
// interface lists (link.IfaceKinds; no link here is PPP or wireless).
//
// An interface name no interface has (in-interface, out-interface, in-bridge-port,
// out-bridge-port) is refused at add and set, as RouterOS refuses it,
// except from a script file (/import, routerctl -f: control.Session.Import): the box's
// own export must always import, and it names what a rule was acknowledged with (a PPP
// session's interface, a link made outside routerd, a rule stored before the check).
// Such a rule matches the name once an interface of that name appears, and its status
// says the interface is not present. Removing an interface points the rules matching it
// at its id (in-interface=*1A, out-interface=!*1A, the bridge ports too), as RouterOS shows and exports them:
// they are kept, invalid ("interface *1A not present"), and their export imports again.
// Removing an interface list does the same to in-interface-list and out-interface-list
// and to in-bridge-port-list and out-bridge-port-list ("interface list *2 not present");
// rules stored before that naming a list that is gone are pointed at an id reserved for
// it at start (control's goneListRefs); renaming an interface or a list renames it in the
// rules (control.RenameIfaceRefs, as for addresses and list members).
//
// in-bridge-port and in-bridge-port-list: the ip and ip6 families see the bridge as the
// input interface. A bridge-family table per family (routerd-ip, routerd-ip6), whose
// prerouting hook runs before the packet leaves the bridge, writes the class of the port
// it entered through into bits 16-19 of the packet mark (BridgePortMarkMask; packet-mark
// keeps the low 16 bits, routing-mark the high 12), and the ip rules match it. The mark
// stays on the packet through routing, so the matcher works in prerouting, input, dstnat
// and forward (and chains reached from them); output, postrouting and srcnat refuse it,
// as routerd's own packets enter through no port. A class is the set of ports the rules
// always take or leave together (the members of one list are one class); rules needing
// more than 15 classes are invalid with the reason. A list whose ports fall in several
// classes (other rules name some of them) is one kernel rule, a lookup in the set of its
// classes' marks.
//
// out-bridge-port and out-bridge-port-list: the bridge chooses the port from its
// forwarding database after the ip hooks of routed packets have run, but br_netfilter
// hands bridged IPv4 and IPv6 packets to the ip and ip6 forward and postrouting hooks
// with the port chosen, where the kernel's xt_physdev match (--physdev-out, through
// nft_compat, as iptables-nft uses it) sees it. That happens only with /interface bridge
// settings use-ip-firewall=yes, as on RouterOS (the default, no, keeps bridged traffic
// out of every ip hook: the matcher then matches nothing bridged). So the matcher works
// in forward, postrouting and srcnat (and chains reached from them), in its place in the
// chain, for bridged traffic with use-ip-firewall=yes; a routed packet leaving through a
// bridge has no port there (ports never match it, !ports always does). input,
// prerouting, dstnat and output refuse it. out-bridge-port-list stays one kernel rule
// per member (a packet leaves through one port, so they are exclusive): xt_physdev
// compares one name (a prefix at most), nftables has no expression for the port in the
// ip family, and the mark, which carries the input port's class, has no bits left for
// an output port's (packet-mark 16, input port class 4, routing-mark 12).
//
// use-ip-firewall (use-ip-firewall-for-vlan, -for-pppoe) is br_netfilter's
// bridge-nf-call-iptables and -ip6tables (bridge-nf-filter-vlan-tagged, -pppoe-tagged)
// of the engine's network namespace, written by each pass when they differ
// (bridgefw.go); a kernel without br_netfilter marks use-ip-firewall=yes invalid.
//
// Applying: the first pass rebuilds routerd's table in one transaction; later passes send
// in one transaction only the difference from what the last one left (Kernel.Apply), and
// compile only rules whose fingerprint changed (CompileCache). When the kernel refuses a
// transaction, it says which commands it refused (the nftables fork's CommandError);
// the configured rules among them, and the rules of a chain it refused, are left out
// and invalid with the kernel's reason, and the rest applies in one transaction again
// (RefusedError, Engine.apply). They stay out until they change, so a pass with
// nothing changed sends nothing.
//
// Cold start (prearm.go): cmd/routerd calls Prearm before any engine runs, which loads the
// stored ruleset of each family whose table the kernel does not have in one transaction
// (interface lists with their configured members, link.Boot), or, when the kernel
// refuses it whole, a lockdown that drops input (but loopback) and forward until the
// engine's first pass; a table the kernel kept is left as it is.
//
// /ip firewall connection's orig-fasttrack-packets, orig-fasttrack-bytes,
// repl-fasttrack-packets and repl-fasttrack-bytes are what the XDP fast path forwarded of
// each connection (its fp_ct_counters map, keyed by the connection's original tuple,
// offered by the fastpath engine as FastTrackConns): the kernel's per-connection
// counters never see those packets. A connection flagged F whose packets the fast path
// has not taken (the port has no XDP program, or the packets go another way) shows 0.
package firewall
