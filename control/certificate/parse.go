package certificate

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/youmark/pkcs8"
	"software.sslmate.com/src/go-pkcs12"
)

// maxImport bounds the files import reads: certificate bundles are kilobytes.
const maxImport = 1 << 20

// ErrDecrypt is an encrypted key or PKCS#12 file that the passphrase does not open.
var ErrDecrypt = errors.New("decryption failed: wrong or missing passphrase")

// bundle is what one imported file holds.
type bundle struct {
	certs []*x509.Certificate
	keys  []crypto.Signer
	crls  []*x509.RevocationList
	// decryptFailures counts encrypted keys the passphrase did not open.
	decryptFailures int
}

// parseBundle reads a PEM file (any mix of certificates, keys — PKCS#8, encrypted
// PKCS#8, PKCS#1, SEC 1, legacy encrypted PEM — and CRLs), a DER certificate, key or
// CRL, or a PKCS#12 file opened with pass.
func parseBundle(data []byte, pass string) (b *bundle, err error) {
	if len(data) > maxImport {
		return nil, fmt.Errorf("file is larger than %d bytes", maxImport)
	}
	defer func() {
		// A panic in a decoder of untrusted bytes is a bad file, not a dead router.
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("malformed file (%v)", p)
		}
	}()
	b = &bundle{}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		err = b.pem(data, pass)
	} else {
		err = b.der(data, pass)
	}
	if err != nil {
		return nil, err
	}
	if len(b.certs)+len(b.keys)+len(b.crls) == 0 && b.decryptFailures == 0 {
		return nil, errors.New("no certificate, key or CRL found in the file")
	}
	return b, nil
}

func (b *bundle) pem(data []byte, pass string) error {
	rest := data
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil
		}
		switch blk.Type {
		case "CERTIFICATE", "X509 CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return fmt.Errorf("certificate does not parse: %w", err)
			}
			b.certs = append(b.certs, c)
		case "X509 CRL":
			l, err := x509.ParseRevocationList(blk.Bytes)
			if err != nil {
				return fmt.Errorf("CRL does not parse: %w", err)
			}
			b.crls = append(b.crls, l)
		case "ENCRYPTED PRIVATE KEY":
			if pass == "" {
				b.decryptFailures++
				continue
			}
			k, err := pkcs8.ParsePKCS8PrivateKey(blk.Bytes, []byte(pass))
			if err != nil {
				b.decryptFailures++
				continue
			}
			if err := b.addKey(k); err != nil {
				return err
			}
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
			der := blk.Bytes
			//lint:ignore SA1019 legacy encrypted PEM keys are what older exports hold; read only
			if x509.IsEncryptedPEMBlock(blk) {
				var err error
				//lint:ignore SA1019 see above
				if der, err = x509.DecryptPEMBlock(blk, []byte(pass)); err != nil || pass == "" {
					b.decryptFailures++
					continue
				}
			}
			k, err := parseAnyKey(der)
			if err != nil {
				return err
			}
			if err := b.addKey(k); err != nil {
				return err
			}
		}
	}
}

func (b *bundle) der(data []byte, pass string) error {
	if cs, err := x509.ParseCertificates(data); err == nil && len(cs) > 0 {
		b.certs = cs
		return nil
	}
	if k, err := parseAnyKey(data); err == nil {
		return b.addKey(k)
	}
	if l, err := x509.ParseRevocationList(data); err == nil {
		b.crls = append(b.crls, l)
		return nil
	}
	if err := checkIterations(data, 0); err != nil {
		return err
	}
	key, cert, cas, err := pkcs12.DecodeChain(data, pass)
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return ErrDecrypt
	}
	if err == nil {
		b.certs = append(append(b.certs, cert), cas...)
		return b.addKey(key)
	}
	if cs, terr := pkcs12.DecodeTrustStore(data, pass); terr == nil && len(cs) > 0 {
		b.certs = cs
		return nil
	}
	return errors.New("not a PEM, DER or PKCS#12 file")
}

func parseAnyKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("private key does not parse")
}

func (b *bundle) addKey(k any) error {
	s, ok := k.(crypto.Signer)
	if !ok {
		return fmt.Errorf("private key of type %T cannot sign", k)
	}
	b.keys = append(b.keys, s)
	return nil
}

// maxIterations bounds the PBKDF iteration counts a PKCS#12 file may ask for: the
// decoder runs whatever count the file names, so a crafted file could hold an import
// for hours. Real files use 2,048 to 600,000.
const maxIterations = 2_000_000

// checkIterations walks DER (descending into OCTET STRINGs that hold DER, as PKCS#12
// nests its parts) and refuses an INTEGER following an OCTET STRING in a SEQUENCE —
// the salt-then-iterations shape of pbeParams, PBKDF2-params and MacData — above
// maxIterations.
func checkIterations(der []byte, depth int) error {
	if depth > 24 {
		return nil
	}
	prevSalt := false
	for len(der) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return nil
		}
		der = rest
		switch {
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagInteger && prevSalt:
			if len(v.Bytes) > 4 || new(big.Int).SetBytes(v.Bytes).Int64() > maxIterations {
				return fmt.Errorf("PKCS#12 iteration count is above %d", maxIterations)
			}
		case v.IsCompound || v.Tag == asn1.TagOctetString:
			if err := checkIterations(v.Bytes, depth+1); err != nil {
				return err
			}
		}
		prevSalt = v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString && !v.IsCompound
	}
	return nil
}
