// Package esp is routerd's ESP data path (RFC 4303, RFC 3948 UDP encapsulation) behind one
// interface, Datapath, with two implementations chosen at start by Probe:
//
//   - "kernel-xfrm": SAs and policies in the kernel's XFRM through netlink
//     (vishvananda/netlink); ESP-in-UDP with UDP_ENCAP_ESPINUDP set on IKE's 4500 socket. Used
//     where the kernel has ESP (esp4/esp6 and the AEAD/authenc templates), which is where
//     routerd usually runs.
//   - "userspace": ESP in Go for kernels without it. Inner packets go through a TUN device
//     with virtio-net headers and TSO/USO offloads (so a GSO batch is one read); routerd's own
//     security policy database (SPD) selects them; the security association database (SAD)
//     keeps sequence numbers, the anti-replay window (RFC 4303 3.4.3, 64..4096 packets;
//     extended sequence numbers on request), byte and time lifetimes. Outer packets leave by
//     a raw IP protocol 50 socket or by IKE's UDP 4500 socket without the encap option (IKE
//     reads 4500 and hands ESP to InputUDP; the non-ESP marker tells IKE from ESP). No XFRM
//     policy is ever installed in this mode: on a kernel without ESP an XFRM policy silently
//     blackholes its traffic.
//
// How traffic reaches the userspace path: for every encrypt policy routerd puts a route to
// the policy's dst-address through the TUN device (src = a local address inside the policy's
// src-address when there is one) into its own routing table (DefaultConfig: table 220), with
// an ip rule sending everything not carrying the bypass firewall mark to that table first. Outer
// packets (raw ESP, UDP 4500 and IKE's 500) carry the bypass mark, so they never loop back
// into the TUN even in transport mode, where the route is the peer's own address. Inbound,
// decrypted inner packets are written into the TUN and the kernel receives them as if they
// arrived on it (rp_filter is off on the TUN).
//
// Covered: ESP with aes-128/192/256-gcm (16-byte ICV, RFC 4106), chacha20poly1305 (RFC 7634),
// aes-128/192/256-cbc (RFC 3602), aes-128/192/256-ctr (RFC 3686), 3des (RFC 2451) and null
// (RFC 2410), integrity md5/sha1 (96-bit ICV, RFC 2403/2404), sha256/384/512 (RFC 4868
// truncation to half); tunnel and transport mode, IPv4 and IPv6 inner and outer; SA counters
// and the /ip ipsec statistics counter names. Not covered: AH, ESP TFC padding, IPcomp.
package esp
