package ipsec_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// v1CertSetup makes, on routerd's /certificate, a CA, routerd's certificate (r, for
// 198.18.50.1) and charon's (s, for 198.18.50.2), both for either role, and exports
// charon's with the CA.
func v1CertSetup(t *testing.T, r *certRouter) {
	r.exec(t, `/certificate
add common-name=ca name=ca
sign ca
add common-name=198.18.50.1 subject-alt-name=IP:198.18.50.1 key-usage=tls-server,tls-client name=r
sign r ca=ca
add common-name=198.18.50.2 subject-alt-name=IP:198.18.50.2 key-usage=tls-server,tls-client name=s
sign s ca=ca
export-certificate s export-passphrase=1234567890 type=pkcs12
export-certificate ca type=pem
`)
}

// charonV1 starts charon with an IKEv1 connection "c" (local and remote sections as
// given) to routerd's network, and loads the PKCS#12 of s and the CA when asked.
// charonV1's child takes extraChild too (rekey_time, life_time).
func charonV1(t *testing.T, r *certRouter, ns, local, remote, extraConn, extraChild, secrets string, certs bool, plugins ...string) *iketest.Charon {
	// The placeholder lets charon start before the keys c names exist.
	conf := fmt.Sprintf(`connections {
  placeholder {
    version = 1
    local { auth = psk }
    remote { auth = psk }
  }
  c {
    version = 1
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048
    dpd_delay = 0
    rand_time = 0s
%s
    local %s
    remote %s
    children {
      net {
        local_ts = 198.19.102.0/24
        remote_ts = 198.19.101.0/24
        esp_proposals = aes128-sha1
        rand_time = 0s
        %s
      }
    }
  }
}
secrets {
%s
}
`, extraConn, local, remote, extraChild, secrets)
	c := iketest.StartCharon(t, ns, conf, plugins...)
	if certs {
		copyFile(t, filepath.Join(r.dir, "files", "cert_export_ca.crt"), filepath.Join(c.Dir, "x509ca", "ca.crt"))
		copyFile(t, filepath.Join(r.dir, "files", "cert_export_s.p12"), filepath.Join(c.Dir, "pkcs12", "s.p12"))
		if out, err := c.Swanctl("--load-all", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
			t.Fatalf("load-all: %v\n%s", err, out)
		}
	}
	return c
}

const v1RouterdNet = `/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha1 dh-group=modp2048
/ip ipsec proposal add name=p enc-algorithms=aes-128-cbc auth-algorithms=sha1 pfs-group=none
`

func waitV1Up(t *testing.T, r *certRouter, c *iketest.Charon, nsR string) {
	t.Helper()
	if !iketest.WaitFor(25*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print"), "established")
	}) {
		sas, _ := c.Swanctl("--list-sas")
		t.Fatalf("no phase 2:\n%s\n%s\ncharon:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"),
			r.run(t, "/ip ipsec identity print detail"), sas, tail(c.Log(), 6000))
	}
	if err := pingAcross(nsR); err != nil {
		t.Fatalf("ping across: %v\n%s", err, r.run(t, "/ip ipsec installed-sa print"))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// v1CertUp brings up an IKEv1 digital-signature SA between routerd (certificates from
// setup) and charon (s.p12), in mode, initiated by routerd or by charon, and waits until
// it carries traffic.
func v1CertUp(t *testing.T, setup func(*certRouter), mode string, routerdIni bool) (*certRouter, *iketest.Charon) {
	t.Helper()
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	setup(r)
	extra := ""
	if mode == "aggressive" {
		extra = "    aggressive = yes"
	}
	ch := charonV1(t, r, tp.nsS, "{ auth = pubkey\n id = 198.18.50.2 }", "{ auth = pubkey\n id = 198.18.50.1 }", extra, "",
		`  pkcs12-1 { file = s.p12
    secret = "1234567890" }`, true)
	passive := "no"
	if !routerdIni {
		passive = "yes"
	}
	r.exec(t, v1RouterdNet+`/ip ipsec peer add name=s address=198.18.50.2/32 exchange-mode=`+mode+` profile=p passive=`+passive+`
/ip ipsec identity add peer=s auth-method=digital-signature certificate=r
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if out := r.exec(t, "/ip ipsec identity print detail"); strings.Contains(out, "status=") {
		t.Fatalf("identity not applied:\n%s", out)
	}
	if !routerdIni {
		if out, err := ch.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
			t.Fatalf("swanctl --initiate: %v\n%s\n%s", err, out, tail(ch.Log(), 6000))
		}
	}
	waitV1Up(t, r, ch, tp.nsR)
	return r, ch
}

// TestIKEv1CertificatesCharon: IKEv1 main mode with RSA signatures (RFC 2409 5.1)
// against charon: digital-signature with certificates of routerd's CA in both roles,
// aggressive mode, and a certificate of another CA refused with a log line.
func TestIKEv1CertificatesCharon(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	for _, c := range []struct {
		name       string
		routerdIni bool
		mode       string
	}{{"main/routerd-initiates", true, "main"}, {"main/charon-initiates", false, "main"}, {"aggressive/routerd-initiates", true, "aggressive"}} {
		t.Run(c.name, func(t *testing.T) {
			r, _ := v1CertUp(t, func(r *certRouter) { v1CertSetup(t, r) }, c.mode, c.routerdIni)
			peers := r.run(t, "/ip ipsec active-peers print detail")
			if !strings.Contains(peers, "198.18.50.2") {
				t.Fatalf("active-peers:\n%s", peers)
			}
		})
	}
}

// TestIKEv1CertificateRefused: charon's certificate is from a CA routerd does not
// trust: no SA, an authentication failure logged.
func TestIKEv1CertificateRefused(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	v1CertRefused(t, func(r *certRouter) { v1CertSetup(t, r) }, "")
}

// v1CertRefused: charon's certificate (of key type keyOpts) is signed by another CA than
// routerd's (from setup): charon's initiation fails, routerd logs the authentication
// failure and no policy gets an SA.
func v1CertRefused(t *testing.T, setup func(*certRouter), keyOpts string) {
	t.Helper()
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	setup(r)
	// Another CA signs charon's certificate; routerd knows only its own.
	r.exec(t, `/certificate
add common-name=other-ca name=other-ca`+keyOpts+`
sign other-ca
add common-name=198.18.50.2 subject-alt-name=IP:198.18.50.2 key-usage=tls-server,tls-client name=s2`+keyOpts+`
sign s2 ca=other-ca
export-certificate s2 export-passphrase=1234567890 type=pkcs12
/certificate remove [find name=other-ca]
`)
	copyFile(t, filepath.Join(r.dir, "files", "cert_export_s2.p12"), filepath.Join(r.dir, "files", "cert_export_s.p12"))
	ch := charonV1(t, r, tp.nsS, "{ auth = pubkey\n id = 198.18.50.2 }", "{ auth = pubkey\n id = 198.18.50.1 }", "", "",
		`  pkcs12-1 { file = s.p12
    secret = "1234567890" }`, true)
	r.exec(t, v1RouterdNet+`/ip ipsec peer add name=s address=198.18.50.2/32 profile=p passive=yes
/ip ipsec identity add peer=s auth-method=digital-signature certificate=r
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if out, err := ch.Swanctl("--initiate", "--child", "net", "--timeout", "15"); err == nil {
		t.Fatalf("charon with an untrusted certificate connected:\n%s", out)
	}
	if !strings.Contains(r.log.String(), "failed to authenticate") {
		t.Fatalf("no authentication failure logged:\n%s", r.log.String())
	}
	if strings.Contains(r.run(t, "/ip ipsec policy print"), "established") {
		t.Fatal("a policy is established")
	}
}

// TestIKEv1RSAKeyCharon: auth-method=rsa-key in IKEv1 main mode (RSA signatures with
// bare keys from /ip ipsec key, no certificates) against charon's raw public keys.
func TestIKEv1RSAKeyCharon(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	ch := charonV1(t, r, tp.nsS, "{ auth = pubkey\n pubkeys = s.pub\n id = s.example }", "{ auth = pubkey\n pubkeys = r.pub\n id = r.example }", "", "", "", false)
	iketest.Sh(t, "openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", filepath.Join(ch.Dir, "private", "s.key"))
	iketest.Sh(t, "openssl", "pkey", "-in", filepath.Join(ch.Dir, "private", "s.key"), "-pubout", "-out", filepath.Join(ch.Dir, "pubkey", "s.pub"))
	os.MkdirAll(filepath.Join(r.dir, "files"), 0o700)
	copyFile(t, filepath.Join(ch.Dir, "pubkey", "s.pub"), filepath.Join(r.dir, "files", "s.pub"))
	r.exec(t, `/ip ipsec key
generate-key name=r key-size=2048
export-pub-key key=r file-name=r.pub
import file-name=s.pub name=s
`)
	copyFile(t, filepath.Join(r.dir, "files", "r.pub"), filepath.Join(ch.Dir, "pubkey", "r.pub"))
	if out, err := ch.Swanctl("--load-all", "--file", filepath.Join(ch.Dir, "swanctl.conf")); err != nil {
		t.Logf("load-all: %v\n%s", err, out)
	}
	r.exec(t, v1RouterdNet+`/ip ipsec peer add name=s address=198.18.50.2/32 profile=p
/ip ipsec identity add peer=s auth-method=rsa-key key=r remote-key=s my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	waitV1Up(t, r, ch, tp.nsR)
}

// TestIKEv1HybridCharon: auth-method=rsa-signature-hybrid: routerd is the gateway
// (passive, its certificate signs, /ip ipsec user checks the XAuth login) and charon
// the client (hybrid: it verifies the gateway's certificate and logs in with XAuth).
func TestIKEv1HybridCharon(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	v1CertSetup(t, r)
	ch := charonV1(t, r, tp.nsS, "{ auth = xauth\n xauth_id = user1 }", "{ auth = pubkey\n id = 198.18.50.1 }", "", "",
		`  xauth-1 { id = user1
    secret = "user1-pass" }`, true, "+xauth-generic")
	r.exec(t, v1RouterdNet+`/ip ipsec user add name=user1 password=user1-pass
/ip ipsec peer add name=s address=198.18.50.2/32 profile=p passive=yes
/ip ipsec identity add peer=s auth-method=rsa-signature-hybrid certificate=r
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if out := r.exec(t, "/ip ipsec identity print detail"); strings.Contains(out, "status=") {
		t.Fatalf("identity not applied:\n%s", out)
	}
	if out, err := ch.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
		t.Fatalf("swanctl --initiate: %v\n%s\n%s", err, out, tail(ch.Log(), 6000))
	}
	waitV1Up(t, r, ch, tp.nsR)
	if !strings.Contains(r.log.String(), "XAuth user authenticated") {
		t.Fatal("no XAuth login logged")
	}
}

// TestIKEv1HybridClientCharon: routerd is the hybrid client (rsa-signature-hybrid with
// username and password, the gateway's certificate checked against routerd's CA) and
// charon the gateway (its certificate signs, XAuth checks the login).
func TestIKEv1HybridClientCharon(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	v1CertSetup(t, r)
	ch := charonV1(t, r, tp.nsS, "{ auth = pubkey\n id = 198.18.50.2 }", "{ auth = xauth }", "", "",
		`  pkcs12-1 { file = s.p12
    secret = "1234567890" }
  xauth-1 { id = user1
    secret = "user1-pass" }`, true, "+xauth-generic")
	r.exec(t, v1RouterdNet+`/ip ipsec peer add name=s address=198.18.50.2/32 profile=p
/ip ipsec identity add peer=s auth-method=rsa-signature-hybrid username=user1 password=user1-pass
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if out := r.exec(t, "/ip ipsec identity print detail"); strings.Contains(out, "status=") {
		t.Fatalf("identity not applied:\n%s", out)
	}
	waitV1Up(t, r, ch, tp.nsR)
	if !strings.Contains(ch.Log(), "XAuth authentication of 'user1' successful") {
		t.Errorf("charon did not log the XAuth login:\n%s", tail(ch.Log(), 3000))
	}
}
