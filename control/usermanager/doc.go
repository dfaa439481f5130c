// Package usermanager is the engine of /user-manager, RouterOS 7's User Manager: a RADIUS
// server in routerd (UDP 1812 authentication, 1813 accounting by default) for the RADIUS
// clients listed in /user-manager router, with its own users and groups.
//
// Covered: PAP (RFC 2865 5.2), CHAP (RFC 2865 5.3, RFC 1994: CHAP-Password over
// CHAP-Challenge or the Request Authenticator), MS-CHAPv1 (RFC 2433 NT-Response, RFC 2548
// MS-CHAP-Response; the LAN Manager response is refused), MS-CHAPv2 (RFC 2548
// MS-CHAP2-Response/Success with MS-MPPE keys), EAP over RADIUS (RFC 3579, with State)
// through package eap: EAP-MSCHAPv2, EAP-TLS, EAP-TTLS (ttls-pap, ttls-chap, ttls-mschap1,
// ttls-mschap2; RFC 5281 11.2) and EAP-PEAP (peap-mschap2) with settings' certificate=
// from /certificate (eapmethods.go says which user a conversation is for), the group's
// outer-auths and inner-auths gating every method, shared-users counted from accounting,
// caller-id, the user's and group's attributes in Access-Accept (a dictionary of the
// common RFC 2865 and MikroTik attributes), accounting Start/Interim-Update/Stop into
// /user-manager session (with the byte counts each carries).
//
// Passwords are kept as given (password=, Sensitive: in the 0600 store, shown by print
// and export only with show-sensitive, which writes password= as RouterOS's export does),
// since CHAP needs the password itself. Users stored before that carry only their NT hash
// (password-hash, Secret: no print, get or export shows it; only a backup carries it):
// PAP, MS-CHAP and EAP-MSCHAPv2 check against it, CHAP is refused with a log line and
// print's status saying password= must be set again; setting it drops the hash.
//
// Not covered: profiles and limitations, CoA, OTP.
package usermanager
