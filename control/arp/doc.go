// Package arp is the engine of /ip arp: the kernel's IPv4 neighbour table shown as
// dynamic rows (reachable, stale, failed ... with their MAC addresses), and the static
// entries configured there applied as permanent neighbours (published=yes: proxy ARP
// entries), after RouterOS's /ip arp manual page. Changes made behind routerd's back
// to its entries are put back at the next pass.
package arp
