package certificate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// FuzzParseBundle feeds import's parser arbitrary files (PEM, DER, PKCS#12): it must
// return an error or a bundle, never panic or hang.
func FuzzParseBundle(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &template{Name: "x", CommonName: "x", KeyUsage: "digital-signature,key-cert-sign", DaysValid: 1, AltName: "DNS:x.example,IP:198.18.0.1"}
	cert, err := tpl.sign(key, nil, time.Now(), "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(cert.Raw, "")
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), "")
	if p12, err := pkcs12.Modern2023.Encode(key, cert, nil, "passphrase"); err == nil {
		f.Add(p12, "passphrase")
	}
	f.Add([]byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n"), "p")
	f.Add([]byte{0x30, 0x82, 0xff, 0xff}, "")
	f.Fuzz(func(t *testing.T, data []byte, pass string) {
		b, err := parseBundle(data, pass)
		if err == nil && b == nil {
			t.Fatal("nil bundle without error")
		}
	})
}

// FuzzPublishedCRL: whatever serial a stranger puts in a /crl/SERIAL.crl URL, the store
// answers its CA's list or nothing, without panicking; only the CA's serial finds it.
func FuzzPublishedCRL(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &template{Name: "ca", CommonName: "ca", KeyUsage: "key-cert-sign,crl-sign", DaysValid: 1}
	ca, err := tpl.sign(key, nil, time.Now(), "198.18.0.1")
	if err != nil {
		f.Fatal(err)
	}
	s := newStore()
	s.byName["ca"] = &Cert{Name: "ca", X509: ca, Key: key, Trusted: true}
	own := ca.SerialNumber.Text(16)
	f.Add(own)
	f.Add("0" + own)
	f.Add("-1")
	f.Add("")
	f.Fuzz(func(t *testing.T, serial string) {
		der, ok := s.PublishedCRL(serial)
		var n big.Int
		if _, good := n.SetString(serial, 16); ok != (good && len(serial) <= 40 && n.Cmp(ca.SerialNumber) == 0) {
			t.Fatalf("serial %q: found %v", serial, ok)
		}
		if ok {
			if l, err := x509.ParseRevocationList(der); err != nil || l.CheckSignatureFrom(ca) != nil {
				t.Fatalf("bad list: %v", err)
			}
		}
	})
}
