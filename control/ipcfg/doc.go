// Package ipcfg applies the IP layer to the kernel through netlink: /ip address and /ipv6
// address, /ip route and /ipv6 route; it keeps /ip pool with the lease API other
// subsystems (IPsec mode-config) use, /ip dns with the resolver routerd itself uses, and
// the /ping command.
//
// Ownership: every address and route routerd installs carries the protocol number Proto
// (IFA_PROTO on addresses, RTPROT on routes). Reconciliation only ever deletes kernel state
// with that mark, and a restarted routerd recognises what it installed before; state with
// any other mark shows as dynamic (D) rows.
//
// Gateways (resolve.go): a route's gateway is resolved as RouterOS does, among the active
// routes of the main table (or gateway=X@table's) within its target-scope, and the kernel
// route names the link it was resolved on (via 198.18.1.1 dev ether1) whenever one is
// known: left to the kernel, an IPv4 gateway is looked up through the routing rules, and
// a rule before main's (a full IPsec tunnel's 220, default dev ipsec0) took it. Only an
// IPv6 link-local gateway without %interface is handed over unnamed (the kernel refuses
// it). A gateway the kernel still finds unreachable on that link (ENETUNREACH) is shown
// with that reason and tried again at the next link, address or route event.
//
// Passes: the engine follows the kernel's link, address and route events and has no
// periodic pass. The first pass, a retry after a refusal, and a pass after an event it
// did not cause (routerd's address deleted behind its back, another's added, a lost
// event subscription: the first pass after the loss and again the first once new sockets
// follow the events) compare every address and route with the kernel. A pass a kick
// alone started (a committed change, an event) applies only the address items whose
// stored properties or link changed since the last pass, and skips a family's route dump
// while it has no route item and no route of routerd's: a live import of 10,000
// addresses costs each address once (issue 15; docs/perf.md). The echo of an address
// routerd installed is claimed before the write, so it makes no full pass. The /ip
// address duplicate check reads the store's (interface, address) key index.
package ipcfg
