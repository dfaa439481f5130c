package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
)

var (
	testRSA, _  = rsa.GenerateKey(rand.Reader, 2048)
	testP256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	testP384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
)

// TestSignVerifyAuth: every method we sign verifies, and a changed octet does not.
func TestSignVerifyAuth(t *testing.T) {
	octets := []byte("IKE_SA_INIT|nonce|prf(SK_p,ID)")
	for _, tc := range []struct {
		name   string
		key    crypto.Signer
		hashes []uint16
		method AuthMethod
	}{
		{"rsa-method1", testRSA, nil, AuthRSA},
		{"rsa-7427", testRSA, []uint16{sigHashSHA256}, AuthDigSig},
		{"p256-method9", testP256, nil, AuthECDSA256},
		{"p256-7427", testP256, []uint16{sigHashSHA256}, AuthDigSig},
		{"p384-method10", testP384, nil, AuthECDSA384},
		{"p384-7427", testP384, []uint16{sigHashSHA384}, AuthDigSig},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, data, err := signAuth(tc.key, octets, tc.hashes)
			if err != nil || m != tc.method {
				t.Fatalf("method %d err %v", m, err)
			}
			a := &Auth{Method: m, Data: data}
			if err := verifyAuth(tc.key.Public(), a, octets); err != nil {
				t.Fatalf("verify: %v", err)
			}
			bad := append([]byte{}, octets...)
			bad[0] ^= 1
			if verifyAuth(tc.key.Public(), a, bad) == nil {
				t.Fatal("verified changed octets")
			}
			if verifyAuth(testP256.Public(), a, octets) == nil && tc.key != testP256 {
				t.Fatal("verified with another key")
			}
		})
	}
}

// TestVerifyRSAPSS: an RFC 7427 RSASSA-PSS AUTH (as strongSwan sends with rsa/pss).
func TestVerifyRSAPSS(t *testing.T) {
	octets := []byte("signed octets")
	d := sha256.Sum256(octets)
	sig, err := rsa.SignPSS(rand.Reader, testRSA, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: 32})
	if err != nil {
		t.Fatal(err)
	}
	sha := pkix.AlgorithmIdentifier{Algorithm: oidSHA256, Parameters: asn1Null}
	mgfParams, _ := asn1.Marshal(sha)
	params, _ := asn1.Marshal(pssParams{Hash: sha, MGF: pkix.AlgorithmIdentifier{
		Algorithm: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}, Parameters: asn1.RawValue{FullBytes: mgfParams}}, SaltLength: 32, Trailer: 1})
	m, data, err := method14(pkix.AlgorithmIdentifier{Algorithm: oidRSAPSS, Parameters: asn1.RawValue{FullBytes: params}}, sig)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifyAuth(testRSA.Public(), &Auth{Method: m, Data: data}, octets); err != nil {
		t.Fatalf("PSS: %v", err)
	}
}

// FuzzVerifyAuth feeds AUTH payload data from a peer to the verifier: errors only.
func FuzzVerifyAuth(f *testing.F) {
	for _, k := range []crypto.Signer{testRSA, testP256} {
		for _, h := range [][]uint16{nil, {sigHashSHA256}} {
			m, d, _ := signAuth(k, []byte("x"), h)
			f.Add(uint8(m), d)
		}
	}
	f.Add(uint8(AuthDigSig), []byte{0xff, 0x30})
	f.Fuzz(func(t *testing.T, method uint8, data []byte) {
		for _, pub := range []crypto.PublicKey{testRSA.Public(), testP256.Public()} {
			_ = verifyAuth(pub, &Auth{Method: AuthMethod(method), Data: data}, []byte("x"))
		}
		_, _ = peerCerts([]Payload{&Cert{Encoding: CertEncodingX509Sig, Data: data}})
	})
}

// TestCertIdentity: my-id=auto is the first SAN (IP, DNS, email) else the DN, and an ID
// matches a certificate by its DN or one of its SANs.
func TestCertIdentity(t *testing.T) {
	mk := func(tpl *x509.Certificate) *x509.Certificate {
		tpl.SerialNumber = big.NewInt(1)
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, testP256.Public(), testP256)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c
	}
	ipc := mk(&x509.Certificate{Subject: pkix.Name{CommonName: "198.18.0.1"}, IPAddresses: []net.IP{net.ParseIP("198.18.0.1").To4()}, DNSNames: []string{"r.example"}})
	if id := certIdentity(ipc); id.String() != "address:198.18.0.1" {
		t.Errorf("SAN IP: %s", id)
	}
	for _, id := range []Identity{AddrIdentity(netip.MustParseAddr("198.18.0.1")), {IDFQDN, []byte("R.example")}} {
		if !idMatchesCert(id, ipc) {
			t.Errorf("%s does not match", id)
		}
	}
	if idMatchesCert(Identity{IDFQDN, []byte("other.example")}, ipc) || idMatchesCert(AddrIdentity(netip.MustParseAddr("198.18.0.2")), ipc) {
		t.Error("a name not in the certificate matched")
	}
	dnc := mk(&x509.Certificate{Subject: pkix.Name{CommonName: "rw-client1", Organization: []string{"o"}}})
	id := certIdentity(dnc)
	if id.Type != IDDERASNDN || !strings.Contains(id.String(), "CN=rw-client1") || !idMatchesCert(id, dnc) {
		t.Errorf("DN identity %s", id)
	}
}
