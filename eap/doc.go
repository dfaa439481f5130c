// Package eap is the Extensible Authentication Protocol as routerd speaks it: the packet
// codec (RFC 3748 4, 5.1 Identity, 5.3 Nak) and EAP-MSCHAPv2
// (draft-kamath-pppext-eap-mschapv2-02, MS-CHAPv2 of RFC 2759) as authenticator (User
// Manager, checking against an NT password hash) and as peer (the IKEv2 initiator with
// auth-method=eap), both deriving the MSK (RFC 3079 3.4; receive key then send key, as
// hostapd, wpa_supplicant, FreeRADIUS and strongSwan do).
//
// Not covered: EAP-TLS, EAP-TTLS, EAP-PEAP, EAP-MD5, EAP-GTC, password change.
package eap
