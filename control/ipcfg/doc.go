// Package ipcfg applies the IP layer to the kernel through netlink: /ip address and /ipv6
// address, /ip route and /ipv6 route; it keeps /ip pool with the lease API other
// subsystems (IPsec mode-config) use, /ip dns with the resolver routerd itself uses, and
// the /ping command.
//
// Ownership: every address and route routerd installs carries the protocol number Proto
// (IFA_PROTO on addresses, RTPROT on routes). Reconciliation only ever deletes kernel state
// with that mark, and a restarted routerd recognises what it installed before; state with
// any other mark shows as dynamic (D) rows.
package ipcfg
