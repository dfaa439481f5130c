package ike

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
)

// IKEv1 Phase 1 with signatures (RFC 2409 5.1) in main and aggressive mode:
// digital-signature (RSA, or ECDSA as ikev1_ecdsa.go has it; the certificate chain in CERT payloads, CERTREQ naming the
// CAs we trust), rsa-key (bare RSA keys from /ip ipsec key, no CERT) and
// rsa-signature-hybrid (draft-ietf-ipsec-isakmp-hybrid-auth-05: the responder signs,
// the initiator sends HASH_I keyed as for signatures and then proves itself with
// XAuth). SKEYID = prf(Ni_b | Nr_b, g^xy); SIG_I and SIG_R are PKCS#1 v1.5 signatures
// of HASH_I and HASH_R without a DigestInfo, as racoon and strongSwan make them. The
// peer's certificate is checked as IKEv2 checks it (sigauth.go's peerCertKey).

// IKEv1 authentication methods with signatures (RFC 2409 appendix A, the hybrid
// draft's and XAuth's private values).
const (
	v1AuthRSASig        = 3
	v1AuthHybridInitRSA = 64221
	v1AuthHybridRespRSA = 64222
	v1AuthXAuthInitRSA  = 65005
	v1AuthXAuthRespRSA  = 65006
)

// AuthMethodRSAHybrid: the responder authenticates with its certificate, the
// initiator with XAuth (auth-method=rsa-signature-hybrid, IKEv1 only). The responder
// has Cert and XAuthUsers, the initiator a Verifier and EAPUser/EAPPassword.
const AuthMethodRSAHybrid AuthMethodKind = "rsa-signature-hybrid"

// v1SigAuth reports whether a Phase 1 method keys SKEYID as signatures do.
func v1SigAuth(auth uint16) bool {
	switch auth {
	case v1AuthRSASig, v1AuthHybridInitRSA, v1AuthHybridRespRSA, v1AuthXAuthInitRSA, v1AuthXAuthRespRSA,
		v1AuthECDSA256, v1AuthECDSA384, v1AuthECDSA521:
		return true
	}
	return false
}

// v1SignsBy reports whether, under a method, a side (the initiator or the responder)
// signs; otherwise it sends HASH.
func v1SignsBy(auth uint16, ofInitiator bool) bool {
	switch auth {
	case v1AuthRSASig, v1AuthXAuthInitRSA, v1AuthXAuthRespRSA, v1AuthECDSA256, v1AuthECDSA384, v1AuthECDSA521:
		return true
	case v1AuthHybridInitRSA, v1AuthHybridRespRSA:
		return !ofInitiator
	}
	return false
}

// v1CertReq asks the peer for its certificate when it is to sign: a CERTREQ per CA we
// trust (its DN), or one naming none (strongSwan sends its certificate when asked).
func (sa *IKESA) v1CertReq(auth uint16) []v1Payload {
	ic := sa.ident
	if ic == nil || ic.Method == AuthMethodRSAKey || !v1SignsBy(auth, !sa.initiator) {
		return nil
	}
	var ps []v1Payload
	if ic.Verifier != nil {
		for _, a := range ic.Verifier.Anchors() {
			ps = append(ps, v1Payload{Type: v1PCertReq, Body: append([]byte{CertEncodingX509Sig}, a.RawSubject...)})
		}
	}
	if len(ps) == 0 {
		ps = []v1Payload{{Type: v1PCertReq, Body: []byte{CertEncodingX509Sig}}}
	}
	return ps
}

// v1OwnAuth is this side's proof in its last Phase 1 message: HASH, or CERT payloads
// and SIG.
func (sa *IKESA) v1OwnAuth() ([]v1Payload, error) {
	h := sa.v1AuthHash(sa.initiator)
	if !v1SignsBy(sa.v1.p1.auth, sa.initiator) {
		return []v1Payload{{Type: v1PHash, Body: h}}, nil
	}
	cred := sa.ident.Cert
	if cred == nil || cred.Key == nil {
		return nil, errors.New("the identity has no certificate or key to sign with")
	}
	var sig []byte
	if auth := sa.v1.p1.auth; v1IsECDSA(auth) {
		var err error
		if sig, err = v1SignECDSA(cred.Key, auth, h); err != nil {
			return nil, err
		}
	} else {
		if _, ok := cred.Key.Public().(*rsa.PublicKey); !ok {
			return nil, errors.New("IKEv1 RSA signatures take an RSA key")
		}
		var err error
		if sig, err = cred.Key.Sign(rand.Reader, h, crypto.Hash(0)); err != nil {
			return nil, fmt.Errorf("cannot sign: %w", err)
		}
	}
	var ps []v1Payload
	if sa.ident.Method != AuthMethodRSAKey {
		for _, c := range cred.Chain {
			ps = append(ps, v1Payload{Type: v1PCert, Body: append([]byte{CertEncodingX509Sig}, c.Raw...)})
		}
	}
	return append(ps, v1Payload{Type: v1PSig, Body: sig}), nil
}

// errV1Hash is a HASH that does not verify: with pre-shared keys, a key mismatch.
var errV1Hash = errors.New("hash mismatch")

// v1CheckAuth verifies the peer's HASH or SIG (and its certificate) for its ID rid.
func (sa *IKESA) v1CheckAuth(ps []v1Payload, rid Identity) error {
	of := !sa.initiator
	want := sa.v1AuthHash(of)
	if !v1SignsBy(sa.v1.p1.auth, of) {
		if hp := findV1(ps, v1PHash); hp == nil || !hmac.Equal(hp.Body, want) {
			return errV1Hash
		}
		return nil
	}
	sp := findV1(ps, v1PSig)
	if sp == nil {
		return errors.New("no signature payload")
	}
	ic := sa.ident
	var pub crypto.PublicKey
	if ic.Method == AuthMethodRSAKey {
		if pub = ic.RemoteKey; pub == nil {
			return errors.New("the rsa-key identity has no remote-key")
		}
	} else {
		var certs []Payload
		for _, p := range allV1(ps, v1PCert) {
			if len(p.Body) < 2 {
				return errors.New("empty certificate payload")
			}
			certs = append(certs, &Cert{Encoding: p.Body[0], Data: p.Body[1:]})
		}
		var why string
		if pub, why = sa.peerCertKey(ic, rid, certs, of); why != "" {
			return errors.New(why)
		}
	}
	if auth := sa.v1.p1.auth; v1IsECDSA(auth) {
		if err := v1VerifyECDSA(pub, auth, want, sp.Body); err != nil {
			sa.peerCert = nil
			return err
		}
		return nil
	}
	rk, ok := pub.(*rsa.PublicKey)
	if !ok {
		sa.peerCert = nil
		return errors.New("the peer's key is not an RSA key")
	}
	if err := rsa.VerifyPKCS1v15(rk, 0, want, sp.Body); err != nil {
		sa.peerCert = nil
		return errors.New("the peer's signature does not verify")
	}
	return nil
}

// v1PeerAuth checks the message that ends the peer's part of Phase 1 (main mode 5 or
// 6, aggressive 2 or 3): its ID (idB, the ID payload's body), HASH or SIG, and the
// identity's remote-id. false: the SA is gone (logged as RouterOS logs it).
func (sa *IKESA) v1PeerAuth(ps []v1Payload, idB []byte, wrongKey func()) bool {
	id, err := parseV1ID(idB)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		sa.destroy("the peer's ID does not parse")
		return false
	}
	rid := Identity{Type: IDType(id.Type), Data: id.Data}
	if err := sa.v1CheckAuth(ps, rid); err != nil {
		if errors.Is(err, errV1Hash) && !v1SigAuth(sa.v1.p1.auth) {
			wrongKey()
			return false
		}
		sa.d.Stats.AuthFailed.Add(1)
		sa.d.rosLogFrom(sa.remote.Addr(), slog.LevelWarn, fmt.Sprintf("%s peer %s failed to authenticate: %v", sa.remote.Addr(), rid, err))
		sa.destroy("authentication failed")
		return false
	}
	if !sa.remoteIDMatches(sa.ident, rid) {
		sa.d.Stats.AuthFailed.Add(1)
		sa.d.rosLogFrom(sa.remote.Addr(), slog.LevelWarn, fmt.Sprintf("%s peer's ID %s does not match remote-id", sa.remote.Addr(), rid))
		sa.destroy("remote-id mismatch")
		return false
	}
	sa.remoteID = rid
	return true
}
