package ipsec_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/certificate"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/ipsec"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/ike/esp"
	"github.com/routerd/routerd/ike/iketest"
)

// certRouter is a router with the certificate engine beside IPsec, and its log kept
// for the refusals the tests look for.
type certRouter struct {
	*router
	dir  string
	cert *certificate.Engine
	log  *logBuf
}

type logBuf struct {
	t  *testing.T
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startCertRouter(t *testing.T, ns string) *certRouter {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	lb := &logBuf{t: t}
	logger := slog.New(slog.NewTextHandler(lb, nil))
	ce := certificate.New(certificate.Options{DataDir: dir, Log: logger})
	if err := ce.Attach(ex); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opts := ipsec.Options{Listen: iketest.ListenIn(ns),
		Do:  func(f func() error) error { return iketest.Do(ns, f) },
		Log: logger, Certs: ce.Store()}
	opts.ESP = esp.DefaultConfig()
	opts.ESP.Force = esp.KindUserspace
	e, err := ipsec.Start(ctx, ex, prometheus.NewRegistry(), opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); <-e.Exited })
	r := &router{e: e, in: &script.Interp{Ex: ex, Globals: &script.Globals{}},
		con: &script.Console{Sess: &control.Session{User: "admin", ShowSensitive: true}}}
	return &certRouter{router: r, dir: dir, cert: ce, log: lb}
}

func (r *certRouter) exec(t *testing.T, src string) string {
	t.Helper()
	var b strings.Builder
	if err := r.in.Run(context.Background(), r.con, src, &b); err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	r.cert.Reconcile(context.Background())
	r.e.Reconcile(context.Background())
	return b.String()
}

// roadWarriorServer is the reference's "Road Warrior setup using IKEv2 with RSA
// authentication" as written, with the test's addresses (2.2.2.2 is routerd's WAN
// address 198.18.50.1, the pools are in 198.19.0.0/16) and key options for ECDSA.
func roadWarriorServer(keyOpts string) string {
	return fmt.Sprintf(`/certificate
add common-name=ca name=ca %[1]s
sign ca ca-crl-host=198.18.50.1
add common-name=198.18.50.1 subject-alt-name=IP:198.18.50.1 key-usage=tls-server name=server1 %[1]s
sign server1 ca=ca
/ip ipsec profile
add name=ike2
/ip ipsec proposal
add name=ike2 pfs-group=none
/ip pool
add name=ike2-pool ranges=198.19.77.2-198.19.77.254
/ip ipsec mode-config
add address-pool=ike2-pool address-prefix-length=32 name=ike2-conf split-include=198.19.101.0/24
/ip ipsec policy group
add name=ike2-policies
/ip ipsec policy
add dst-address=198.19.77.0/24 group=ike2-policies proposal=ike2 src-address=0.0.0.0/0 template=yes
add dst-address=198.19.66.0/24 group=ike2-policies proposal=ike2 src-address=0.0.0.0/0 template=yes
/ip ipsec peer
add exchange-mode=ike2 name=ike2 passive=yes profile=ike2
/ip ipsec identity
add auth-method=digital-signature certificate=server1 generate-policy=port-strict mode-config=ike2-conf peer=ike2 policy-template-group=ike2-policies
`, keyOpts)
}

// client makes a client certificate on routerd and exports it as the reference says.
func (r *certRouter) client(t *testing.T, name, keyOpts string) {
	r.exec(t, fmt.Sprintf(`/certificate
add common-name=%[1]s name=%[1]s key-usage=tls-client %[2]s
sign %[1]s ca=ca
export-certificate %[1]s export-passphrase=1234567890 type=pkcs12
export-certificate ca type=pem
`, name, keyOpts))
}

// charonClient starts charon with one connection per client certificate (connection
// NAME uses the PKCS#12 bundle routerd exported for NAME; the CA goes in x509ca).
func (r *certRouter) charonClient(t *testing.T, ns string, names ...string) *iketest.Charon {
	var conns, secrets strings.Builder
	for i, n := range names {
		fmt.Fprintf(&conns, `  %[1]s {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048,aes256-sha1-modp2048
    vips = 0.0.0.0
    local { auth = pubkey
            id = "CN=%[1]s" }
    remote { auth = pubkey
             id = 198.18.50.1 }
    children {
      %[1]s {
        remote_ts = 198.19.101.0/24
        esp_proposals = aes128-sha1,aes256-sha1
      }
    }
  }
`, n)
		fmt.Fprintf(&secrets, "  pkcs12-%d { file = %s.p12\n    secret = \"1234567890\" }\n", i, n)
	}
	conf := "connections {\n" + conns.String() + "}\nsecrets {\n" + secrets.String() + "}\n"
	c := iketest.StartCharon(t, ns, conf)
	copyFile(t, filepath.Join(r.dir, "files", "cert_export_ca.crt"), filepath.Join(c.Dir, "x509ca", "ca.crt"))
	for _, n := range names {
		copyFile(t, filepath.Join(r.dir, "files", "cert_export_"+n+".p12"), filepath.Join(c.Dir, "pkcs12", n+".p12"))
	}
	if out, err := c.Swanctl("--load-creds", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("load-creds: %v\n%s", err, out)
	}
	return c
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func vipOf(c *iketest.Charon, conn string) string {
	out, _ := c.Swanctl("--list-sas", "--ike", conn)
	for _, l := range strings.Split(out, "\n") {
		if i := strings.Index(l, "198.19."); i >= 0 && strings.Contains(l, "local") {
			return strings.TrimRight(strings.Fields(l[i:])[0], "]/,")
		}
	}
	return ""
}

// TestRoadWarriorCertificates runs the reference's RSA road warrior: strongSwan
// clients with certificates made and exported (PKCS#12) by routerd's /certificate get
// a mode-config address from the pool (or the per-certificate one of a
// match-by=certificate identity), a split-include network, and ping the protected
// network; a revoked client is refused once crl-use=yes.
func TestRoadWarriorCertificates(t *testing.T) {
	for _, kt := range []struct{ name, opts string }{{"rsa", ""}, {"ecdsa", "key-type=ec key-size=prime256v1"}} {
		t.Run(kt.name, func(t *testing.T) {
			tp := newTopo(t, false)
			r := startCertRouter(t, tp.nsR)
			r.exec(t, roadWarriorServer(kt.opts))
			r.client(t, "rw-client1", kt.opts)
			r.client(t, "rw-client2", kt.opts)
			// The reference's per-certificate mode config for user A.
			r.exec(t, `/ip ipsec mode-config
add address=198.19.66.2 address-prefix-length=32 name=usr_A split-include=198.19.101.0/24 system-dns=no
/ip ipsec identity
add auth-method=digital-signature certificate=server1 generate-policy=port-strict match-by=certificate mode-config=usr_A peer=ike2 policy-template-group=ike2-policies remote-certificate=rw-client1
`)
			if out := r.exec(t, "/ip ipsec identity print detail"); strings.Contains(out, "status=") {
				t.Fatalf("identities not applied:\n%s", out)
			}
			c := r.charonClient(t, tp.nsS, "rw-client1", "rw-client2")
			for _, conn := range []string{"rw-client2", "rw-client1"} {
				if out, err := c.Swanctl("--initiate", "--child", conn, "--timeout", "20"); err != nil {
					t.Fatalf("initiate %s: %v\n%s", conn, err, out)
				}
			}
			if v := vipOf(c, "rw-client2"); v != "198.19.77.2" {
				t.Errorf("rw-client2 got %q, want the pool's first address", v)
			}
			if v := vipOf(c, "rw-client1"); v != "198.19.66.2" {
				t.Errorf("rw-client1 got %q, want usr_A's address (match-by=certificate)", v)
			}
			sas, _ := c.Swanctl("--list-sas")
			if !strings.Contains(sas, "198.19.101.0/24") {
				t.Errorf("split-include network not negotiated:\n%s", sas)
			}
			for _, src := range []string{"198.19.77.2", "198.19.66.2"} {
				if err := iketest.In(tp.nsS, "ping", "-c", "2", "-i", "0.2", "-W", "3", "-I", src, "198.19.101.1").Run(); err != nil {
					t.Fatalf("ping from %s: %v\n%s\n%s", src, err, r.run(t, "/ip ipsec installed-sa print"), sas)
				}
			}
			// Revoked by the CA and refused once the CRL is used.
			r.exec(t, "/certificate issued-revoke rw-client2\n/certificate settings set crl-use=yes")
			c.Swanctl("--terminate", "--ike", "rw-client2", "--timeout", "10")
			if out, err := c.Swanctl("--initiate", "--child", "rw-client2", "--timeout", "20"); err == nil {
				t.Fatalf("revoked client connected:\n%s", out)
			}
			if !strings.Contains(r.log.String(), "certificate is revoked") {
				t.Errorf("no log line says the certificate is revoked")
			}
		})
	}
}

// TestCertificateInitiator: routerd initiates with the reference's RouterOS client
// configuration (a PKCS#12 bundle imported, digital-signature identity, mode-config
// responder=no) against a strongSwan responder holding certificates of routerd's CA.
func TestCertificateInitiator(t *testing.T) {
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	// The CA side (certificates made on this same routerd, then exported for charon).
	r.exec(t, `/certificate
add common-name=ca name=ca
sign ca
add common-name=198.18.50.2 subject-alt-name=IP:198.18.50.2 key-usage=tls-server name=server1
sign server1 ca=ca
add common-name=client name=client key-usage=tls-client
sign client ca=ca
export-certificate server1 export-passphrase=1234567890 type=pkcs12
export-certificate client export-passphrase=1234567890 type=pkcs12
export-certificate ca type=pem
`)
	// The client imports its bundle as the reference's RouterOS client does.
	copyFile(t, filepath.Join(r.dir, "files", "cert_export_client.p12"), filepath.Join(r.dir, "files", "cert_export_RouterOS_client.p12"))
	r.exec(t, "/certificate remove [find name=client]")
	r.exec(t, "/certificate import file-name=cert_export_RouterOS_client.p12 passphrase=1234567890")
	c := iketest.StartCharon(t, tp.nsS, `connections {
  srv {
    version = 2
    local_addrs = 198.18.50.2
    proposals = aes128-sha1-modp2048,aes256-sha1-modp2048
    pools = rw
    local { auth = pubkey
            id = 198.18.50.2 }
    remote { auth = pubkey }
    children {
      net {
        local_ts = 198.19.102.0/24
        esp_proposals = aes128-sha1,aes256-sha1
      }
    }
  }
}
pools { rw { addrs = 198.19.88.10-198.19.88.20 } }
secrets { pkcs12-1 { file = server.p12
    secret = "1234567890" } }
`)
	copyFile(t, filepath.Join(r.dir, "files", "cert_export_ca.crt"), filepath.Join(c.Dir, "x509ca", "ca.crt"))
	copyFile(t, filepath.Join(r.dir, "files", "cert_export_server1.p12"), filepath.Join(c.Dir, "pkcs12", "server.p12"))
	if out, err := c.Swanctl("--load-creds", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("load-creds: %v\n%s", err, out)
	}
	r.exec(t, `/ip ipsec profile
add name=ike2-rw
/ip ipsec proposal
add name=ike2-rw pfs-group=none
/ip ipsec policy group
add name=ike2-rw
/ip ipsec policy
add group=ike2-rw proposal=ike2-rw template=yes dst-address=198.19.102.0/24 src-address=0.0.0.0/0
/ip ipsec mode-config
add name=ike2-rw responder=no
/ip ipsec peer
add address=198.18.50.2/32 exchange-mode=ike2 name=ike2-rw-client profile=ike2-rw
/ip ipsec identity
add auth-method=digital-signature certificate=cert_export_RouterOS_client.p12_0 generate-policy=port-strict mode-config=ike2-rw peer=ike2-rw-client policy-template-group=ike2-rw
`)
	if !iketest.WaitFor(25*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec active-peers print detail"), "established")
	}) {
		t.Fatalf("no IKE SA:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), r.run(t, "/ip ipsec identity print detail"))
	}
	sas, _ := c.Swanctl("--list-sas")
	if !strings.Contains(sas, "198.19.88.10") {
		t.Errorf("routerd got no address from charon's pool:\n%s", sas)
	}
}

// TestCertificateRefusals: a client certificate without tls-client (key-usage=tls-server)
// and one from a CA that is not trusted are refused with a log line saying why, and
// counted as authentication failures; the good client still connects afterwards.
func TestCertificateRefusals(t *testing.T) {
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	r.exec(t, roadWarriorServer(""))
	r.client(t, "good", "")
	r.exec(t, `/certificate
add common-name=wrongeku name=wrongeku key-usage=digital-signature,tls-server
sign wrongeku ca=ca
export-certificate wrongeku export-passphrase=1234567890 type=pkcs12
add common-name=ca2 name=ca2
sign ca2
set ca2 trusted=no
add common-name=untrusted name=untrusted key-usage=tls-client
sign untrusted ca=ca2
export-certificate untrusted export-passphrase=1234567890 type=pkcs12
`)
	c := r.charonClient(t, tp.nsS, "wrongeku", "untrusted", "good")
	for _, bad := range []struct{ conn, why string }{
		{"wrongeku", "lacks tls-client"},
		{"untrusted", "certificate signed by unknown authority"},
	} {
		if out, err := c.Swanctl("--initiate", "--child", bad.conn, "--timeout", "15"); err == nil {
			t.Errorf("%s connected:\n%s", bad.conn, out)
		}
		if !strings.Contains(r.log.String(), bad.why) {
			t.Errorf("%s: no log line says %q", bad.conn, bad.why)
		}
	}
	if st := r.run(t, "/ip ipsec statistics print"); st == "" {
		t.Errorf("no statistics")
	}
	if failed := r.e.Daemon().Stats.AuthFailed.Load(); failed < 2 {
		t.Errorf("auth failures counted %d, want 2", failed)
	}
	if out, err := c.Swanctl("--initiate", "--child", "good", "--timeout", "20"); err != nil {
		t.Fatalf("good client after the refusals: %v\n%s", err, out)
	}
}

// TestRSAKeyCharon: auth-method=rsa-key over IKEv2 with /ip ipsec key — routerd's key
// made with generate-key and handed to charon with export-pub-key, charon's public key
// (openssl) imported — then routerd initiates and pings across.
func TestRSAKeyCharon(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	// The keys exist only once charon's folders do: a placeholder connection lets it
	// start, the real one loads after the keys.
	c := iketest.StartCharon(t, tp.nsS, `connections {
  placeholder {
    version = 2
    local { auth = psk }
    remote { auth = psk }
  }
  k {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha256-ecp256
    dpd_delay = 0
    local { auth = pubkey
            pubkeys = s.pub
            id = s.example }
    remote { auth = pubkey
             pubkeys = r.pub
             id = r.example }
    children {
      net {
        local_ts = 198.19.102.0/24
        remote_ts = 198.19.101.0/24
        esp_proposals = aes128gcm16
      }
    }
  }
}
`)
	iketest.Sh(t, "openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", filepath.Join(c.Dir, "private", "s.key"))
	iketest.Sh(t, "openssl", "pkey", "-in", filepath.Join(c.Dir, "private", "s.key"), "-pubout", "-out", filepath.Join(c.Dir, "pubkey", "s.pub"))
	os.MkdirAll(filepath.Join(r.dir, "files"), 0o700)
	copyFile(t, filepath.Join(c.Dir, "pubkey", "s.pub"), filepath.Join(r.dir, "files", "s.pub"))
	r.exec(t, `/ip ipsec key
generate-key name=r key-size=2048
export-pub-key key=r file-name=r.pub
import file-name=s.pub name=s
`)
	if out := r.exec(t, "/ip ipsec key print"); !strings.Contains(out, "PR") || strings.Count(out, " R ")+strings.Count(out, "R  ") == 0 {
		t.Logf("keys:\n%s", out)
	}
	copyFile(t, filepath.Join(r.dir, "files", "r.pub"), filepath.Join(c.Dir, "pubkey", "r.pub"))
	if out, err := c.Swanctl("--load-all", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Logf("load-all: %v\n%s", err, out)
	}
	if out, _ := c.Swanctl("--list-conns"); !strings.Contains(out, "k:") {
		t.Fatalf("connection k not loaded:\n%s", out)
	}
	r.exec(t, `/ip ipsec profile add name=p dh-group=ecp256 enc-algorithm=aes-128 hash-algorithm=sha256
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec peer add name=s address=198.18.50.2/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s auth-method=rsa-key key=r remote-key=s my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if !iketest.WaitFor(25*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print"), "established")
	}) {
		t.Fatalf("no phase 2:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), r.run(t, "/ip ipsec identity print detail"))
	}
	if err := pingAcross(tp.nsR); err != nil {
		t.Fatalf("ping: %v", err)
	}
}
