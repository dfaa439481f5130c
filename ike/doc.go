// Package ike is routerd's IKE daemon: IKEv2 (RFC 7296) and IKEv1 (RFC 2409 over the
// ISAKMP of RFC 2408) on the same UDP 500/4500 sockets, dispatched on the header's
// version; both kinds share the peers, policies, CHILD SA data path and statistics.
//
// Covered here:
//
//   - the message codec: header, SA/proposal/transform/attribute, KE, IDi/IDr, CERT and
//     CERTREQ (carried as bytes for the certificate issue), AUTH, Ni/Nr, N, D, V, TSi/TSr,
//     SK, SKF (RFC 7383), CP, EAP (as bytes); strict bounds checks, unknown critical
//     payloads reported (UNSUPPORTED_CRITICAL_PAYLOAD); FuzzParse and FuzzOpen;
//
//   - the crypto suites from Go's standard library and golang.org/x/crypto: PRF
//     HMAC-MD5/SHA1/SHA2-256/384/512 and prf+, SKEYSEED and the key schedule (2.14, 2.17,
//     2.18), integrity HMAC-MD5-96/SHA1-96/SHA2-256-128/384-192/512-256, encryption
//     AES-CBC, AES-CTR (RFC 5930), AES-GCM with 16 and 12 byte ICVs (RFC 5282),
//     ChaCha20-Poly1305 (RFC 7634), 3DES; DH MODP 768..8192 (RFC 2409/3526, primes
//     derived from pi), ECP 256/384/521 (RFC 5903) and Curve25519 (RFC 8031);
//
//   - IKE_SA_INIT and IKE_AUTH with pre-shared keys as initiator and responder, the first
//     CHILD_SA in IKE_AUTH, traffic selectors narrowed from policies (and generated from
//     templates, generate-policy), NAT detection and the float to UDP 4500 with the non-ESP
//     marker, NAT-T keepalives (RFC 3948), a NAT mapping change followed by the SAs and by
//     a transport SA's generated policy (natmove.go), INITIAL_CONTACT, INVALID_KE_PAYLOAD
//     retry, COOKIE when half-open SAs pile up (2.6), unauthenticated IKE_SA_INIT error
//     answers paced to 50 a second (2.21.4, unauthreply.go), CREATE_CHILD_SA for new and
//     rekeyed CHILD_SAs with and without PFS and for IKE SA rekeying, simultaneous CHILD_SA
//     rekey (2.8.1), INFORMATIONAL delete and dead peer detection, retransmission with
//     window size 1, fragmentation and reassembly (RFC 7383), duplicate IKE SAs from both
//     sides initiating at once resolved, simultaneous IKE SA rekey by the nonce rule
//     (2.8.2, ikecollision.go), rekeys without packet loss (rekeyswitch.go: the responder
//     sends on the new CHILD_SA once the old is deleted; deleted inbound SAs linger 2 s; a
//     policy generated from a template keeps its reqid across the peer's rekeys, so its
//     inbound check takes the new SA's packets at once, responder.go generatedReqID; a
//     peer's IKE SA rekey while a CHILD_SA exchange of ours is open on that IKE SA is
//     answered TEMPORARY_FAILURE, so no answer lands on an IKE SA whose CHILD_SAs moved; a
//     peer's CHILD_SA delete arriving on the old IKE SA after the move finds them on the
//     new one, childholder.go); a passive peer (passive=yes) never starts an IKE SA,
//     neither at start nor on traffic (Acquire): it waits for the remote, also after the
//     remote's break-before-make reauthentication deleted the old one; a refused CHILD SA
//     is asked again with a doubling backoff (1 s to 30 s, childretry.go) that traffic
//     (Acquire) does not cut short, on a passive peer too, and that starts afresh when a
//     new IKE SA with the peer comes up (not on a rekey); an IKE SA that died before it was
//     established is initiated again after the same backoff (peerchange.go), unless its
//     peer, the peer's last identity or last policy was removed: it is then logged as
//     stopped, and no retry waits;
//
//   - the configuration payload (RFC 7296 3.15) for mode config: the responder hands out
//     an address (fixed or from a pool), netmask, split networks and DNS servers and
//     narrows the peer's selectors to it (its own side to the template, not to the split
//     networks); the initiator asks for one. A generated policy never overlaps an
//     address given to another peer nor duplicates another peer's; the same fixed
//     address given again (a reconnection from elsewhere) takes the older SA's place
//     (responder.go dynamicConflict);
//
//   - identities: the responder picks the one whose remote-id matches the peer's ID
//     best (an explicit ID, then auto, then ignore); SAs authenticated with an identity
//     whose authentication changed (secret, method, IDs, credentials, mode config) are
//     deleted when the configuration is applied (identchange.go);
//
//   - peers: the responder answers IKE_SA_INIT with the most specific peer of the
//     remote's address whose profile accepts the offer (a less specific one only when
//     none of the most specific does, as strongSwan tries its next ike config, so that
//     a tunnel's dynamic /32 peer does not shadow a catch-all peer); where several are
//     equally specific (a static peer beside a
//     tunnel's ipsec-secret to one router), IKE_AUTH tries each one's identities and
//     takes the one that authenticates the remote and whose policies take its first
//     CHILD SA's traffic selectors, the narrowest policy when several do (peerswitch.go).
//
//   - EAP in IKE_AUTH (RFC 7296 2.16, eap.go): the initiator of auth-method=eap runs
//     EAP-MSCHAPv2 (package eap) and verifies the responder's AUTH by pre-shared key or
//     EAP-only (RFC 5998); the responder of auth-method=eap-radius relays the peer's EAP
//     through an EAPRelay (RADIUS), authenticating itself with the identity's secret or
//     EAP-only; both AUTHs after EAP are keyed with the MSK; accounting start and stop.
//
// IKEv1 (ikev1*.go): Phase 1 main, aggressive and base mode (base as racoon does it)
// with pre-shared keys as initiator and responder; Quick Mode with PFS, lifetimes from
// the policy's proposal and RESPONDER-LIFETIME, proposal-check (obey, claim, strict,
// exact) as responder, rekeying on the soft lifetime, delete notifications, the commit
// bit, INITIAL-CONTACT; NAT-T (RFC 3947 and the draft-02/03 vendor IDs with their
// payload numbers and encapsulation modes, float to 4500, keepalives); DPD (RFC 3706
// R-U-THERE); retransmissions answered from the last message; RouterOS's log lines for
// proposal mismatches ("rejected enctype: DB(...):Peer(...) = ours:theirs", "no suitable
// proposal found."), wrong keys ("parsing packet failed, possible cause: wrong
// password") and timeouts ("phase1 negotiation failed due to time up"). Phase 1 is
// rekeyed only with DPD on, as RouterOS does; without it, its expiry (or the peer's
// delete of it) leaves its IPsec SAs to their own lifetimes, and a new Phase 1 adopts
// them (ikev1_expiry.go). Quick Mode rekeys lose no packets (ikev1_rekey.go: the
// responder's inbound SA goes in with message 2, its outbound waits for the old SA's
// delete; the initiator sends on the old SA for a second after message 3). Both sides
// initiating at once end with one ISAKMP SA and one phase 2 per policy
// (ikev1_collision.go). FuzzHandleV1, FuzzParseV1, FuzzV1CheckAuth.
//
// IKEv1 signatures (ikev1_sig.go) in main and aggressive mode: digital-signature with
// RSA certificates (CERT, CERTREQ) or ECDSA ones (RFC 4754 methods 9-11,
// ikev1_ecdsa.go), rsa-key with bare RSA keys, and rsa-signature-hybrid (the responder
// signs, the initiator logs in with XAuth); base mode takes digital-signature and
// rsa-key too, its hashes keyed with the nonces as racoon keys them (ikev1_basesig.go).
//
// Not covered yet: MOBIKE,
// IPv6 mode-config attributes, lifebytes and proposal-check with IKEv2 (ignored, as
// the reference says of exchange-mode=ike2).
//
// The peer, identity and SA structures (PeerConfig, IdentityConfig, AuthMethodKind) keep
// the authentication method apart from the exchange so that those slot in. CHILD_SAs go
// to a Datapath (package ike/esp through the /ip ipsec engine's adapter).
package ike
