package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/routerd/routerd/ike/esp"
)

func TestSelectorPrefixes(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{"198.19.1.0", "198.19.1.255", "[198.19.1.0/24]"},
		{"10.0.0.1", "10.0.0.6", "[10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32]"},
		{"0.0.0.0", "255.255.255.255", "[0.0.0.0/0]"},
		{"2001:db8::", "2001:db8::ffff", "[2001:db8::/112]"},
		{"10.0.0.9", "10.0.0.1", "[]"},
	} {
		got := fmt.Sprint(selectorPrefixes(Selector{Start: netip.MustParseAddr(c.a), End: netip.MustParseAddr(c.b)}))
		if got != c.want {
			t.Errorf("%s-%s: %s, want %s", c.a, c.b, got, c.want)
		}
	}
}

func TestESPAlgs(t *testing.T) {
	for _, c := range []struct {
		encr      uint16
		bits      int
		integ     uint16
		enc, auth string
	}{
		{EncrAESGCM16, 128, 0, "aes-128-gcm", ""},
		{EncrAESCBC, 256, IntegSHA256128, "aes-256-cbc", "sha256"},
		{EncrAESCTR, 192, IntegSHA196, "aes-192-ctr", "sha1"},
		{EncrDES3, 0, IntegMD596, "3des", "md5"},
		{EncrChaCha, 0, 0, "chacha20poly1305", ""},
	} {
		s := &Suite{Encr: Encr(c.encr), KeyBits: c.bits}
		if c.integ != 0 {
			s.Integ = integSpecs[c.integ]
		}
		enc, auth, err := espAlgs(s)
		if err != nil || enc != c.enc || auth != c.auth {
			t.Errorf("%v: %s %s %v", c, enc, auth, err)
		}
		// The key lengths IKE derives are the ones the data path takes.
		el, al, err := esp.KeyLengths(enc, auth)
		if err != nil || el != s.EncrKeyLen() || al != s.IntegKeyLen() {
			t.Errorf("%s/%s: esp wants %d/%d bytes, IKE derives %d/%d", enc, auth, el, al, s.EncrKeyLen(), s.IntegKeyLen())
		}
	}
	if _, _, err := espAlgs(&Suite{Encr: Encr(EncrAESGCM12), KeyBits: 128}); !errors.Is(err, esp.ErrUnknownAlgorithm) {
		t.Error("aes-gcm with a 12-byte ICV accepted")
	}
}
