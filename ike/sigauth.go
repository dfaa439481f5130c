package ike

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"strings"
)

// AuthMethodSignature: this side signs AUTH with a certificate's key and verifies the
// peer's certificate (auth-method=digital-signature; RFC 7296 2.15, RFC 7427).
const AuthMethodSignature AuthMethodKind = "digital-signature"

// AuthMethodRSAKey: AUTH signed with a bare RSA key (Cert with no chain) and verified
// with the peer's public key (RemoteKey), no certificates (auth-method=rsa-key, which
// RouterOS has for IKEv1 only; here for IKEv2 too).
const AuthMethodRSAKey AuthMethodKind = "rsa-key"

// signs reports whether the identity authenticates with signatures.
func (ic *IdentityConfig) signs() bool {
	return ic.Method == AuthMethodSignature || ic.Method == AuthMethodRSAKey
}

// Credential is what this side signs with: a private key and its certificate, then
// the intermediates the peer needs to reach its trust anchor.
type Credential struct {
	Key   crypto.Signer
	Chain []*x509.Certificate
}

// CertVerifier checks peers' certificates (the router's /certificate store).
type CertVerifier interface {
	// VerifyPeer verifies a chain the peer sent, leaf first: signatures up to a trusted
	// anchor, validity, the extended key usage of its role (server: the peer is the
	// responder), revocation.
	VerifyPeer(chain []*x509.Certificate, server bool) error
	// Anchors are the trusted authorities whose keys CERTREQ names.
	Anchors() []*x509.Certificate
}

// sigState is what IKE_SA_INIT said about signatures.
type sigState struct {
	// hashes are the peer's SIGNATURE_HASH_ALGORITHMS (RFC 7427 4); none: it cannot
	// take method 14.
	hashes []uint16
}

// Hash algorithm numbers of SIGNATURE_HASH_ALGORITHMS (RFC 7427).
const (
	sigHashSHA1   = 1
	sigHashSHA256 = 2
	sigHashSHA384 = 3
	sigHashSHA512 = 4
)

// CertEncodingX509Sig is the CERT encoding of a DER X.509 certificate (RFC 7296 3.6).
const CertEncodingX509Sig = 4

// usesSignatures reports whether any identity of p works with certificates.
func (p *PeerConfig) usesSignatures() bool {
	for _, ic := range p.Identities {
		if ic.signs() || ic.Cert != nil {
			return true
		}
	}
	return false
}

// sigInitPayloads are what IKE_SA_INIT carries for signature authentication: our
// SIGNATURE_HASH_ALGORITHMS and, from the responder, a CERTREQ naming our anchors
// (strongSwan sends its certificate only when asked).
func (sa *IKESA) sigInitPayloads(responder bool) []Payload {
	if !sa.peer.usesSignatures() {
		return nil
	}
	var h []byte
	for _, a := range []uint16{sigHashSHA256, sigHashSHA384, sigHashSHA512} {
		h = binary.BigEndian.AppendUint16(h, a)
	}
	ps := []Payload{&Notify{NType: NotifySignatureHashAlgorithms, Data: h}}
	if responder {
		ps = append(ps, sa.certReq()...)
	}
	return ps
}

// noteSigInit records the peer's SIGNATURE_HASH_ALGORITHMS.
func (sa *IKESA) noteSigInit(ps []Payload) {
	if n := FindNotify(ps, NotifySignatureHashAlgorithms); n != nil {
		for i := 0; i+1 < len(n.Data); i += 2 {
			sa.sig.hashes = append(sa.sig.hashes, binary.BigEndian.Uint16(n.Data[i:]))
		}
	}
}

// certReq is a CERTREQ naming the trust anchors of the peer's identities: the SHA-1
// of each anchor's SubjectPublicKeyInfo (RFC 7296 3.7).
func (sa *IKESA) certReq() []Payload {
	var data []byte
	seen := map[[20]byte]bool{}
	for _, ic := range sa.peer.Identities {
		if ic.Verifier == nil {
			continue
		}
		for _, a := range ic.Verifier.Anchors() {
			h := sha1.Sum(a.RawSubjectPublicKeyInfo)
			if !seen[h] {
				seen[h] = true
				data = append(data, h[:]...)
			}
		}
	}
	if len(data) == 0 {
		return nil
	}
	return []Payload{&Cert{Request: true, Encoding: CertEncodingX509Sig, Data: data}}
}

// signedOctets is what one side's AUTH covers (RFC 7296 2.15): its IKE_SA_INIT
// message, the other side's nonce and prf(SK_p, ID'), ID' the ID payload body idb as
// sent (the peer's as received, idBody for ours).
func (sa *IKESA) signedOctets(ofInitiator bool, idb []byte) []byte {
	var msg, nonce, key []byte
	if ofInitiator {
		msg, nonce, key = sa.initI, sa.nr, sa.skPi
	} else {
		msg, nonce, key = sa.initR, sa.ni, sa.skPr
	}
	out := append(append([]byte{}, msg...), nonce...)
	return append(out, sa.suite.PRF.Sum(key, idb)...)
}

// ownAuth is this side's CERT payloads and AUTH for identity ic.
func (sa *IKESA) ownAuth(ic *IdentityConfig, ofInitiator bool, id Identity) ([]Payload, error) {
	if ic.Cert == nil {
		return []Payload{&Auth{Method: AuthPSK, Data: sa.authData(ic.PSK, ofInitiator, idBody(id))}}, nil
	}
	var ps []Payload
	for _, c := range ic.Cert.Chain {
		ps = append(ps, &Cert{Encoding: CertEncodingX509Sig, Data: c.Raw})
	}
	method, data, err := signAuth(ic.Cert.Key, sa.signedOctets(ofInitiator, idBody(id)), sa.sig.hashes)
	if err != nil {
		return nil, fmt.Errorf("cannot sign AUTH: %w", err)
	}
	return append(ps, &Auth{Method: method, Data: data}), nil
}

// DER AlgorithmIdentifiers of RFC 7427's method 14 (RFC 7427 appendix A).
var (
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidRSAPSS        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidECDSASHA256   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSASHA384   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSASHA512   = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	asn1Null         = asn1.RawValue{Tag: asn1.TagNull}
)

func hasHash(hs []uint16, h uint16) bool {
	for _, x := range hs {
		if x == h {
			return true
		}
	}
	return false
}

// signAuth signs octets with key: RFC 7427 (method 14) when the peer announced
// SIGNATURE_HASH_ALGORITHMS with a hash we use — RSA PKCS#1 v1.5 with SHA-256, ECDSA
// with the curve's hash — else RSA method 1 (SHA-1) or ECDSA methods 9-11 (RFC 4754).
func signAuth(key crypto.Signer, octets []byte, peerHashes []uint16) (AuthMethod, []byte, error) {
	switch k := key.Public().(type) {
	case *rsa.PublicKey:
		if hasHash(peerHashes, sigHashSHA256) {
			d := sha256.Sum256(octets)
			sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
			if err != nil {
				return 0, nil, err
			}
			return method14(pkix.AlgorithmIdentifier{Algorithm: oidSHA256WithRSA, Parameters: asn1Null}, sig)
		}
		d := sha1.Sum(octets)
		sig, err := key.Sign(rand.Reader, d[:], crypto.SHA1)
		return AuthRSA, sig, err
	case *ecdsa.PublicKey:
		h, oid, method, want := crypto.SHA256, oidECDSASHA256, AuthECDSA256, uint16(sigHashSHA256)
		switch k.Curve {
		case elliptic.P384():
			h, oid, method, want = crypto.SHA384, oidECDSASHA384, AuthECDSA384, sigHashSHA384
		case elliptic.P521():
			h, oid, method, want = crypto.SHA512, oidECDSASHA512, AuthECDSA521, sigHashSHA512
		}
		hh := h.New()
		hh.Write(octets)
		d := hh.Sum(nil)
		der, err := key.Sign(rand.Reader, d, h)
		if err != nil {
			return 0, nil, err
		}
		if hasHash(peerHashes, want) {
			return method14(pkix.AlgorithmIdentifier{Algorithm: oid}, der)
		}
		var s struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(der, &s); err != nil {
			return 0, nil, err
		}
		n := (k.Curve.Params().BitSize + 7) / 8
		raw := make([]byte, 2*n)
		s.R.FillBytes(raw[:n])
		s.S.FillBytes(raw[n:])
		return method, raw, nil
	}
	return 0, nil, fmt.Errorf("key of type %T cannot sign IKE AUTH", key.Public())
}

func method14(alg pkix.AlgorithmIdentifier, sig []byte) (AuthMethod, []byte, error) {
	der, err := asn1.Marshal(alg)
	if err != nil {
		return 0, nil, err
	}
	if len(der) > 255 {
		return 0, nil, errors.New("algorithm identifier too long")
	}
	return AuthDigSig, append(append([]byte{byte(len(der))}, der...), sig...), nil
}

// pssParams is RSASSA-PSS-params (RFC 4055).
type pssParams struct {
	Hash       pkix.AlgorithmIdentifier `asn1:"explicit,tag:0,optional"`
	MGF        pkix.AlgorithmIdentifier `asn1:"explicit,tag:1,optional"`
	SaltLength int                      `asn1:"explicit,tag:2,optional,default:20"`
	Trailer    int                      `asn1:"explicit,tag:3,optional,default:1"`
}

func hashOf(oid asn1.ObjectIdentifier) (crypto.Hash, bool) {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256, true
	case oid.Equal(oidSHA384):
		return crypto.SHA384, true
	case oid.Equal(oidSHA512):
		return crypto.SHA512, true
	case oid.Equal(oidSHA1), len(oid) == 0:
		return crypto.SHA1, true
	}
	return 0, false
}

func digest(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA1:
		d := sha1.Sum(b)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(b)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(b)
		return d[:]
	}
	d := sha256.Sum256(b)
	return d[:]
}

// verifyAuth checks an AUTH signature over octets with pub: methods 1, 9-11 and 14
// (RSA PKCS#1 v1.5 and PSS, ECDSA).
func verifyAuth(pub crypto.PublicKey, a *Auth, octets []byte) error {
	switch a.Method {
	case AuthRSA:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("method 1 (RSA) but the certificate's key is not RSA")
		}
		return rsa.VerifyPKCS1v15(k, crypto.SHA1, digest(crypto.SHA1, octets), a.Data)
	case AuthECDSA256, AuthECDSA384, AuthECDSA521:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("method %d (ECDSA) but the certificate's key is not ECDSA", a.Method)
		}
		h, bits := crypto.SHA256, 256
		if a.Method == AuthECDSA384 {
			h, bits = crypto.SHA384, 384
		} else if a.Method == AuthECDSA521 {
			h, bits = crypto.SHA512, 521
		}
		n := (bits + 7) / 8
		if k.Curve.Params().BitSize != bits || len(a.Data) != 2*n {
			return errors.New("ECDSA signature does not fit the curve")
		}
		r, s := new(big.Int).SetBytes(a.Data[:n]), new(big.Int).SetBytes(a.Data[n:])
		if !ecdsa.Verify(k, digest(h, octets), r, s) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case AuthDigSig:
		if len(a.Data) < 1 || int(a.Data[0])+1 > len(a.Data) {
			return errors.New("method 14 AUTH is truncated")
		}
		var alg pkix.AlgorithmIdentifier
		if rest, err := asn1.Unmarshal(a.Data[1:1+int(a.Data[0])], &alg); err != nil || len(rest) > 0 {
			return errors.New("method 14 algorithm identifier does not parse")
		}
		sig := a.Data[1+int(a.Data[0]):]
		switch {
		case alg.Algorithm.Equal(oidSHA256WithRSA), alg.Algorithm.Equal(oidSHA384WithRSA), alg.Algorithm.Equal(oidSHA512WithRSA), alg.Algorithm.Equal(oidSHA1WithRSA):
			k, ok := pub.(*rsa.PublicKey)
			if !ok {
				return errors.New("RSA signature but the certificate's key is not RSA")
			}
			h := map[string]crypto.Hash{oidSHA256WithRSA.String(): crypto.SHA256, oidSHA384WithRSA.String(): crypto.SHA384,
				oidSHA512WithRSA.String(): crypto.SHA512, oidSHA1WithRSA.String(): crypto.SHA1}[alg.Algorithm.String()]
			return rsa.VerifyPKCS1v15(k, h, digest(h, octets), sig)
		case alg.Algorithm.Equal(oidRSAPSS):
			k, ok := pub.(*rsa.PublicKey)
			if !ok {
				return errors.New("RSA-PSS signature but the certificate's key is not RSA")
			}
			var p pssParams
			if _, err := asn1.Unmarshal(alg.Parameters.FullBytes, &p); err != nil {
				return errors.New("RSA-PSS parameters do not parse")
			}
			h, ok := hashOf(p.Hash.Algorithm)
			if !ok {
				return errors.New("RSA-PSS with an unknown hash")
			}
			return rsa.VerifyPSS(k, h, digest(h, octets), sig, &rsa.PSSOptions{SaltLength: p.SaltLength, Hash: h})
		case alg.Algorithm.Equal(oidECDSASHA256), alg.Algorithm.Equal(oidECDSASHA384), alg.Algorithm.Equal(oidECDSASHA512):
			k, ok := pub.(*ecdsa.PublicKey)
			if !ok {
				return errors.New("ECDSA signature but the certificate's key is not ECDSA")
			}
			h := map[string]crypto.Hash{oidECDSASHA256.String(): crypto.SHA256, oidECDSASHA384.String(): crypto.SHA384,
				oidECDSASHA512.String(): crypto.SHA512}[alg.Algorithm.String()]
			if !ecdsa.VerifyASN1(k, digest(h, octets), sig) {
				return errors.New("ECDSA signature does not verify")
			}
			return nil
		}
		return fmt.Errorf("signature algorithm %v is not supported", alg.Algorithm)
	}
	return fmt.Errorf("AUTH method %d is not a signature method", a.Method)
}

// peerCerts are the certificates of the CERT payloads, leaf first.
func peerCerts(ps []Payload) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range ps {
		c, ok := p.(*Cert)
		if !ok || c.Request {
			continue
		}
		if c.Encoding != CertEncodingX509Sig {
			return nil, fmt.Errorf("CERT encoding %d is not supported (only X.509 signature, 4)", c.Encoding)
		}
		x, err := x509.ParseCertificate(c.Data)
		if err != nil {
			return nil, fmt.Errorf("peer's certificate does not parse: %v", err)
		}
		out = append(out, x)
	}
	return out, nil
}

// certIdentity is the ID a certificate authenticates by default (my-id=auto): its
// first subject alternative name (IP, DNS, email), else its subject DN.
func certIdentity(c *x509.Certificate) Identity {
	switch {
	case len(c.IPAddresses) > 0:
		if a, ok := netip.AddrFromSlice(c.IPAddresses[0]); ok {
			return AddrIdentity(a)
		}
	case len(c.DNSNames) > 0:
		return Identity{IDFQDN, []byte(c.DNSNames[0])}
	case len(c.EmailAddresses) > 0:
		return Identity{IDRFC822, []byte(c.EmailAddresses[0])}
	}
	return Identity{IDDERASNDN, c.RawSubject}
}

// idMatchesCert reports whether an ID names the certificate's subject: the DN, or one
// of its alternative names; a key-id is compared with the common name.
func idMatchesCert(id Identity, c *x509.Certificate) bool {
	switch id.Type {
	case IDIPv4, IDIPv6:
		a, ok := netip.AddrFromSlice(id.Data)
		if !ok {
			return false
		}
		for _, ip := range c.IPAddresses {
			if b, ok := netip.AddrFromSlice(ip); ok && b.Unmap() == a.Unmap() {
				return true
			}
		}
	case IDFQDN:
		for _, d := range c.DNSNames {
			if strings.EqualFold(d, string(id.Data)) {
				return true
			}
		}
	case IDRFC822:
		for _, e := range c.EmailAddresses {
			if strings.EqualFold(e, string(id.Data)) {
				return true
			}
		}
	case IDDERASNDN:
		if bytes.Equal(id.Data, c.RawSubject) || dnEqual(id, Identity{IDDERASNDN, c.RawSubject}) {
			return true
		}
		var seq pkix.RDNSequence
		if rest, err := asn1.Unmarshal(id.Data, &seq); err == nil && len(rest) == 0 {
			var n pkix.Name
			n.FillFromRDNSequence(&seq)
			return n.String() == c.Subject.String()
		}
	case IDKeyID:
		return string(id.Data) == c.Subject.CommonName
	}
	return false
}

// pickIdentity chooses the identity that authenticates a peer (responder): a
// match-by=certificate identity whose remote-certificate is the one the peer presents
// first, then, of the identities of the AUTH's kind whose remote-id admits rid, the most
// specific (remoteIDRank), the first of equals: the reference's per-user identity
// (remote-id=user-fqdn:...) added after a catch-all one still gets its user.
func (sa *IKESA) pickIdentity(rid Identity, auth *Auth, ps []Payload) *IdentityConfig {
	sig := auth.Method != AuthPSK
	certs, _ := peerCerts(ps)
	if sig && len(certs) > 0 {
		for _, ic := range sa.peer.Identities {
			if ic.Method == AuthMethodSignature && ic.MatchByCert && ic.RemoteCert != nil && bytes.Equal(ic.RemoteCert.Raw, certs[0].Raw) {
				return ic
			}
		}
	}
	return sa.bestIdentity(rid, func(ic *IdentityConfig) bool {
		if ic.signs() != sig || (sig && ic.MatchByCert) {
			return false
		}
		if ic.Method == AuthMethodSignature {
			return ic.RemoteID.Auto || ic.RemoteID.Ignore || ic.RemoteID.ID.Equal(rid)
		}
		return sa.remoteIDMatches(ic, rid)
	})
}

// bestIdentity is, of the peer's identities ok admits for the peer's ID rid, the one
// whose remote-id is the most specific: an ID equal to rid, then auto, then ignore;
// the first of equals (RouterOS looks for the identity matching the peer best, so a
// catch-all does not shadow a per-user identity whatever their order).
func (sa *IKESA) bestIdentity(rid Identity, ok func(*IdentityConfig) bool) *IdentityConfig {
	var best *IdentityConfig
	bestRank := 0
	for _, ic := range sa.peer.Identities {
		if !ok(ic) {
			continue
		}
		rank := 3 // remote-id names the peer's ID
		switch {
		case ic.RemoteID.Ignore:
			rank = 1
		case ic.RemoteID.Auto:
			rank = 2
		}
		if rank > bestRank {
			best, bestRank = ic, rank
		}
	}
	return best
}

// checkPeerAuth verifies the peer's AUTH for identity ic ("" when it verifies, else
// why not, for the log). ofInitiator: the AUTH is the initiator's (we respond). rid is
// the peer's identity, ridb its ID payload body as received.
func (sa *IKESA) checkPeerAuth(ic *IdentityConfig, auth *Auth, rid Identity, ridb []byte, ps []Payload, ofInitiator bool) string {
	if ic.Method == AuthMethodRSAKey {
		if auth.Method == AuthPSK || ic.RemoteKey == nil {
			return "the rsa-key identity expects a signature made with its remote-key"
		}
		if err := verifyAuth(ic.RemoteKey, auth, sa.signedOctets(ofInitiator, ridb)); err != nil {
			return "AUTH signature does not verify with remote-key: " + err.Error()
		}
		return ""
	}
	if ic.Method != AuthMethodSignature {
		if auth.Method != AuthPSK || ic.Method != AuthMethodPSK {
			return fmt.Sprintf("peer authenticates with method %d; the identity expects a pre-shared key", auth.Method)
		}
		if !hmac.Equal(auth.Data, sa.authData(ic.PSK, ofInitiator, ridb)) {
			return "AUTH payload does not verify: pre-shared key mismatch"
		}
		return ""
	}
	if auth.Method == AuthPSK {
		return "peer authenticates with a pre-shared key; the identity expects a digital signature"
	}
	pub, why := sa.peerCertKey(ic, rid, ps, ofInitiator)
	if why != "" {
		return why
	}
	if err := verifyAuth(pub, auth, sa.signedOctets(ofInitiator, ridb)); err != nil {
		sa.peerCert = nil
		return "AUTH signature does not verify: " + err.Error()
	}
	return ""
}

// peerCertKey is the key a digital-signature identity verifies the peer's signature
// with: that of the peer's certificate (CERT payloads in ps, or remote-certificate),
// checked against the store, the identity's remote-certificate and the peer's ID rid;
// else why not. IKEv1 (ikev1_sig.go) shares it.
func (sa *IKESA) peerCertKey(ic *IdentityConfig, rid Identity, ps []Payload, ofInitiator bool) (crypto.PublicKey, string) {
	chain, err := peerCerts(ps)
	if err != nil {
		sa.d.Stats.Malformed.Add(1)
		return nil, err.Error()
	}
	var leaf *x509.Certificate
	switch {
	case ic.RemoteCert != nil && (ic.MatchByCert || len(chain) == 0):
		if len(chain) > 0 && !bytes.Equal(chain[0].Raw, ic.RemoteCert.Raw) {
			return nil, "peer's certificate is not the identity's remote-certificate"
		}
		leaf = ic.RemoteCert
	case len(chain) == 0:
		return nil, "peer sent no certificate and the identity has no remote-certificate"
	default:
		leaf = chain[0]
		if ic.RemoteCert != nil && !bytes.Equal(leaf.Raw, ic.RemoteCert.Raw) {
			return nil, "peer's certificate is not the identity's remote-certificate"
		}
	}
	if ic.Verifier == nil {
		return nil, "no certificate store to verify the peer's certificate"
	}
	full := append([]*x509.Certificate{leaf}, chain[min(1, len(chain)):]...)
	if err := ic.Verifier.VerifyPeer(full, !ofInitiator); err != nil {
		return nil, fmt.Sprintf("peer's certificate %q refused: %v", leaf.Subject.String(), err)
	}
	if !ic.RemoteID.Ignore && !idMatchesCert(rid, leaf) {
		return nil, fmt.Sprintf("peer's ID %s is not in its certificate %q (subject or alternative names)", rid, leaf.Subject.String())
	}
	sa.peerCert = leaf
	return leaf.PublicKey, ""
}
