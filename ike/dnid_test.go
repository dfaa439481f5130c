package ike

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// TestDNIdentity: dn: parses into the DER of the name, prints back as written, and
// matches a certificate's subject however its strings are encoded.
func TestDNIdentity(t *testing.T) {
	id, ok := ParseIdentity(`dn:CN=rw-client1,OU=Road\, Warriors,O=Example,C=LV`)
	if !ok {
		t.Fatal("does not parse")
	}
	if got := id.String(); got != `dn:CN=rw-client1,OU=Road\, Warriors,O=Example,C=LV` {
		t.Fatalf("prints %q", got)
	}
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tm := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		Subject: pkix.Name{CommonName: "rw-client1", OrganizationalUnit: []string{"Road, Warriors"}, Organization: []string{"Example"}, Country: []string{"LV"}}}
	der, err := x509.CreateCertificate(rand.Reader, tm, tm, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	if !idMatchesCert(id, c) || !dnEqual(id, Identity{IDDERASNDN, c.RawSubject}) {
		t.Fatal("does not match the certificate")
	}
	other, _ := ParseIdentity("dn:CN=rw-client2,O=Example,C=LV")
	if idMatchesCert(other, c) || dnEqual(other, id) {
		t.Fatal("another DN matches")
	}
	for _, bad := range []string{"dn:", "dn:CN", "dn:XX=1", "dn:,,"} {
		if _, ok := ParseIdentity(bad); ok {
			t.Errorf("%q parses", bad)
		}
	}
}

// FuzzParseDN: dn: values come from the console and the API.
func FuzzParseDN(f *testing.F) {
	f.Add(`CN=a\,b,O=x`)
	f.Fuzz(func(t *testing.T, s string) {
		if der, err := ParseDN(s); err == nil && dnNormal(der) == "" {
			t.Fatalf("%q encodes to an unparseable DN", s)
		}
	})
}
