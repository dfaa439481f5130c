// Package compat loads RouterOS 6 configurations: properties that RouterOS 7 moved or
// renamed are rewritten as RouterOS's own upgrade to v7 rewrites them, one log line per
// mapped property, where v7 kept a compatible meaning:
//
//   - /ip ipsec peer (before 6.43): secret=, auth-method=, generate-policy=, my-id= ...
//     go to an /ip ipsec identity of the peer, and enc-algorithm=, hash-algorithm=,
//     dh-group=, lifetime= ... to an /ip ipsec profile of its own (or the peer's given
//     profile= when none is set); xauth-login and xauth-password become the identity's
//     username and password; exchange-mode=main-l2tp becomes main. Unnamed v6 peers get
//     the names the upgrade gives them (peer1, peer2 ...).
//   - /ip ipsec policy that encrypts: sa-src-address= goes (the SA's source follows the
//     peer), and sa-dst-address= names the peer with that address when the policy names
//     none. A discard or none policy has no peer and keeps both as written.
//   - /ip route and /ipv6 route: routing-mark= is routing-table=, type=blackhole is
//     blackhole=yes (type=unicast is the default and goes).
//   - /tool e-mail: address= is server=, start-tls=yes is tls=starttls and start-tls=tls-only
//     is tls=yes.
//   - /interface ethernet: the v6 speed words (100Mbps, 1Gbps) and advertise words
//     (100M-full, 1000M-full) become v7's (100M-baseT-full, 1G-baseT-full).
//   - /ip ipsec peer profile (6.43; 6.44 renamed it /ip ipsec profile): every command
//     given there runs at /ip ipsec profile (control.Executor.Rename), a log line each.
//   - /ip ipsec user settings (v6; v7 moved its xauth-use-radius to /ip ipsec settings):
//     every command given there runs at /ip ipsec settings, a log line each.
//   - /system script and /system scheduler: the login policies v6 let them list (winbox,
//     api, web, telnet, ssh, local, dude, tikapp) go; v7's scripts have none of them.
package compat
