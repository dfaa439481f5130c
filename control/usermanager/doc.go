// Package usermanager is the engine of /user-manager, RouterOS 7's User Manager: a RADIUS
// server in routerd (UDP 1812 authentication, 1813 accounting by default) for the RADIUS
// clients listed in /user-manager router, with its own users and groups.
//
// Covered: PAP (RFC 2865 5.2), MS-CHAPv2 (RFC 2548 MS-CHAP2-Response/Success with
// MS-MPPE keys), EAP-MSCHAPv2 (RFC 3579 EAP over RADIUS with State, through package eap),
// the group's outer-auths, shared-users counted from accounting, caller-id, the user's and
// group's attributes in Access-Accept (a dictionary of the common RFC 2865 and MikroTik
// attributes), accounting Start/Interim-Update/Stop into /user-manager session.
// Passwords are stored as their NT hash only (password-hash, never printed or exported):
// PAP and MS-CHAPv2 check against it.
//
// Not covered: CHAP and MS-CHAPv1 (CHAP needs the cleartext password, which is not kept;
// such requests are rejected with a log line saying so), EAP-TLS/TTLS/PEAP (the
// certificate setting is stored), profiles and limitations, CoA, OTP.
package usermanager
