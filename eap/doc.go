// Package eap is the Extensible Authentication Protocol as routerd speaks it: the packet
// codec (RFC 3748 4, 5.1 Identity, 5.3 Nak), EAP-MSCHAPv2
// (draft-kamath-pppext-eap-mschapv2-02, MS-CHAPv2 of RFC 2759), and the TLS-based
// methods on Go's crypto/tls (TLS 1.2): EAP-TLS (RFC 5216: fragmentation with the L and
// M flags, MSK from the PRF with "client EAP encryption"), EAP-TTLSv0 (RFC 5281: PAP,
// CHAP, MS-CHAP and MS-CHAPv2 AVPs and EAP-MSCHAPv2 inside, challenges and MSK from the
// tunnel's keys; the peer side sends PAP, MS-CHAPv2 or EAP) and PEAPv0 as Windows speaks
// it (header-less EAP-MSCHAPv2 inside, the Result TLV of EAP Extensions; no crypto
// binding). Each method has an authenticator side (User Manager) and a peer side (the
// IKEv2 initiator with auth-method=eap); the MSK is the MPPE receive key then send key
// (RFC 3079 3.4 for MS-CHAPv2), as hostapd, wpa_supplicant, FreeRADIUS and strongSwan
// have it.
//
// Not covered: TLS 1.3 EAP (RFC 9190), PEAPv1 and PEAP crypto binding, EAP-MD5,
// EAP-GTC, session resumption, password change.
package eap
