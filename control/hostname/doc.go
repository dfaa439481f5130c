// Package hostname resolves the host names RouterOS accepts in place of an address
// (a tunnel's remote-address, an IPsec peer's address and the dynamic peers of a
// tunnel's ipsec-secret, /ping, a firewall address-list entry, /tool e-mail's server,
// :resolve) as RouterOS
// does: through /ip dns only, its static entries first, then its servers and
// dynamic-servers, never the machine's resolv.conf.
//
// One Resolver serves every engine: cmd/routerd makes it, the script interpreter uses it
// for :resolve, and the hostname engine offers it to the others through the engine host
// (engine.Lookup[*hostname.Resolver]). It keeps each answer for the record's TTL, held
// between MinTTL and MaxTTL (a static entry's ttl=, a server's answer's, the smallest
// along a CNAME chain), asks again when it runs out, and forgets everything when /ip
// dns or its static entries change, or (within a second) its dynamic-servers, telling the engines that asked (OnChange) so they
// resolve again at once: a tunnel follows a changed record.
package hostname
