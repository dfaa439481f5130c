// Package esp is routerd's ESP data path (RFC 4303, RFC 3948 UDP encapsulation) behind one
// interface, Datapath, with two implementations chosen at start by Probe:
//
//   - "kernel-xfrm" (kernel.go): SAs and policies in the kernel's XFRM. routerd builds the
//     netlink messages itself (NEWSA/UPDSA/DELSA, UPDPOLICY/DELPOLICY with templates) so
//     tests check them attribute by attribute on kernels that cannot run them; it sets
//     UDP_ENCAP_ESPINUDP on IKE's 4500 socket, turns XFRM EXPIRE and ACQUIRE multicasts into
//     Events and reads the statistics from its namespace's /proc/net/xfrm_stat. Used where the
//     kernel has ESP (esp4/esp6 and the AEAD/authenc templates), which is where routerd
//     usually runs.
//   - "userspace" (userspace.go): ESP in Go for kernels without it. Inner packets go through
//     a TUN device with virtio-net headers and TSO/USO offloads (a GSO batch is one read,
//     split in Go by gso.go, which reads the device itself: a protected tunnel's GSO
//     packet arrives whole with its outer IPv4 and GRE/IPIP headers in front, which the
//     TUN library's split cannot segment; forwarded traffic, one packet a read, is
//     drained after each wakeup until the device is empty or the batch full, and the
//     batch is encrypted and handed to a send stage on a goroutine of its own, which
//     sends it at once while the next batch is read (a batch of a few packets, as UDP
//     that does not aggregate comes, the loop sends itself while the stage is idle: a
//     hand-over per wakeup cost more system calls and context switches than the send);
//     decrypted packets are written in
//     batches the TUN library coalesces into GRO super-packets: the raw IPv4 reader
//     and the UDP 4500 reader (InputUDPBatch) write what each read gave themselves, the
//     raw IPv6 reader and InputUDP hand theirs to a writer goroutine); routerd's own security policy database (SPD, first match in
//     RouterOS order); a security association database (SAD) with sequence numbers, the
//     anti-replay window (RFC 4303 3.4.3, any size; ESN with the Appendix A inference),
//     byte and time lifetimes raising Events. Outer packets leave by a raw IP protocol 50
//     socket (IPv4 with IP_HDRINCL, IPv6 with IPV6_PKTINFO; sendmmsg) or by IKE's UDP 4500
//     socket without the encap option (UDP GSO: one sendmsg per run of equal-size datagrams
//     to a peer); they come in by the raw sockets (recvmmsg) and by InputUDPBatch, to
//     which IKE hands the ESP of each read of its 4500 reader, after the non-ESP marker
//     test (ike.ESPBatchInput; ServeUDP is such a reader, with recvmmsg and UDP GRO). With Config.RxSteer (routerd: the eBPF
//     dataplane) and Config.SteerRx (opt-in, ROUTERD_ESP_RXSTEER=port-gro: on the veth
//     rig GRO found nothing to merge and it was slower, docs/perf.md) inbound raw IPv4 ESP of the installed SAs takes a third way (steer.go):
//     the port program (bpf/tunnel.c esp_steer, XDP) rewrites it into UDP to a socket of
//     the path on an ephemeral port, so that the port's GRO carries it up 64 KB at a
//     time (one read, one wakeup) instead of one skb, raw-socket delivery and wakeup per
//     packet; it is decrypted by the same code, with the same SA lookup, anti-replay,
//     lifetimes and counters as from the raw socket. Only while no IPv4 firewall rule
//     (filter, nat, mangle, raw, in any chain a packet to the router passes; dynamic
//     ones too) or queue could see it (the fast path engine decides, SetESPSteer); IPv6,
//     fragments, IP options, jumbo frames and ports without the program stay on the raw
//     socket. /ip ipsec statistics print says which way it is now (datapath-receive:
//     port-gro or raw-socket) and how many packets came by port-gro
//     (receive-steered-packets); installed-sa print says it per inbound SA. The socket
//     takes only datagrams that came in on an interface the program runs on (the rest
//     were never ESP: in-errors), and the timer loop sets the steering again when a new
//     OpenTunnels reset it. No XFRM policy is ever installed in this mode: on
//     a kernel without ESP an XFRM policy silently blackholes its traffic.
//
// How traffic reaches the userspace path: for every outbound encrypt or discard policy a
// route to the policy's dst-address through the TUN device (src = a local address inside the
// policy's src-address when there is one; in transport mode that is the host's own address)
// goes into routerd's table (Config.Table, 220), and an ip rule sends everything that does
// not carry the bypass firewall mark to that table first. A policy that also selects a
// protocol or a port (a tunnel's ipsec-secret policy: gre between two hosts) has its route
// in Config.SelectorTable (221) instead, reached by an ip rule of its own with those
// selectors (selrules.go), so that the host's other traffic to that peer, and the kernel's
// resolution of a gateway there, keep the real interface, as with XFRM. Outer packets (raw
// ESP, UDP 4500, and IKE's 500 socket when the engine marks it with SetBypassMark) carry
// the mark, so they never loop into the TUN, even in transport mode. A wide route (a full
// tunnel's 0.0.0.0/0) has throw routes beside it for the host's connected networks (a
// point-to-point address's peer prefix too) and the IKE peer, so that they stay in the
// main lookup; an address subscription in the path's namespace syncs them when the
// host's addresses change (addrwatch.go): the first change at once (a new network
// goes into the tunnel for ~2 ms, TestAddressThrowWindow), those within 200 ms of a
// sync together when that time ends; a route the kernel keeps refusing is logged once
// until the error changes or clears. A packet that the routes bring in but no
// policy wants (action none, or no match) is sent on in the clear through a raw socket with
// the mark (IPPROTO_RAW, one per family: an IPv6 full tunnel to ::/0 steers all of the
// host's IPv6 into the TUN too). One larger than the link it then leaves by is
// fragmented (IPv4 without DF) or answered with ICMP fragmentation needed / ICMPv6 packet
// too big carrying that link's MTU, as the kernel's forwarding would (toobig.go: the
// TUN's MTU follows the tunnel, not that link). One an encrypt policy of level require or unique wants while it has no SA is
// dropped (and asks IKE for one), only level=use sends it in the clear. Routes and
// selector rules change make-before-break (a changed route is replaced in place, new
// rules go in before old ones leave, an old rule before its route), and beneath every
// protected destination's route lies a blackhole of the lowest preference (backstop), so
// that a missing steering route (the device deleted and not yet made again, a route the
// kernel refused) never lets protected packets fall through to the main table in the
// clear; a full tunnel's (0.0.0.0/0, ::/0) is in a table of its own, BackstopTable (222),
// which only the policy's sources (and its protocol and ports) reach, and, where the
// policy's source holds an address of the host, the host's own traffic after Table
// (fullbackstop.go ownRules: IPv4 lookups without a source, all of IPv6's, routing-marked
// ones too, not the bypass mark's nor a none policy's before the tunnel). A none policy
// with a src-address that no earlier encrypt policy overlaps gets a rule that selects its
// source and destination and goes past them all (nonerules.go), so that its packets pass
// while routerd is down as while it runs. The backstops, and the ip rules that lead to
// their tables (and past them), outlive the process: Close (routerd stopping) leaves them, a crash does too, and the
// next Open adopts them without a gap, so that protected destinations are dropped while
// routerd is down or starting; its first policies remove those no longer wanted, and a
// backstop goes with its policy. PrearmBackstops installs them before the data path opens
// (a host that boots), ClearBackstops removes them without it (prearm.go). A host that no
// longer runs routerd keeps them until they are deleted by hand (ip rules of priority 217
// to 220 and 222 to 225, tables 220 to 222, the IFB device Config.HoldDevice).
// Inbound, decrypted inner packets are written into the TUN and the kernel
// receives them as if they arrived on it (rp_filter off on the TUN); in transport mode the
// inner header is rebuilt from the outer addresses and, behind a NAT (ESP-in-UDP), the
// TCP/UDP checksum is recomputed (RFC 3948 3.1.2), in IPv6 ICMPv6's too (its
// pseudo-header has the addresses). That header says the payload is a whole
// datagram, so one that cannot be (a UDP length not the payload's, a TCP header beyond
// it, a failing ICMP or ICMPv6 checksum: a peer that encrypted fragments one by one) is
// counted as in-state-mode-errors and dropped.
//
// Transport mode carries whole datagrams (RFC 4303 3.1.1): the host's own datagrams above
// the TUN's MTU arrive from it in fragments, which the out loop puts together again
// (reasm.go: a fragment whose first fragment selected a transport-mode SA between the
// packet's own addresses; bounded in datagrams, bytes and time) and encrypts once; the ESP
// packet above the path's MTU is fragmented by the kernel as the tunnels' are. The
// nftables require chain lets UDP's non-first fragments addressed to this host pass (the
// first one decides), so that such ESP-in-UDP is not dropped where no conntrack
// reassembles it first. Tunnel mode encrypts inner fragments one by one. While an
// outbound policy selects ports, a datagram's later fragments (no ports) take the policy
// its first fragment got, and one whose first was not seen is dropped as
// out-policy-blocked (fragfollow.go; RFC 4301 7.1).
//
// Algorithms (RouterOS names): aes-128/192/256-gcm with the 16-byte ICV (RFC 4106),
// chacha20poly1305 (RFC 7634), aes-128/192/256-cbc (RFC 3602), aes-128/192/256-ctr (RFC
// 3686), 3des (RFC 2451), null (RFC 2410); integrity md5 and sha1 (96-bit ICV, RFC 2403/2404),
// sha256/384/512 (RFC 4868). Checked against scapy's ESP both ways and against tshark's
// decryption (interop_test.go), and against strongSwan's kernel-libipsec through routerd's
// IKE (ike/esp_interop_test.go).
//
// Inbound policies on the userspace path: decrypted packets are checked against them
// (in-no-policies, in-policy-blocked, in-template-mismatches); cleartext packets that match
// an inbound require/unique policy but did not come out of the TUN are dropped by an
// nftables table of its own (require.go, inet routerd_ipsec, prerouting) and counted as
// in-template-mismatches; IKE (UDP 500/4500), ESP and IPv6 neighbour discovery (ICMPv6
// 133-137 with hop limit 255, which the kernel sends by the device, never through the TUN)
// are exempt, ND from outbound discard policies too.
//
// Not covered: AH, TFC padding (dummy packets, next header 59, are dropped on receipt),
// IPcomp, GCM with 8/12-byte ICVs.
package esp
