// Package dns implements the DNS server that /ip dns allow-remote-requests=yes turns on:
// a caching forwarder (RFC 1034/1035, with github.com/miekg/dns for the wire format) on
// UDP and TCP port 53 that answers from /ip dns static first (A, AAAA, CNAME, MX, NS, TXT,
// NXDOMAIN and FWD entries by name, match-subdomain or regexp), then from its cache, then
// from the servers of /ip dns. The cache is bounded by cache-size (KiB of messages) and
// every TTL by cache-max-ttl; negative answers are cached for the SOA minimum (RFC 2308).
// /ip dns cache print lists it and /ip dns cache flush empties it. Servers other engines
// learn (DNS servers an IPsec mode config responder hands us) are DynamicServers: shown
// in /ip dns dynamic-servers and asked after the configured servers.
package dns
