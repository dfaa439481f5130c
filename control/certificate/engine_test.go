package certificate_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/rest"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/system"
)

type router struct {
	dir string
	ex  *control.Executor
	e   *certificate.Engine
	in  *script.Interp
	con *script.Console
}

func newRouter(t *testing.T) *router {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	e := certificate.New(certificate.Options{DataDir: dir})
	if err := e.Attach(ex); err != nil {
		t.Fatal(err)
	}
	return &router{dir: dir, ex: ex, e: e, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin"}}}
}

func (r *router) run(t *testing.T, src string) string {
	t.Helper()
	out, err := r.try(src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return out
}

func (r *router) try(src string) (string, error) {
	var b strings.Builder
	err := r.in.Run(context.Background(), r.con, src, &b)
	// A script's last writes may commit from its flush timer, whose notice reaches the
	// engine a moment after Run returns: read what is committed now.
	r.e.Reconcile(context.Background())
	return b.String(), err
}

func (r *router) file(name string) string { return filepath.Join(r.dir, "files", name) }

// referenceCA is the reference's road-warrior certificate setup, as written.
const referenceCA = `/certificate
add common-name=ca name=ca
sign ca ca-crl-host=2.2.2.2
add common-name=2.2.2.2 subject-alt-name=IP:2.2.2.2 key-usage=tls-server name=server1
sign server1 ca=ca
add common-name=rw-client1 name=rw-client1 key-usage=tls-client
sign rw-client1 ca=ca
`

func TestReferenceCertificates(t *testing.T) {
	r := newRouter(t)
	r.run(t, referenceCA)
	out := r.run(t, "/certificate print detail")
	for _, want := range []string{`name="ca"`, `name="server1"`, `subject-alt-name="IP:2.2.2.2"`, `ca="ca"`, `key-usage="tls-server"`} {
		if !strings.Contains(strings.ReplaceAll(out, `"`, `"`), want) && !strings.Contains(out, strings.ReplaceAll(want, `"`, "")) {
			t.Errorf("print detail lacks %s:\n%s", want, out)
		}
	}
	flags := r.run(t, `:put [/certificate get [find name=ca] authority]; :put [/certificate get [find name=server1] issued]; :put [/certificate get [find name=server1] private-key]; :put [/certificate get [find name=ca] trusted]`)
	if strings.Fields(flags)[0] != "true" && strings.Fields(flags)[0] != "yes" {
		t.Errorf("ca flags: %q", flags)
	}
	if strings.Contains(out, "private-key-der") || strings.Contains(out, "certificate-der") {
		t.Errorf("print shows stored DER:\n%s", out)
	}
	if exp := r.run(t, "/export"); strings.Contains(exp, "certificate") {
		t.Errorf("/export carries certificates:\n%s", exp)
	}
	show := r.run(t, "/export show-sensitive")
	if strings.Contains(show, "private-key") {
		t.Errorf("export show-sensitive carries keys:\n%s", show)
	}

	// The reference's exports, as written.
	r.run(t, `/certificate
export-certificate rw-client1 export-passphrase=1234567890 type=pkcs12
export-certificate ca type=pem
export-certificate ca
export-certificate rw-client1 export-passphrase=1234567890
`)
	for _, f := range []string{"cert_export_rw-client1.p12", "cert_export_ca.crt", "cert_export_rw-client1.crt", "cert_export_rw-client1.key"} {
		st, err := os.Stat(r.file(f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, st.Mode().Perm())
		}
	}
	if _, err := os.Stat(r.file("cert_export_ca.key")); err == nil {
		t.Errorf("the CA's key was exported without a passphrase")
	}
	if _, err := r.try("/certificate export-certificate rw-client1 type=pkcs12"); err == nil {
		t.Errorf("PKCS#12 export without passphrase accepted")
	}

	// openssl, an independent reader, checks the chain and opens the key and the bundle.
	if _, err := exec.LookPath("openssl"); err == nil {
		ossl := func(args ...string) string {
			out, err := exec.Command("openssl", args...).CombinedOutput()
			if err != nil {
				t.Fatalf("openssl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		ossl("verify", "-CAfile", r.file("cert_export_ca.crt"), r.file("cert_export_rw-client1.crt"))
		ossl("pkey", "-in", r.file("cert_export_rw-client1.key"), "-passin", "pass:1234567890", "-noout")
		p12 := ossl("pkcs12", "-in", r.file("cert_export_rw-client1.p12"), "-passin", "pass:1234567890", "-nokeys")
		if strings.Count(p12, "BEGIN CERTIFICATE") != 2 {
			t.Errorf("PKCS#12 should carry the client and the CA:\n%s", p12)
		}
	}

	// A second router imports the PKCS#12 bundle as the reference's client does.
	r2 := newRouter(t)
	b, _ := os.ReadFile(r.file("cert_export_rw-client1.p12"))
	os.MkdirAll(filepath.Join(r2.dir, "files"), 0o700)
	os.WriteFile(r2.file("cert_export_RouterOS_client.p12"), b, 0o600)
	if _, err := r2.try("/certificate import file-name=cert_export_RouterOS_client.p12 passphrase=wrong-passphrase"); err == nil {
		t.Errorf("wrong passphrase accepted")
	}
	out = r2.run(t, "/certificate import file-name=cert_export_RouterOS_client.p12 passphrase=1234567890")
	if !strings.Contains(out, "certificates-imported: 2") || !strings.Contains(out, "private-keys-imported: 1") {
		t.Errorf("import: %s", out)
	}
	got := r2.run(t, `:put [/certificate get [find name=cert_export_RouterOS_client.p12_0] private-key]; :put [/certificate get [find name=cert_export_RouterOS_client.p12_0] common-name]`)
	if !strings.Contains(got, "rw-client1") {
		t.Errorf("cert_export_RouterOS_client.p12_0 is not the client certificate: %q", got)
	}
	c, ok := r2.e.Store().Get("cert_export_RouterOS_client.p12_0")
	if !ok || c.Key == nil {
		t.Fatalf("client certificate without key in the store")
	}
	if _, err := r2.e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeClient); err != nil {
		t.Errorf("imported chain does not verify: %v", err)
	}
	if _, err := r2.e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeServer); !errors.Is(err, certificate.ErrUsage) {
		t.Errorf("a tls-client certificate verified as a server: %v", err)
	}

	// A script reading the imported items right after import sees them complete: the
	// K flag, the CA's A flag and the fingerprint (not a moment later).
	r3 := newRouter(t)
	os.MkdirAll(filepath.Join(r3.dir, "files"), 0o700)
	os.WriteFile(r3.file("c.p12"), b, 0o600)
	got = r3.run(t, `/certificate import file-name=c.p12 passphrase=1234567890
:put ([/certificate get [find name=c.p12_0] private-key] . "|" . [/certificate get [find name=c.p12_0] fingerprint] . "|" . [/certificate print count-only where authority])`)
	if want := "true|" + certFingerprint(c.X509) + "|1"; !strings.Contains(got, want) {
		t.Errorf("right after import: %q, want %q", got, want)
	}
}

func certFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func TestRevokeAndCRL(t *testing.T) {
	r := newRouter(t)
	r.run(t, referenceCA+"/certificate settings set crl-use=yes\n")
	c, _ := r.e.Store().Get("rw-client1")
	if _, err := r.e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeClient); err != nil {
		t.Fatalf("verify before revoking: %v", err)
	}
	r.run(t, "/certificate issued-revoke rw-client1")
	if _, err := r.e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeClient); !errors.Is(err, certificate.ErrRevoked) {
		t.Errorf("revoked certificate verified: %v", err)
	}
	out := r.run(t, `:put [/certificate get [find name=rw-client1] revoked]; :put [/certificate get [find name=ca] crl]`)
	if strings.Count(out, "true")+strings.Count(out, "yes") != 2 {
		t.Errorf("R and L flags: %q", out)
	}
	if crl := r.run(t, "/certificate crl print detail"); !strings.Contains(crl, strings.ToUpper(c.X509.SerialNumber.Text(16))) {
		t.Errorf("CRL does not list the serial:\n%s", crl)
	}
	if _, err := r.try("/certificate issued-revoke rw-client1"); err == nil {
		t.Errorf("revoked twice")
	}
}

func TestBadInput(t *testing.T) {
	r := newRouter(t)
	for _, bad := range []string{
		"/certificate add name=a common-name=a subject-alt-name=IP:not-an-ip",
		"/certificate add name=a common-name=a subject-alt-name=URI:x",
		"/certificate add name=a common-name=a key-type=rsa key-size=prime256v1",
		"/certificate add name=a common-name=a certificate-der=AAAA",
		"/certificate enable-ssl-certificate",
		"/certificate import file-name=../etc/passwd",
		"/certificate import file-name=missing.pem",
	} {
		if _, err := r.try(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	os.MkdirAll(filepath.Join(r.dir, "files"), 0o700)
	os.WriteFile(r.file("junk.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0o600)
	if _, err := r.try("/certificate import file-name=junk.pem"); err == nil {
		t.Errorf("malformed certificate imported")
	}
	if n := r.run(t, ":put [:len [/certificate find]]"); strings.TrimSpace(n) != "0" {
		t.Errorf("bad input changed the configuration: %s", n)
	}
	// Certificates are only changed by name, trust and comment once signed.
	r.run(t, "/certificate add name=ca common-name=ca\n/certificate sign ca")
	if _, err := r.try("/certificate set ca common-name=other"); err == nil {
		t.Errorf("subject of a signed certificate changed")
	}
	r.run(t, "/certificate set ca trusted=no")
}

func TestECDSAAndPEMImport(t *testing.T) {
	r := newRouter(t)
	r.run(t, `/certificate
add name=ca common-name=ca key-type=ec key-size=prime256v1
sign ca
add name=srv common-name=srv.example subject-alt-name=DNS:srv.example,email:a@b.example key-type=ec key-size=secp384r1 key-usage=digital-signature,tls-server
sign srv ca=ca
export-certificate srv export-passphrase=a-long-passphrase
export-certificate ca
`)
	c, ok := r.e.Store().Get("srv")
	if !ok {
		t.Fatalf("srv not in the store:\n%s", r.run(t, "/certificate print detail"))
	}
	if c.X509.PublicKeyAlgorithm != x509.ECDSA || len(c.X509.DNSNames) != 1 || len(c.X509.EmailAddresses) != 1 {
		t.Fatalf("srv: %v %v %v", c.X509.PublicKeyAlgorithm, c.X509.DNSNames, c.X509.EmailAddresses)
	}
	// PEM chain and encrypted key into a second router: the key finds its certificate.
	r2 := newRouter(t)
	os.MkdirAll(filepath.Join(r2.dir, "files"), 0o700)
	crt, _ := os.ReadFile(r.file("cert_export_srv.crt"))
	ca, _ := os.ReadFile(r.file("cert_export_ca.crt"))
	key, _ := os.ReadFile(r.file("cert_export_srv.key"))
	if b, _ := pem.Decode(key); b == nil || b.Type != "ENCRYPTED PRIVATE KEY" {
		t.Fatalf("exported key is not encrypted PKCS#8")
	}
	os.WriteFile(r2.file("chain.pem"), append(crt, ca...), 0o600)
	os.WriteFile(r2.file("srv.key"), key, 0o600)
	out := r2.run(t, "/certificate import file-name=chain.pem")
	if !strings.Contains(out, "certificates-imported: 2") {
		t.Errorf("chain import: %s", out)
	}
	out = r2.run(t, "/certificate import file-name=srv.key")
	if !strings.Contains(out, "decryption-failures: 1") {
		t.Errorf("key without passphrase: %s", out)
	}
	out = r2.run(t, "/certificate import file-name=srv.key passphrase=a-long-passphrase")
	if !strings.Contains(out, "private-keys-imported: 1") {
		t.Errorf("key import: %s", out)
	}
	if c, ok := r2.e.Store().Get("chain.pem_0"); !ok || c.Key == nil {
		t.Errorf("key not matched to chain.pem_0")
	}
}

// TestExpiredAndUntrusted: a chain past its end, or ending at a CA that is not trusted,
// does not verify; a CA made here with sign is trusted.
func TestExpiredAndUntrusted(t *testing.T) {
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	now := time.Now()
	e := certificate.New(certificate.Options{DataDir: dir, Now: func() time.Time { return now }})
	if err := e.Attach(ex); err != nil {
		t.Fatal(err)
	}
	r := &router{dir: dir, ex: ex, e: e, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin"}}}
	r.run(t, referenceCA)
	c, _ := e.Store().Get("rw-client1")
	if _, err := e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeClient); err != nil {
		t.Fatal(err)
	}
	now = now.Add(400 * 24 * time.Hour) // days-valid=365
	if _, err := e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeClient); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired chain: %v", err)
	}
	e.Reconcile(context.Background())
	if out := r.run(t, ":put [/certificate get rw-client1 expired]"); !strings.Contains(out, "true") {
		t.Errorf("E flag: %q", out)
	}
	now = now.Add(-400 * 24 * time.Hour)
	r.run(t, "/certificate set ca trusted=no")
	if _, err := e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeClient); err == nil {
		t.Errorf("verified with the CA untrusted")
	}
}

// TestIPsecKeys: /ip ipsec key generate-key, export-pub-key and import (the exported
// public key comes back as a public-only key), print's P and R flags, and no key in
// /export.
func TestIPsecKeys(t *testing.T) {
	r := newRouter(t)
	r.run(t, `/ip ipsec key
generate-key name=k1 key-size=2048
export-pub-key key=k1 file-name=k1.pub
import file-name=k1.pub name=k1pub
`)
	out := r.run(t, "/ip ipsec key print")
	if !strings.Contains(out, "PR") || !strings.Contains(out, "k1pub") || !strings.Contains(out, "2048") {
		t.Errorf("print:\n%s", out)
	}
	if k, ok := r.e.Store().Key("k1pub"); !ok || k.Signer != nil || k.Public == nil {
		t.Errorf("k1pub should be public only")
	}
	if exp := r.run(t, "/export show-sensitive"); strings.Contains(exp, "key-der") {
		t.Errorf("export carries the key:\n%s", exp)
	}
	for _, bad := range []string{"/ip ipsec key generate-key name=k2 key-size=512", "/ip ipsec key generate-key name=k1",
		"/ip ipsec key import file-name=nothing.pem name=x", "/ip ipsec key export-pub-key key=none file-name=x.pub"} {
		if _, err := r.try(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestCRLDownload: router A publishes its CA's CRL on www at the distribution point
// ca-crl-host put in the certificates it issued (rest.Server's /crl/ route: an empty
// list it signs before it revoked anything, then issued-revoke's); router B, holding
// the CA's certificate and a client certificate, downloads it (crl-download=yes) and
// with crl-use=yes refuses the revoked client; crl-store=system keeps the list as a
// /certificate crl item.
func TestCRLDownload(t *testing.T) {
	a := newRouter(t)
	www := &rest.Server{CRL: a.e.Store().PublishedCRL}
	srv := httptest.NewServer(www)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	a.run(t, `/certificate
add common-name=ca name=ca
sign ca ca-crl-host=`+host+`
add common-name=rw-client1 name=rw-client1 key-usage=tls-client
sign rw-client1 ca=ca
export-certificate ca
export-certificate rw-client1
`)
	ca, _ := a.e.Store().Get("ca")
	if want := "http://" + host + "/crl/" + ca.X509.SerialNumber.Text(16) + ".crl"; len(ca.X509.CRLDistributionPoints) != 1 || ca.X509.CRLDistributionPoints[0] != want {
		t.Errorf("the CA's own distribution point %v, want %s", ca.X509.CRLDistributionPoints, want)
	}
	for _, path := range []string{"/crl/" + ca.X509.SerialNumber.Text(16) + "0.crl", "/crl/zz.crl", "/crl/", "/crl/" + ca.X509.SerialNumber.Text(16)} {
		if resp, err := http.Get(srv.URL + path); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %v %v", path, err, resp.Status)
		}
	}

	b := newRouter(t)
	os.MkdirAll(filepath.Join(b.dir, "files"), 0o700)
	for _, f := range []string{"cert_export_ca.crt", "cert_export_rw-client1.crt"} {
		data, _ := os.ReadFile(a.file(f))
		os.WriteFile(b.file(f), data, 0o600)
	}
	b.run(t, "/certificate import file-name=cert_export_ca.crt\n/certificate import file-name=cert_export_rw-client1.crt\n/certificate settings set crl-use=yes")
	c, _ := b.e.Store().Get("cert_export_rw-client1.crt_0")
	verify := func() error {
		_, err := b.e.Store().Verify([]*x509.Certificate{c.X509}, certificate.PurposeClient)
		return err
	}
	b.run(t, "/certificate settings set crl-download=yes")
	b.e.DownloadCRLs(context.Background())
	if err := verify(); err != nil {
		t.Fatalf("with A's empty list: %v", err)
	}
	resp, err := http.Get(srv.URL + "/crl/" + ca.X509.SerialNumber.Text(16) + ".crl")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	l, err := x509.ParseRevocationList(body)
	if err != nil || l.CheckSignatureFrom(ca.X509) != nil || len(l.RevokedCertificateEntries) != 0 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("A's empty list: %v %v", err, resp.Header)
	}
	b.run(t, "/certificate settings set crl-download=no")
	a.run(t, "/certificate issued-revoke rw-client1")
	b.e.DownloadCRLs(context.Background()) // crl-download=no: nothing fetched
	if err := verify(); err != nil {
		t.Fatalf("downloaded with crl-download=no: %v", err)
	}
	b.run(t, "/certificate settings set crl-download=yes")
	b.e.DownloadCRLs(context.Background())
	if err := verify(); !errors.Is(err, certificate.ErrRevoked) {
		t.Fatalf("after the download (ram): %v", err)
	}
	b.run(t, "/certificate settings set crl-store=system")
	b.e.DownloadCRLs(context.Background())
	if p := b.run(t, "/certificate crl print detail"); !strings.Contains(p, host) || !strings.Contains(p, strings.ToUpper(c.X509.SerialNumber.Text(16))) {
		t.Errorf("crl-store=system keeps no item:\n%s", p)
	}
}

// TestBackupRestoresKeys: a backup carries certificates and their keys (the only
// export that does); loading it after they were removed brings them back, signing
// keys included, and the backup file is 0600.
func TestBackupRestoresKeys(t *testing.T) {
	r := newRouter(t)
	system.Register(r.ex, r.in, r.dir, eventlog.New(eventlog.DefaultSize), time.Now())
	r.run(t, referenceCA+"/ip ipsec key generate-key name=k1\n")
	before, _ := r.e.Store().Get("server1")
	r.run(t, "/system backup save name=b password=a-backup-password")
	st, err := os.Stat(r.file("b.backup"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", err, st)
	}
	r.run(t, "/certificate remove [find]\n/ip ipsec key remove [find]")
	if _, ok := r.e.Store().Get("server1"); ok {
		t.Fatal("not removed")
	}
	r.run(t, "/system backup load name=b password=a-backup-password")
	r.e.Reconcile(context.Background())
	after, ok := r.e.Store().Get("server1")
	if !ok || after.Key == nil || !bytes.Equal(after.X509.Raw, before.X509.Raw) {
		t.Fatalf("server1 not restored with its key")
	}
	if k, ok := r.e.Store().Key("k1"); !ok || k.Signer == nil {
		t.Errorf("ipsec key not restored")
	}
}

// TestIntermediateChain: root -> intermediate -> leaf made here; Chain sends the leaf
// and the intermediate (not the root); a peer's leaf plus intermediate verifies with
// only the root trusted.
func TestIntermediateChain(t *testing.T) {
	r := newRouter(t)
	r.run(t, `/certificate
add name=root common-name=root
sign root
add name=inter common-name=inter key-usage=key-cert-sign,crl-sign,digital-signature
sign inter ca=root
add name=leaf common-name=leaf subject-alt-name=DNS:leaf.example key-usage=digital-signature,tls-client
sign leaf ca=inter
`)
	s := r.e.Store()
	leaf, _ := s.Get("leaf")
	chain := s.Chain(leaf)
	if len(chain) != 2 || chain[1].Subject.CommonName != "inter" {
		t.Fatalf("chain %v", chain)
	}
	r.run(t, "/certificate remove [find name=inter]")
	if _, err := s.Verify([]*x509.Certificate{leaf.X509}, certificate.PurposeClient); err == nil {
		t.Fatal("verified without the intermediate")
	}
	if _, err := s.Verify(chain, certificate.PurposeClient); err != nil {
		t.Fatalf("leaf + intermediate from the peer: %v", err)
	}
}
