package ipsec

import (
	"crypto/x509"
	"fmt"

	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/ike"
)

// certVerifier verifies peers' certificates against /certificate (trusted authorities,
// validity, extended key usage of the peer's role, CRLs with crl-use=yes).
type certVerifier struct{ s *certificate.Store }

func (v certVerifier) VerifyPeer(chain []*x509.Certificate, server bool) error {
	p := certificate.PurposeClient
	if server {
		p = certificate.PurposeServer
	}
	_, err := v.s.Verify(chain, p)
	return err
}

func (v certVerifier) Anchors() []*x509.Certificate { return v.s.Anchors() }

// watchCertificates re-applies the identities when /certificate changes (a
// certificate signed or imported after the identity naming it, a CA trusted).
func (e *Engine) watchCertificates() {
	if e.opts.Certs != nil {
		e.opts.Certs.Subscribe(func() {
			e.certGen.Add(1)
			e.poke()
		})
	}
}

// certAuth fills a digital-signature identity from /certificate: certificate= (with
// its private key) signs this side's AUTH; remote-certificate= names the peer's
// certificate, which match-by=certificate requires; the peer's chain is verified
// against the trusted authorities there.
func (e *Engine) certAuth(p identityItem, ic *ike.IdentityConfig) error {
	s := e.opts.Certs
	if s == nil {
		return fmt.Errorf("auth-method=%s needs the certificate engine", p.AuthMethod)
	}
	ic.Verifier = certVerifier{s}
	if name := p.Certificate; name != "" {
		c, ok := s.Get(name)
		if !ok {
			return fmt.Errorf("certificate %q: %w", name, certificate.ErrNotFound)
		}
		if c.Key == nil {
			return fmt.Errorf("certificate %q has no private key", name)
		}
		ic.Cert = &ike.Credential{Key: c.Key, Chain: s.Chain(c)}
	} else if p.AuthMethod == "digital-signature" {
		return fmt.Errorf("auth-method=digital-signature needs certificate=")
	}
	if name := p.RemoteCertificate; name != "" {
		c, ok := s.Get(name)
		if !ok {
			return fmt.Errorf("remote-certificate %q: %w", name, certificate.ErrNotFound)
		}
		ic.RemoteCert = c.X509
	}
	if p.MatchBy == "certificate" {
		if ic.RemoteCert == nil {
			return fmt.Errorf("match-by=certificate needs remote-certificate=")
		}
		ic.MatchByCert = true
	}
	return nil
}

// rsaKeyAuth fills an rsa-key identity from /ip ipsec key: key= (a private key) signs
// this side's AUTH, remote-key= (a public key, or a private one's public half)
// verifies the peer's.
func (e *Engine) rsaKeyAuth(p identityItem, ic *ike.IdentityConfig) error {
	s := e.opts.Certs
	if s == nil {
		return fmt.Errorf("auth-method=rsa-key needs the certificate engine (it keeps /ip ipsec key)")
	}
	k, ok := s.Key(p.Key)
	if !ok || k.Signer == nil {
		return fmt.Errorf("key %q is not a private key in /ip ipsec key", p.Key)
	}
	rk, ok := s.Key(p.RemoteKey)
	if !ok {
		return fmt.Errorf("remote-key %q is not in /ip ipsec key", p.RemoteKey)
	}
	ic.Method = ike.AuthMethodRSAKey
	ic.Cert = &ike.Credential{Key: k.Signer}
	ic.RemoteKey = rk.Public
	return nil
}
