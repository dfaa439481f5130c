package certificate

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Cert is one certificate of /certificate as other engines use it.
type Cert struct {
	Name string
	X509 *x509.Certificate
	// Key is the private key, nil when the router does not hold it.
	Key     crypto.Signer
	Trusted bool
	// Revoked: a CA here revoked it with issued-revoke.
	Revoked bool
}

// Purpose is what a peer's certificate must be good for.
type Purpose int

const (
	// PurposeClient: the peer is a client (IKE initiator, TLS client): tls-client.
	PurposeClient Purpose = iota
	// PurposeServer: the peer is a server (IKE responder): tls-server.
	PurposeServer
)

// Errors of Verify that callers (and tests) tell apart.
var (
	ErrRevoked  = errors.New("certificate is revoked")
	ErrUsage    = errors.New("certificate is not for this use")
	ErrNotFound = errors.New("no such certificate")
)

// Store is the certificates of the router, as the engine last read them: a typed
// service for other engines (engine.Offer), safe for concurrent use.
type Store struct {
	mu     sync.RWMutex
	byName map[string]*Cert
	keys   map[string]*Key
	crls   []*x509.RevocationList
	crlUse bool
	now    func() time.Time
	subs   []func()
	// empty holds the signed empty CRLs of CAs that revoked nothing yet, by CA (publish.go).
	empty map[string]signedCRL
}

// Subscribe calls fn (which must not block) after every refresh of the store, so that
// an engine using certificates re-applies what names them.
func (s *Store) Subscribe(fn func()) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

func newStore() *Store {
	return &Store{byName: map[string]*Cert{}, keys: map[string]*Key{}, now: time.Now}
}

// set replaces the contents (the engine's pass).
func (s *Store) set(certs map[string]*Cert, crls []*x509.RevocationList, crlUse, keysChanged bool) {
	s.mu.Lock()
	changed := keysChanged || len(certs) != len(s.byName) || crlUse != s.crlUse || len(crls) != len(s.crls)
	for n, c := range certs {
		o := s.byName[n]
		changed = changed || o == nil || o.X509 != c.X509 || o.Key != c.Key || o.Trusted != c.Trusted || o.Revoked != c.Revoked
	}
	for i := range crls {
		changed = changed || i >= len(s.crls) || !bytes.Equal(s.crls[i].Raw, crls[i].Raw)
	}
	s.byName, s.crls, s.crlUse = certs, crls, crlUse
	subs := s.subs
	s.mu.Unlock()
	if changed {
		for _, fn := range subs {
			fn()
		}
	}
}

// Get returns the certificate called name.
func (s *Store) Get(name string) (*Cert, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.byName[name]
	return c, ok
}

// Anchors are the trusted authorities: the roots Verify accepts, and what CERTREQ names.
func (s *Store) Anchors() []*x509.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*x509.Certificate
	for _, c := range s.byName {
		if c.Trusted && c.X509.IsCA {
			out = append(out, c.X509)
		}
	}
	return out
}

// Chain is what a peer needs to verify c: c, then the issuers here up to (not
// including) a self-signed root.
func (s *Store) Chain(c *Cert) []*x509.Certificate { return s.chain(c.X509, false) }

// chain is x and its issuers here; with root the self-signed root too.
func (s *Store) chain(x *x509.Certificate, root bool) []*x509.Certificate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []*x509.Certificate{x}
	cur := x
	for i := 0; i < 8; i++ {
		if bytes.Equal(cur.RawIssuer, cur.RawSubject) {
			break
		}
		var parent *x509.Certificate
		for _, o := range s.byName {
			if o.X509.IsCA && bytes.Equal(o.X509.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(o.X509) == nil {
				parent = o.X509
				break
			}
		}
		if parent == nil || (!root && bytes.Equal(parent.RawIssuer, parent.RawSubject)) {
			break
		}
		out = append(out, parent)
		cur = parent
	}
	return out
}

// Verify checks a peer's chain (leaf first, then what it sent besides) against the
// trusted authorities here: signatures, validity times, the extended key usage the
// purpose needs (a certificate with no EKU extension is good for anything, as is
// anyExtendedKeyUsage or ipsec-ike), a key usage that allows signing, and with
// crl-use=yes the CRLs here. It returns the verified chain, leaf first.
func (s *Store) Verify(chain []*x509.Certificate, p Purpose) ([]*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, errors.New("no certificate")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	leaf := chain[0]
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range s.byName {
		switch {
		case c.Trusted:
			roots.AddCert(c.X509)
		case c.X509.IsCA:
			inter.AddCert(c.X509)
		}
	}
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	want := x509.ExtKeyUsageClientAuth
	if p == PurposeServer {
		want = x509.ExtKeyUsageServerAuth
	}
	if len(leaf.ExtKeyUsage)+len(leaf.UnknownExtKeyUsage) > 0 && !hasEKU(leaf, want) {
		return nil, fmt.Errorf("%w: extended key usage %s lacks %s", ErrUsage, usageWords(leaf), map[Purpose]string{PurposeClient: "tls-client", PurposeServer: "tls-server"}[p])
	}
	if leaf.KeyUsage != 0 && leaf.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return nil, fmt.Errorf("%w: key usage %s does not allow digital-signature", ErrUsage, usageWords(leaf))
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: s.now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, err
	}
	got := chains[0]
	for _, c := range s.byName {
		if c.Revoked && bytes.Equal(c.X509.Raw, leaf.Raw) && s.crlUse {
			return nil, fmt.Errorf("%w by its CA here (issued-revoke)", ErrRevoked)
		}
	}
	if s.crlUse {
		for i := 0; i+1 < len(got); i++ {
			if l := s.revokedBy(got[i], got[i+1]); l != nil {
				return nil, fmt.Errorf("%w: serial %s is in the CRL of %s", ErrRevoked, got[i].SerialNumber.Text(16), got[i+1].Subject)
			}
		}
	}
	return got, nil
}

func hasEKU(c *x509.Certificate, want x509.ExtKeyUsage) bool {
	for _, e := range c.ExtKeyUsage {
		if e == want || e == x509.ExtKeyUsageAny {
			return true
		}
	}
	for _, o := range c.UnknownExtKeyUsage {
		if o.Equal(oidIPsecIKE) {
			return true
		}
	}
	return false
}

// revokedBy returns the CRL of issuer that lists c, or nil.
func (s *Store) revokedBy(c, issuer *x509.Certificate) *x509.RevocationList {
	for _, l := range s.crls {
		if !bytes.Equal(l.RawIssuer, issuer.RawSubject) || l.CheckSignatureFrom(issuer) != nil {
			continue
		}
		for _, e := range l.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(c.SerialNumber) == 0 {
				return l
			}
		}
	}
	return nil
}
