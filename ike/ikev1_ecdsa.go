package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// ECDSA signatures in IKEv1 Phase 1 (RFC 4754): authentication methods 9, 10 and 11
// name the curve (P-256, P-384, P-521) and with it the hash: HASH_I and HASH_R are
// computed with HMAC-SHA-256/384/512 keyed with SKEYID instead of the negotiated
// PRF (SKEYID itself still comes from the negotiated PRF), and SIG_I/SIG_R carry the
// ECDSA signature of that hash as r | s, each the curve's size (no ASN.1, no second
// hash). strongSwan's keymat_v1 does the same.

const (
	v1AuthECDSA256 = 9
	v1AuthECDSA384 = 10
	v1AuthECDSA521 = 11
)

// v1ECDSAMethod is the method of a key: 9, 10 or 11 for an ECDSA key on a curve RFC
// 4754 names, 0 otherwise.
func v1ECDSAMethod(pub crypto.PublicKey) uint16 {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return 0
	}
	switch k.Curve {
	case elliptic.P256():
		return v1AuthECDSA256
	case elliptic.P384():
		return v1AuthECDSA384
	case elliptic.P521():
		return v1AuthECDSA521
	}
	return 0
}

func v1IsECDSA(auth uint16) bool {
	return auth == v1AuthECDSA256 || auth == v1AuthECDSA384 || auth == v1AuthECDSA521
}

// v1ECDSAPRF is the PRF HASH_I/HASH_R take under an ECDSA method, nil under others.
func v1ECDSAPRF(auth uint16) *HashSpec {
	switch auth {
	case v1AuthECDSA256:
		return PRF(PRFHMACSHA256)
	case v1AuthECDSA384:
		return PRF(PRFHMACSHA384)
	case v1AuthECDSA521:
		return PRF(PRFHMACSHA512)
	}
	return nil
}

func v1ECDSABits(auth uint16) int {
	switch auth {
	case v1AuthECDSA384:
		return 384
	case v1AuthECDSA521:
		return 521
	}
	return 256
}

// v1SignECDSA signs HASH_I or HASH_R (h) with key under method auth: r | s.
func v1SignECDSA(key crypto.Signer, auth uint16, h []byte) ([]byte, error) {
	if v1ECDSAMethod(key.Public()) != auth {
		return nil, fmt.Errorf("the key does not fit %s", v1AuthName(auth))
	}
	der, err := key.Sign(rand.Reader, h, crypto.Hash(0))
	if err != nil {
		return nil, fmt.Errorf("cannot sign: %w", err)
	}
	var rs struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &rs); err != nil || len(rest) > 0 {
		return nil, errors.New("the ECDSA signer returned no ASN.1 signature")
	}
	n := (v1ECDSABits(auth) + 7) / 8
	out := make([]byte, 2*n)
	rs.R.FillBytes(out[:n])
	rs.S.FillBytes(out[n:])
	return out, nil
}

// v1VerifyECDSA checks the peer's r | s over h with pub under method auth.
func v1VerifyECDSA(pub crypto.PublicKey, auth uint16, h, sig []byte) error {
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		return fmt.Errorf("%s but the peer's key is not ECDSA", v1AuthName(auth))
	}
	if v1ECDSAMethod(k) != auth {
		return fmt.Errorf("%s but the peer's key is on curve %s", v1AuthName(auth), k.Curve.Params().Name)
	}
	n := (v1ECDSABits(auth) + 7) / 8
	if len(sig) != 2*n {
		return errors.New("the peer's ECDSA signature does not fit the curve")
	}
	r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
	if !ecdsa.Verify(k, h, r, s) {
		return errors.New("the peer's signature does not verify")
	}
	return nil
}
