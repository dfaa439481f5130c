// Package ipsec is the /ip ipsec engine: it decodes profiles, proposals, peers,
// identities and policies (with groups and templates) into the IKE daemon's
// configuration (package ike: IKEv2, and IKEv1 for exchange-mode main, aggressive and
// base, with proposal-check and lifebytes), installs the CHILD_SAs and the security
// policy database into the ESP data path (package ike/esp: kernel XFRM or userspace, chosen by a probe),
// and shows active-peers (kill-connections), installed-sa (flush), statistics and the
// policies' ph2-count/ph2-state; Prometheus metrics of IKE SAs, CHILD SAs, rekeys, DPD
// failures, ESP bytes and every statistics counter.
//
// Mode config (responder: address or /ip pool, prefix length, split-include, static-dns;
// initiator: the address received goes on lo), generate-policy from the identity's
// policy-template-group (dynamic policies shown with flags D and A) and initiators that
// propose their templates (the reference's GRE over IKEv2 client).
//
// Policies keep the menu's top-to-bottom order in the data path; the policies generated
// from a template take the template's place there and in print, so a static discard or
// none policy below the template (the reference's "Using generic IPsec policy") comes
// after them. Such a peer-less policy keeps the sa-src-address and sa-dst-address it was
// given; inbound cleartext matching a discard policy first is dropped (in-policy-blocked).
// An encrypt policy of level require or unique whose peer is not up (no SA, and no
// local-address to know its endpoints by) is in the data path all the same: its packets
// are dropped (out-no-states) and ask IKE for an SA, never routed in the clear by the
// main table while the peer reauthenticates, was killed or never answers; level=use
// sends them in the clear until there is an SA. In XFRM its template has the peer's
// address and a wildcard source the kernel fills; a peer without an address (0.0.0.0/0)
// gets a block policy instead, as there is no one to acquire an SA from. The same holds
// while the policy's peer is disabled or not usable, or it has no peer at all (peer
// unset): the policy is invalid (I), its status says why ("no peer", the peer is
// disabled) and that its traffic is held, and its packets are dropped
// (no acquire; in XFRM a block policy) until the peer is back, rather than sent in the
// clear (the data path opens for such a policy even with no usable peer). A policy whose
// peer is usable but has no usable identity (none, disabled, or one that cannot apply)
// is applied and held the same way, as that peer never negotiates; it is not invalid,
// but its status says so ("peer "x" has no identity: its traffic is held"), logged once. On the
// userspace path such a policy's backstop is there before any engine runs (Prearm, called
// by cmd/routerd: a host that boots routes its addresses before this engine's first
// pass), and a pass whose data path does not open removes what is left.
// A mode config responder sends its split-include networks and narrows the CHILD_SA to
// the policy template only (a Windows client asking for 0.0.0.0/0 gets it, as the
// reference's known limitations say); a RouterOS initiator keeps, of the responder's
// side, the networks it was sent: one dynamic policy per network (ike/splitinclude.go).
// Windows then asks by DHCPINFORM through the tunnel; while a responder mode config has
// split-include, UDP port 67 answers a client's mode config address with those networks
// as option 249 and 121 (dhcpinform.go, ike/dhcpinform).
//
// A tunnel's ipsec-secret (GRE, EoIP, IPIP, 6to4) adds a dynamic peer (ike2, default
// profile) to its remote-address with an identity of that pre-shared key and a
// transport-mode policy for the tunnel's protocol between its endpoints, phase 2
// sha1/aes-128-cbc; all three print with flag D and go with the tunnel (tunnels.go).
// The tunnels to one address share the peer and identity (their secrets must agree: a set
// of one's ipsec-secret gives it to the others to that address, and the peer re-keys), and
// those of one protocol share the policy: a GRE and an EoIP tunnel to one address are both
// gre between the same endpoints, so they get one policy (its comment names both) and
// one CHILD SA rather than two identical policies that cannot both work. On
// the userspace path the tunnel's encapsulator routes in the ESP path's selector table
// only, so nothing leaves in the clear before the policy is installed (control/tunnel
// ipsecTable); its decapsulator runs on the ESP device too, and its keepalives go through
// the same encapsulator (control/tunnel sendKeepalive), so that they ride the SA as well
// and are dropped, never sent in the clear, while that table has no route to the remote
// (issue 12: routed by the kernel, they fell through to the main table whenever the
// policy's rule or route was missing, at the tunnel's creation). The policy's ip rule selects
// the tunnel's protocol alone: a static route via the peer and the host's other traffic
// to it keep the real interface (ike/esp selrules.go). An
// EoIP frame, which may be any frame (ARP), is wrapped in front of its Ethernet header,
// so the kernel still sees its network header inside; it is received once more on the
// tunnel's hidden end, parsed as the outer IP packet, and only then sent into the ESP
// device (bpf/tunnel.c eoip_resend). A tunnel without a secret whose packets a policy
// selects (a plain EoIP beside a GRE with a secret between the same addresses: both
// are protocol gre) rides that policy's SA, as it would through XFRM.
//
// Dynamic firewall rules through the firewall engine's DynamicRules service (rules.go):
// mode config initiators with src-address-list (and connection-mark) get one src-nat to
// the received address per dynamic policy ("ipsec mode-config"), identities with
// notrack-chain raw notrack rules for their generated policies, and the router's IKE and
// every tunnel-mode policy's traffic are accepted in srcnat ahead of any masquerade.
// Mode config system-dns sends the /ip dns servers after static-dns.
//
// Algorithms the build cannot run (blowfish, camellia, twofish, des) are refused at add
// and set. Items that are stored but cannot apply are marked invalid with the reason
// (an auth-method the exchange mode does not have: eap and eap-radius need ike2,
// rsa-signature-hybrid IKEv1 main or aggressive mode). proposal-check
// and lifebytes are ignored with exchange-mode=ike2, as the reference says RouterOS does.
// match-by=certificate is certauth.go's; xauth-use-radius=yes sends XAuth logins /ip ipsec user does not know to /radius
// (xauthradius.go; IKEv1 responders only), accounted as eap-radius logins are (settings accounting=, interim-update=).
//
// Dead peer detection counts as RouterOS does for IKEv1 (RFC 3706): once nothing has
// come from the peer for dpd-interval, a probe goes (an empty INFORMATIONAL in IKEv2,
// R-U-THERE in IKEv1), again every dpd-interval while unanswered; each probe left
// unanswered for dpd-interval is one failure, and at dpd-maximum-failures the peer is
// dead and its SAs go. So a peer that falls silent is declared dead dpd-interval x
// dpd-maximum-failures after the first unanswered probe, which is at most dpd-interval
// x (dpd-maximum-failures + 1) after the last message from it (40 s with the defaults
// 8s and 4; earlier when a probe or another request was already out). Any other request
// left unanswered for dpd-interval x dpd-maximum-failures ends the SA too
// (ike/dpdbudget.go). The reference says RouterOS ignores dpd-maximum-failures with
// exchange-mode=ike2; routerd applies it to IKEv2 as well, so that the setting
// bounds the time to notice a dead peer on either version. A responder-only peer killed
// and restarted is noticed only this way: it initiates nothing, so no INITIAL_CONTACT
// comes from it, and the unprotected INVALID_IKE_SPI a restarted node may send (RFC 7296
// 2.21.4) must not change any SA, only prompt a liveness check, which is this one.
//
// EAP (eap.go): auth-method=eap as initiator with eap-methods eap-mschapv2, eap-ttls and
// eap-peap (username/password) and eap-tls (certificate=), in the order given (the
// server picks; others are Naked), the EAP server's TLS certificate verified against
// /certificate as a tls-server (ike/eaptls.go), the responder verified by its certificate (/certificate) or secret=;
// auth-method=eap-radius as responder relaying EAP to the /radius servers of
// service=ipsec (the router authenticates with certificate=, else the identity's secret,
// else EAP-only when the client offers it), Framed-IP-Address handed out by mode config, RADIUS accounting start
// and stop when /ip ipsec settings accounting=yes (interim-update is not sent).
package ipsec
