package ike

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
)

// TestV1ECDSASignVerify: r | s of each curve's size, verified with the same method,
// refused under another method, with a flipped bit, or with the wrong curve's key.
func TestV1ECDSASignVerify(t *testing.T) {
	for _, c := range []struct {
		curve elliptic.Curve
		auth  uint16
		size  int
	}{{elliptic.P256(), v1AuthECDSA256, 64}, {elliptic.P384(), v1AuthECDSA384, 96}, {elliptic.P521(), v1AuthECDSA521, 132}} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if m := v1ECDSAMethod(k.Public()); m != c.auth {
			t.Fatalf("%s: method %d, want %d", c.curve.Params().Name, m, c.auth)
		}
		h := v1ECDSAPRF(c.auth).Sum([]byte("skeyid"), []byte("data"))
		sig, err := v1SignECDSA(k, c.auth, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(sig) != c.size {
			t.Fatalf("%s: signature of %d bytes, want %d", c.curve.Params().Name, len(sig), c.size)
		}
		if err := v1VerifyECDSA(k.Public(), c.auth, h, sig); err != nil {
			t.Fatalf("%s: %v", c.curve.Params().Name, err)
		}
		bad := append([]byte(nil), sig...)
		bad[len(bad)-1] ^= 1
		if v1VerifyECDSA(k.Public(), c.auth, h, bad) == nil {
			t.Fatal("a flipped signature verified")
		}
		other := uint16(v1AuthECDSA256)
		if c.auth == other {
			other = v1AuthECDSA384
		}
		if v1VerifyECDSA(k.Public(), other, h, sig) == nil {
			t.Fatal("a signature verified under another curve's method")
		}
		if _, err := v1SignECDSA(k, other, h); err == nil {
			t.Fatal("signed under another curve's method")
		}
	}
}
