package service

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files of the self-signed certificate, in the data dir.
const (
	selfKeyFile  = "service-tls.key"
	selfCertFile = "service-tls.crt"
)

// selfSigned loads the self-signed certificate from the data dir, generating it on
// first start (key 0600), so clients that pin it keep working across restarts.
func selfSigned(dataDir string) (tls.Certificate, error) {
	keyPath, certPath := filepath.Join(dataDir, selfKeyFile), filepath.Join(dataDir, selfCertFile)
	if c, err := tls.LoadX509KeyPair(certPath, keyPath); err == nil {
		return c, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "routerd", Organization: []string{"routerd self-signed"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", host},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFile(certPath, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// writeFile writes through a temporary file so a crash never leaves half a key, and
// creates it with its final mode so the key is never readable by others.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// tlsConfig builds the TLS settings of api-ssl or www-ssl: the named certificate
// (from /certificate, else files/NAME.crt and files/NAME.key) or the self-signed one,
// and tls-version.
func (m *Manager) tlsConfig(c config) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	found := false
	if c.cert != "" && c.cert != "none" && m.Certs != nil {
		cert, found = m.Certs(c.cert)
	}
	switch {
	case found:
	case c.cert == "" || c.cert == "none":
		cert, err = selfSigned(m.dataDir)
	default:
		files := filepath.Join(m.dataDir, "files")
		if filepath.Base(c.cert) != c.cert || c.cert == "." || c.cert == ".." {
			return nil, fmt.Errorf("certificate %s not found", c.cert)
		}
		cert, err = tls.LoadX509KeyPair(filepath.Join(files, c.cert+".crt"), filepath.Join(files, c.cert+".key"))
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("certificate %s not found", c.cert)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.only12 {
		tc.MaxVersion = tls.VersionTLS12
	}
	return tc, nil
}
