// Package usermanager is the engine of /user-manager, RouterOS 7's User Manager: a RADIUS
// server in routerd (UDP 1812 authentication, 1813 accounting by default) for the RADIUS
// clients listed in /user-manager router, with its own users and groups.
//
// Covered: PAP (RFC 2865 5.2), MS-CHAPv1 (RFC 2433 NT-Response, RFC 2548
// MS-CHAP-Response; the LAN Manager response is refused), MS-CHAPv2 (RFC 2548 MS-CHAP2-Response/Success with
// MS-MPPE keys), EAP over RADIUS (RFC 3579, with State) through package eap: EAP-MSCHAPv2,
// EAP-TLS, EAP-TTLS (ttls-pap, ttls-mschap2) and EAP-PEAP (peap-mschap2) with settings'
// certificate= from /certificate (eapmethods.go says which user a conversation is for),
// the group's outer-auths and inner-auths, shared-users counted from accounting, caller-id, the user's and
// group's attributes in Access-Accept (a dictionary of the common RFC 2865 and MikroTik
// attributes), accounting Start/Interim-Update/Stop into /user-manager session.
// Passwords are stored as their NT hash only (password-hash, never printed or exported):
// PAP and MS-CHAPv2 check against it.
//
// Not covered: CHAP. It needs the cleartext password. RouterOS keeps the cleartext (its
// export show-sensitive writes password=) and so answers CHAP; routerd keeps only the NT
// hash, which every other method checks against, so that a leaked store or export yields
// no password: CHAP requests are rejected with a log line saying why. Also not covered:
// ttls-chap and ttls-mschap1,
// profiles and limitations, CoA, OTP.
package usermanager
