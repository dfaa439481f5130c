package certificate

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"
)

// ErrNoACME is enable-ssl-certificate's answer: Let's Encrypt must reach the router on
// port 80 under a public DNS name, which this box has no way to offer.
var ErrNoACME = errors.New("this router has no ACME reachability (no public DNS name and port 80 reachable from the Internet); import a certificate instead")

// template is a /certificate item decoded: the subject and extensions sign writes.
type template struct {
	Name         string `prop:"name"`
	CommonName   string `prop:"common-name"`
	Country      string `prop:"country"`
	State        string `prop:"state"`
	Locality     string `prop:"locality"`
	Organization string `prop:"organization"`
	Unit         string `prop:"unit"`
	AltName      string `prop:"subject-alt-name"`
	KeyType      string `prop:"key-type"`
	KeySize      string `prop:"key-size"`
	DaysValid    int    `prop:"days-valid"`
	Digest       string `prop:"digest-algorithm"`
	KeyUsage     string `prop:"key-usage"`
	Trusted      bool   `prop:"trusted"`
	CertDER      string `prop:"certificate-der"`
	KeyDER       string `prop:"private-key-der"`
	CRLHost      string `prop:"ca-crl-host"`
}

// defaultKeyUsage is what RouterOS gives a template that names none.
const defaultKeyUsage = "digital-signature,key-encipherment,data-encipherment,key-cert-sign,crl-sign,tls-server,tls-client"

var kuBits = map[string]x509.KeyUsage{
	"digital-signature":  x509.KeyUsageDigitalSignature,
	"content-commitment": x509.KeyUsageContentCommitment,
	"key-encipherment":   x509.KeyUsageKeyEncipherment,
	"data-encipherment":  x509.KeyUsageDataEncipherment,
	"key-agreement":      x509.KeyUsageKeyAgreement,
	"key-cert-sign":      x509.KeyUsageCertSign,
	"crl-sign":           x509.KeyUsageCRLSign,
	"encipher-only":      x509.KeyUsageEncipherOnly,
	"decipher-only":      x509.KeyUsageDecipherOnly,
}

var ekus = map[string]x509.ExtKeyUsage{
	"tls-server":       x509.ExtKeyUsageServerAuth,
	"tls-client":       x509.ExtKeyUsageClientAuth,
	"code-sign":        x509.ExtKeyUsageCodeSigning,
	"email-protect":    x509.ExtKeyUsageEmailProtection,
	"timestamp":        x509.ExtKeyUsageTimeStamping,
	"ocsp-sign":        x509.ExtKeyUsageOCSPSigning,
	"ipsec-end-system": x509.ExtKeyUsageIPSECEndSystem,
	"ipsec-tunnel":     x509.ExtKeyUsageIPSECTunnel,
	"ipsec-user":       x509.ExtKeyUsageIPSECUser,
}

// oidIPsecIKE is id-kp-ipsecIKE (RFC 4945), which Go's x509 has no constant for.
var oidIPsecIKE = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 17}

// usages splits a key-usage list into key usage bits and extended key usages.
func usages(list string) (x509.KeyUsage, []x509.ExtKeyUsage, []asn1.ObjectIdentifier) {
	if list == "" {
		list = defaultKeyUsage
	}
	var ku x509.KeyUsage
	var ext []x509.ExtKeyUsage
	var unknown []asn1.ObjectIdentifier
	for _, w := range strings.Split(list, ",") {
		if b, ok := kuBits[w]; ok {
			ku |= b
		} else if e, ok := ekus[w]; ok {
			ext = append(ext, e)
		} else if w == "ipsec-ike" {
			unknown = append(unknown, oidIPsecIKE)
		}
	}
	return ku, ext, unknown
}

// usageWords writes a certificate's key usages back as key-usage words.
func usageWords(c *x509.Certificate) string {
	var out []string
	for _, w := range []string{"digital-signature", "content-commitment", "key-encipherment", "data-encipherment",
		"key-agreement", "key-cert-sign", "crl-sign", "encipher-only", "decipher-only"} {
		if c.KeyUsage&kuBits[w] != 0 {
			out = append(out, w)
		}
	}
	for _, w := range []string{"tls-server", "tls-client", "code-sign", "email-protect", "timestamp", "ocsp-sign",
		"ipsec-end-system", "ipsec-tunnel", "ipsec-user"} {
		for _, e := range c.ExtKeyUsage {
			if e == ekus[w] {
				out = append(out, w)
			}
		}
	}
	for _, o := range c.UnknownExtKeyUsage {
		if o.Equal(oidIPsecIKE) {
			out = append(out, "ipsec-ike")
		}
	}
	return strings.Join(out, ",")
}

// altNames reads subject-alt-name: DNS:name, IP:address, email:address, comma separated.
type altNames struct {
	dns    []string
	ips    []net.IP
	emails []string
}

func parseAltNames(s string) (altNames, error) {
	var a altNames
	if strings.TrimSpace(s) == "" {
		return a, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		kind, v, ok := strings.Cut(part, ":")
		if !ok || v == "" {
			return a, fmt.Errorf("subject-alt-name %q: expected DNS:name, IP:address or email:address", part)
		}
		switch strings.ToLower(kind) {
		case "dns":
			if strings.ContainsAny(v, " /") {
				return a, fmt.Errorf("subject-alt-name %q: not a DNS name", part)
			}
			a.dns = append(a.dns, v)
		case "ip":
			ip := net.ParseIP(v)
			if ip == nil {
				return a, fmt.Errorf("subject-alt-name %q: not an IP address", part)
			}
			if ip4 := ip.To4(); ip4 != nil {
				ip = ip4
			}
			a.ips = append(a.ips, ip)
		case "email":
			if _, err := mail.ParseAddress(v); err != nil {
				return a, fmt.Errorf("subject-alt-name %q: not an email address", part)
			}
			a.emails = append(a.emails, v)
		default:
			return a, fmt.Errorf("subject-alt-name %q: type %s is not DNS, IP or email", part, kind)
		}
	}
	return a, nil
}

// altNameString writes a certificate's SANs the way subject-alt-name takes them.
func altNameString(c *x509.Certificate) string {
	var out []string
	for _, d := range c.DNSNames {
		out = append(out, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		out = append(out, "IP:"+ip.String())
	}
	for _, e := range c.EmailAddresses {
		out = append(out, "email:"+e)
	}
	return strings.Join(out, ",")
}

// check validates a template before it is stored: its names and key parameters.
func (t *template) check() error {
	if _, err := parseAltNames(t.AltName); err != nil {
		return err
	}
	if len(t.Country) > 0 && len(t.Country) != 2 {
		return fmt.Errorf("country must be two letters")
	}
	_, ec := curveOf(t.KeySize)
	switch {
	case t.KeyType == "ec" && !ec && t.KeySize != "2048":
		return fmt.Errorf("key-type=ec needs a curve as key-size (prime256v1, secp384r1, secp521r1)")
	case t.KeyType == "rsa" && ec:
		return fmt.Errorf("key-size=%s is a curve: set key-type=ec", t.KeySize)
	}
	return nil
}

func curveOf(size string) (elliptic.Curve, bool) {
	switch size {
	case "prime256v1":
		return elliptic.P256(), true
	case "secp384r1":
		return elliptic.P384(), true
	case "secp521r1":
		return elliptic.P521(), true
	}
	return nil, false
}

// newKey generates the template's key: RSA of key-size bits, or EC on key-size's curve
// (P-256 when key-type=ec keeps the default size).
func (t *template) newKey() (crypto.Signer, error) {
	if c, ok := curveOf(t.KeySize); ok {
		return ecdsa.GenerateKey(c, rand.Reader)
	}
	if t.KeyType == "ec" {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	bits, err := strconv.Atoi(t.KeySize)
	if err != nil || bits < 1024 {
		bits = 2048
	}
	return rsa.GenerateKey(rand.Reader, bits)
}

// sigAlg is the signature algorithm a signer with key k uses for digest.
func sigAlg(k crypto.PublicKey, digest string) x509.SignatureAlgorithm {
	if _, ok := k.(*ecdsa.PublicKey); ok {
		switch digest {
		case "sha1":
			return x509.ECDSAWithSHA1
		case "sha384":
			return x509.ECDSAWithSHA384
		case "sha512":
			return x509.ECDSAWithSHA512
		}
		return x509.ECDSAWithSHA256
	}
	switch digest {
	case "sha1":
		return x509.SHA1WithRSA
	case "sha384":
		return x509.SHA384WithRSA
	case "sha512":
		return x509.SHA512WithRSA
	}
	return x509.SHA256WithRSA
}

// skid is the key identifier of a public key: SHA-1 of its subjectPublicKey bits
// (RFC 5280 4.2.1.2 method 1).
func skid(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Alg pkix.AlgorithmIdentifier
		Key asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	h := sha1.Sum(spki.Key.Bytes)
	return h[:], nil
}

// signer is what signs a template: a CA here (its certificate and key), or nobody
// (self-signed).
type signer struct {
	cert    *x509.Certificate
	key     crypto.Signer
	crlHost string
}

// sign makes the certificate of template t with key, signed by ca (nil: self-signed).
// A template with key-cert-sign becomes a CA; a self-signed one with crlHost carries its
// own distribution point, as RouterOS's do, so a peer holding only the CA learns where
// to download its list.
func (t *template) sign(key crypto.Signer, ca *signer, now time.Time, crlHost string) (*x509.Certificate, error) {
	alt, err := parseAltNames(t.AltName)
	if err != nil {
		return nil, err
	}
	ku, ext, unknown := usages(t.KeyUsage)
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	serial.Add(serial, big.NewInt(1))
	id, err := skid(key.Public())
	if err != nil {
		return nil, err
	}
	subj := pkix.Name{CommonName: t.CommonName}
	for _, f := range []struct {
		v   string
		dst *[]string
	}{{t.Country, &subj.Country}, {t.State, &subj.Province}, {t.Locality, &subj.Locality},
		{t.Organization, &subj.Organization}, {t.Unit, &subj.OrganizationalUnit}} {
		if f.v != "" {
			*f.dst = []string{f.v}
		}
	}
	days := t.DaysValid
	if days <= 0 {
		days = 365
	}
	tpl := &x509.Certificate{
		SerialNumber: serial, Subject: subj,
		NotBefore: now.Add(-time.Minute).UTC(), NotAfter: now.Add(time.Duration(days) * 24 * time.Hour).UTC(),
		KeyUsage: ku, ExtKeyUsage: ext, UnknownExtKeyUsage: unknown,
		DNSNames: alt.dns, IPAddresses: alt.ips, EmailAddresses: alt.emails,
		SubjectKeyId: id, BasicConstraintsValid: true, IsCA: ku&x509.KeyUsageCertSign != 0,
		SignatureAlgorithm: sigAlg(key.Public(), t.Digest),
	}
	if ca == nil && crlHost != "" && tpl.IsCA {
		tpl.CRLDistributionPoints = []string{crlURL(crlHost, tpl)}
	}
	parent, signKey := tpl, key
	if ca != nil {
		parent, signKey = ca.cert, ca.key
		tpl.SignatureAlgorithm = sigAlg(ca.key.Public(), t.Digest)
		if ca.crlHost != "" {
			tpl.CRLDistributionPoints = []string{crlURL(ca.crlHost, ca.cert)}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, parent, key.Public(), signKey)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// crlURL is where a CA's CRL is published: http://HOST/crl/SERIAL.crl, as RouterOS
// writes it.
func crlURL(host string, ca *x509.Certificate) string {
	return "http://" + host + "/crl/" + ca.SerialNumber.Text(16) + ".crl"
}

// fingerprint is the SHA-256 of a DER encoding, in hexadecimal.
func fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

// keyDER encodes a key for the store (PKCS#8).
func keyDER(k crypto.Signer) (string, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return "", err
	}
	return b64(der), nil
}

// parseKey reads a stored PKCS#8 key.
func parseKey(s string) (crypto.Signer, error) {
	der, err := unb64(s)
	if err != nil {
		return nil, errors.New("stored key is not base64")
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("stored key does not parse")
	}
	sg, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("stored key cannot sign")
	}
	return sg, nil
}

// samePublic reports whether a key belongs to a certificate.
func samePublic(k crypto.Signer, c *x509.Certificate) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := k.Public().(equaler)
	return ok && e.Equal(c.PublicKey)
}

// keyType and keySize describe a certificate's public key as RouterOS prints it.
func keyInfo(pub crypto.PublicKey) (typ, size string) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return "rsa", strconv.Itoa(k.N.BitLen())
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "ec", "prime256v1"
		case elliptic.P384():
			return "ec", "secp384r1"
		case elliptic.P521():
			return "ec", "secp521r1"
		}
		return "ec", k.Curve.Params().Name
	}
	return "unknown", ""
}

// routerosTime writes a time as RouterOS 7 prints dates: 2026-12-01 20:15:56.
func routerosTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") }

// hexColon writes key identifiers as hexadecimal.
func hexID(b []byte) string { return hex.EncodeToString(b) }

func in(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}
