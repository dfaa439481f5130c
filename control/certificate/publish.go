package certificate

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"math/big"
	"time"
)

// Publishing the CRLs of the router's own authorities at the distribution point sign
// ca-crl-host= writes into the certificates they issue (http://HOST/crl/SERIAL.crl), as
// RouterOS serves them on its www service: peers that check revocation (strongSwan's
// revocation plugin, Windows, another router with crl-download=yes) fetch them there.

// emptyCRLLife is how long a CA's signed empty CRL is served (and says it is valid for):
// strangers asking for it do not each cost a signature.
const emptyCRLLife = 24 * time.Hour

type signedCRL struct {
	der   []byte
	until time.Time
}

// PublishedCRL is the DER CRL of the CA here whose serial number (hexadecimal, as in its
// distribution point URL) is serial and whose private key the router holds: its
// /certificate crl entry (written by issued-revoke), or before it revoked anything an
// empty list it signs. ok is false when no such CA is here.
func (s *Store) PublishedCRL(serial string) (der []byte, ok bool) {
	// serial comes from a stranger's URL: a serial number is at most 20 bytes (RFC 5280
	// 4.1.2.2), 40 hexadecimal digits.
	var n big.Int
	if len(serial) > 40 {
		return nil, false
	}
	if _, good := n.SetString(serial, 16); !good {
		return nil, false
	}
	s.mu.RLock()
	var ca *Cert
	for _, c := range s.byName {
		if c.Key != nil && c.X509.IsCA && c.X509.SerialNumber.Cmp(&n) == 0 {
			ca = c
			break
		}
	}
	var found *x509.RevocationList
	if ca != nil {
		for _, l := range s.crls {
			if bytes.Equal(l.RawIssuer, ca.X509.RawSubject) && l.CheckSignatureFrom(ca.X509) == nil {
				found = l
			}
		}
	}
	s.mu.RUnlock()
	switch {
	case ca == nil:
		return nil, false
	case found != nil:
		return found.Raw, true
	}
	now := s.now()
	key := string(ca.X509.Raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.empty[key]; ok && now.Before(e.until) {
		return e.der, true
	}
	// Number 0: the first list issued-revoke writes is 1, newer for every peer.
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(0), ThisUpdate: now.UTC(), NextUpdate: now.Add(emptyCRLLife).UTC(),
	}, ca.X509, ca.Key)
	if err != nil {
		return nil, false
	}
	if s.empty == nil {
		s.empty = map[string]signedCRL{}
	}
	// Half the life: a peer never gets a list about to expire.
	s.empty[key] = signedCRL{der: der, until: now.Add(emptyCRLLife / 2)}
	return der, true
}
