package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/routerd/routerd/ike"
)

// sigIdent, when set (-cert), replaces the PSK identity: digital-signature with
// my-id and remote-id auto (the certificates' SANs).
var sigIdent *ike.IdentityConfig

func readPEM(file string) ([]*pem.Block, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var out []*pem.Block
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out, nil
		}
		out = append(out, blk)
	}
}

func certs(file string) ([]*x509.Certificate, error) {
	blks, err := readPEM(file)
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, b := range blks {
		if b.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no certificate", file)
	}
	return out, nil
}

func sigIdentity(certFile, keyFile, caFile string) (*ike.IdentityConfig, error) {
	chain, err := certs(certFile)
	if err != nil {
		return nil, err
	}
	blks, err := readPEM(keyFile)
	if err != nil || len(blks) == 0 {
		return nil, fmt.Errorf("-key: %v", err)
	}
	var k any
	for _, b := range blks {
		if k != nil {
			break
		}
		switch b.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(b.Bytes)
		}
	}
	signer, ok := k.(crypto.Signer)
	if err != nil || !ok {
		return nil, fmt.Errorf("-key: no usable private key (%v)", err)
	}
	cas, err := certs(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	for _, c := range cas {
		pool.AddCert(c)
	}
	return &ike.IdentityConfig{Method: ike.AuthMethodSignature, MyID: ike.IDSpec{Auto: true}, RemoteID: ike.IDSpec{Auto: true},
		Cert: &ike.Credential{Key: signer, Chain: chain}, Verifier: poolVerifier{pool, cas}}, nil
}

// poolVerifier verifies peers' chains against the -ca anchors.
type poolVerifier struct {
	roots *x509.CertPool
	cas   []*x509.Certificate
}

func (v poolVerifier) VerifyPeer(chain []*x509.Certificate, server bool) error {
	if len(chain) == 0 {
		return errors.New("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: v.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}

func (v poolVerifier) Anchors() []*x509.Certificate { return v.cas }
