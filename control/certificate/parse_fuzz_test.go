package certificate

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
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
