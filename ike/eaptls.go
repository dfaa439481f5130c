package ike

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
)

// The EAP initiator's TLS-based methods (eap-tls, eap-ttls, eap-peap): the responder's
// EAP server is verified against /certificate (the identity's Verifier, as a
// tls-server), and EAP-TLS presents the identity's certificate=.

// eapIdentity is the EAP identity: username=, else the certificate's common name.
func (sa *IKESA) eapIdentity() string {
	if sa.ident.EAPUser != "" {
		return sa.ident.EAPUser
	}
	if c := sa.ident.Cert; c != nil && len(c.Chain) > 0 {
		return c.Chain[0].Subject.CommonName
	}
	return ""
}

// eapTLS is the TLS configuration of the TLS-based methods.
func (sa *IKESA) eapTLS() *tls.Config {
	ic := sa.ident
	// The chain is checked by the Verifier (trust, validity, tls-server usage, CRLs)
	// rather than by crypto/tls's own roots.
	c := &tls.Config{InsecureSkipVerify: true}
	if ic.Cert != nil && len(ic.Cert.Chain) > 0 {
		cert := &tls.Certificate{PrivateKey: ic.Cert.Key, Leaf: ic.Cert.Chain[0]}
		for _, x := range ic.Cert.Chain {
			cert.Certificate = append(cert.Certificate, x.Raw)
		}
		// Sent whatever authorities the server names: it decides.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	v := ic.Verifier
	c.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if v == nil {
			return errors.New("no certificate store to verify the EAP server's certificate with")
		}
		var chain []*x509.Certificate
		for _, r := range raw {
			x, err := x509.ParseCertificate(r)
			if err != nil {
				return fmt.Errorf("EAP server certificate: %w", err)
			}
			chain = append(chain, x)
		}
		if len(chain) == 0 {
			return errors.New("the EAP server sent no certificate")
		}
		if err := v.VerifyPeer(chain, true); err != nil {
			return fmt.Errorf("EAP server certificate %q: %w", chain[0].Subject.CommonName, err)
		}
		return nil
	}
	return c
}
