// Package dhcpinform answers the DHCPINFORM a Windows IKEv2 client sends through its tunnel
// once the CHILD SA is up, with the split-include networks of the mode config that gave it
// its address, as classless static routes.
//
// Windows ignores the INTERNAL_IP4_SUBNET attributes of mode config (split-include) and
// asks for 0.0.0.0/0; the reference says RouterOS then answers the client's DHCP option 249
// request with the configured split-include networks. This package covers that much of DHCP
// (RFC 2131 DHCPINFORM/DHCPACK only): it is no DHCP server. Routes go out both as option
// 249 (Microsoft's classless static routes, which Windows asks for) and option 121 (RFC
// 3442, the same encoding), each with router 0.0.0.0: the destination is reached through
// the interface the answer came in on, the VPN.
package dhcpinform
