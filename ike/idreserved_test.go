package ike

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"testing"
)

// TestAuthOverReceivedIDReserved: a peer that sets the ID payload's RESERVED octets
// (libreswan's send-nonzero-reserved-id) signs its AUTH over the ID payload as sent
// (RFC 7296 2.15 RestOfInitIDPayload; 3.5: RESERVED is ignored on receipt). Its AUTH,
// computed here by hand from the RFC's formula over the received bytes, verifies for
// IDi and IDr; the ID payload round-trips with the octets and a changed octet fails.
// Before, the AUTH was checked over {type,0,0,0}+data and refused as a PSK mismatch.
func TestAuthOverReceivedIDReserved(t *testing.T) {
	p, _ := ParseProposal("aes256gcm-sha256-curve25519", ProtoIKE)
	s, err := SuiteOf(&p)
	if err != nil {
		t.Fatal(err)
	}
	psk := []byte("thisisnotasecurepsk")
	sa := &IKESA{suite: s, initI: []byte("initiator's IKE_SA_INIT"), initR: []byte("responder's IKE_SA_INIT"),
		ni: make([]byte, 32), nr: make([]byte, 32), skPi: []byte("01234567890123456789012345678901"), skPr: []byte("abcdefghijabcdefghijabcdefghij01")}
	ic := &IdentityConfig{Method: AuthMethodPSK, PSK: psk}
	prf := func(k []byte, d ...[]byte) []byte {
		m := hmac.New(sha256.New, k)
		for _, x := range d {
			m.Write(x)
		}
		return m.Sum(nil)
	}
	for _, responder := range []bool{false, true} {
		// The payload as the peer sent it, parsed from the wire.
		sent := &ID{Responder: responder, IDType: IDFQDN, Reserved: [3]byte{0, 0, 1}, Data: []byte("ls.example")}
		m, err := Parse((&Message{Header: Header{SPIi: 1, Version: Version2, Exchange: IKEAuth}, Payloads: []Payload{sent}}).Encode())
		if err != nil {
			t.Fatal(err)
		}
		got := m.Payloads[0].(*ID)
		wire := []byte{byte(IDFQDN), 0, 0, 1, 'l', 's', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'}
		if string(got.body(nil)) != string(wire) {
			t.Fatalf("ID payload body %x, want the received %x", got.body(nil), wire)
		}
		msg, nonce, key := sa.initI, sa.nr, sa.skPi
		if responder {
			msg, nonce, key = sa.initR, sa.ni, sa.skPr
		}
		auth := &Auth{Method: AuthPSK, Data: prf(prf(psk, []byte("Key Pad for IKEv2")), msg, nonce, prf(key, wire))}
		rid := Identity{Type: got.IDType, Data: got.Data}
		if why := sa.checkPeerAuth(ic, auth, rid, got.body(nil), nil, !responder); why != "" {
			t.Errorf("IDr=%v: AUTH over the ID as sent (RESERVED 0,0,1) refused: %s", responder, why)
		}
		other := append([]byte(nil), wire...)
		other[3] = 2
		if why := sa.checkPeerAuth(ic, auth, rid, other, nil, !responder); !strings.Contains(why, "does not verify") {
			t.Errorf("IDr=%v: AUTH over other ID bytes accepted (%q)", responder, why)
		}
	}
	// What we send has RESERVED zero, and our AUTH covers exactly that.
	if b := idBody(Identity{Type: IDFQDN, Data: []byte("rd.example")}); b[1] != 0 || b[2] != 0 || b[3] != 0 {
		t.Errorf("own ID body %x: RESERVED not zero", b)
	}
}
