package ipsec_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// eapTLSClientCert is a client certificate for EAP-TLS, named (e-mail SAN) as the User
// Manager user it authenticates, exported for strongSwan.
const eapTLSClientCert = `/certificate
add common-name=rwtls@example.org subject-alt-name=email:rwtls@example.org key-usage=tls-client name=rwtls
sign rwtls ca=ca
export-certificate rwtls export-passphrase=1234567890 type=pkcs12
/user-manager user
add name=rwtls@example.org
`

// swanTLSMethods are strongSwan road warriors with EAP-TLS (the certificate) and
// EAP-TTLS (user1/password, EAP-MSCHAPv2 inside) against the example's server. (Debian
// builds no eap-peap plugin; PEAP is checked with eapol_test and routerd's initiator.)
const swanTLSMethods = `connections {
  rw-tls {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048,aes256-sha256-modp2048
    vips = 0.0.0.0
    dpd_delay = 0
    local { auth = eap-tls
            id = rwtls@example.org }
    remote { auth = pubkey
             id = 198.18.50.1 }
    children { tls { remote_ts = 198.19.101.0/24
                     esp_proposals = aes256-sha1 } }
  }
  rw-ttls {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048,aes256-sha256-modp2048
    vips = 0.0.0.0
    dpd_delay = 0
    local { auth = eap-ttls
            eap_id = user1 }
    remote { auth = pubkey
             id = 198.18.50.1 }
    children { ttls { remote_ts = 198.19.101.0/24
                      esp_proposals = aes256-sha1 } }
  }
}
secrets {
  eap-1 { id = user1
          secret = "password" }
  pkcs12-1 { file = rwtls.p12
             secret = "1234567890" }
}
`

// TestEAPTLSMethodsUserManager: strongSwan road warriors authenticate with EAP-TLS and
// EAP-TTLS through routerd's eap-radius responder to routerd's User Manager
// (server certificate from /certificate), get a pool address and ping across.
func TestEAPTLSMethodsUserManager(t *testing.T) {
	tp := newTopo(t, false)
	d := startDaemon(t, tp.nsR)
	d.script(eapCertificates)
	d.script(userManagerConfig)
	d.script(eapTLSClientCert)
	d.script(eapServerConfig)
	d.Settle() // the peer, User Manager and /radius applied before charon initiates
	files := filepath.Join(filepath.Dir(d.sock), "data", "files")
	c := iketest.StartCharon(t, tp.nsS, swanTLSMethods, "+eap-identity eap-mschapv2 eap-tls eap-ttls eap-peap")
	for _, f := range [][2]string{{"cert_export_ca.crt", "x509ca/ca.crt"}, {"cert_export_rwtls.p12", "pkcs12/rwtls.p12"}} {
		b, err := os.ReadFile(filepath.Join(files, f[0]))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(c.Dir, f[1]), b, 0o600)
	}
	if out, err := c.Swanctl("--load-creds", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("load-creds: %v\n%s", err, out)
	}
	for _, m := range []struct{ conn, child, user string }{
		{"rw-tls", "tls", "rwtls@example.org"}, {"rw-ttls", "ttls", "user1"},
	} {
		t.Run(m.conn, func(t *testing.T) {
			if out, err := c.Swanctl("--initiate", "--child", m.child, "--timeout", "20"); err != nil {
				b, _ := os.ReadFile(filepath.Join(c.Dir, "charon.log"))
				t.Fatalf("initiate: %v\n%s\n%s\ncharon plugins: %s", err, out, d.log.String(), regexp.MustCompile(`(?m)^.*(peap|loaded plugins).*$`).FindAllString(string(b), -1))
			}
			sas, _ := c.Swanctl("--list-sas")
			addr := regexp.MustCompile(`198\.19\.77\.\d+`).FindString(sas)
			if addr == "" {
				t.Fatalf("no pool address:\n%s", sas)
			}
			if err := iketest.In(tp.nsS, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", addr, "198.19.101.1").Run(); err != nil {
				t.Fatalf("ping from %s: %v", addr, err)
			}
			c.Swanctl("--terminate", "--ike", m.conn, "--timeout", "10")
			// The accounting Stop carries the CHILD SA's bytes (the pings both ways).
			if !iketest.WaitFor(10*time.Second, func() bool {
				s := d.script("/user-manager session print detail where user=\"" + m.user + "\" and status=stop\n")
				return regexp.MustCompile(`download=[1-9]`).MatchString(s) && regexp.MustCompile(`upload=[1-9]`).MatchString(s)
			}) {
				t.Fatalf("no accounting stop with byte counts for %s:\n%s", m.user, d.script("/user-manager session print detail\n"))
			}
		})
	}
	t.Log(d.script("/user-manager session print detail\n"))
	mon := d.script("/user-manager monitor print\n")
	for _, m := range []string{"eap-tls", "eap-ttls"} {
		if !strings.Contains(mon, m) {
			t.Fatalf("monitor lacks %s:\n%s", m, mon)
		}
	}
}

// eapClient is the reference's RouterOS road-warrior client with auth-method=eap,
// importing the server's CA (and, for EAP-TLS, its client bundle) first.
const eapClient = `/ip ipsec profile
add name=ike2-rw
/ip ipsec proposal
add name=ike2-rw pfs-group=none
/ip ipsec policy group
add name=ike2-rw
/ip ipsec policy
add group=ike2-rw proposal=ike2-rw template=yes dst-address=198.19.101.0/24 src-address=0.0.0.0/0
/ip ipsec mode-config
add name=ike2-rw responder=no
/ip ipsec peer
add address=198.18.50.1/32 exchange-mode=ike2 name=ike2-rw-client profile=ike2-rw
`

// eapInitiator starts routerd in tp.nsS as the EAP client of d and returns it.
func eapInitiator(t *testing.T, tp *topo, d *daemon) *daemon {
	t.Helper()
	d.Settle()
	c := startDaemon(t, tp.nsS)
	from := filepath.Join(filepath.Dir(d.sock), "data", "files")
	to := filepath.Join(filepath.Dir(c.sock), "data", "files")
	os.MkdirAll(to, 0o700)
	copyFile(t, filepath.Join(from, "cert_export_ca.crt"), filepath.Join(to, "cert_export_ca.crt"))
	copyFile(t, filepath.Join(from, "cert_export_rwtls.p12"), filepath.Join(to, "cert_export_rwtls.p12"))
	c.script("/certificate import file-name=cert_export_ca.crt passphrase=\"\"\n/certificate import file-name=cert_export_rwtls.p12 passphrase=1234567890\n")
	c.script(eapClient)
	return c
}

// connectEAP (re)creates the client's identity with eap-methods=method and waits for
// the IKE SA; check says whether the server side saw this method succeed.
func connectEAP(t *testing.T, c *daemon, identity string, check func() bool) {
	t.Helper()
	c.script("/ip ipsec identity remove [find]\n/ip ipsec active-peers kill-connections\n")
	c.script("/ip ipsec identity add " + identity + " generate-policy=port-strict mode-config=ike2-rw peer=ike2-rw-client policy-template-group=ike2-rw\n")
	if !iketest.WaitFor(30*time.Second, func() bool {
		return strings.Contains(c.script("/ip ipsec active-peers print detail\n"), "established") && check()
	}) {
		t.Fatalf("%s: no IKE SA:\n%s\n%s\n%s", identity, c.script("/ip ipsec active-peers print detail\n"),
			c.script("/ip ipsec identity print detail\n"), c.log.String())
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return strings.Contains(c.script("/ip ipsec policy print\n"), "198.19.77.") }) {
		t.Fatalf("%s: no policy for the mode-config address:\n%s", identity, c.script("/ip ipsec policy print detail\n"))
	}
}

// eapInitiatorMethods are the client identities of each method.
var eapInitiatorMethods = []struct{ method, identity string }{
	{"eap-tls", "auth-method=eap eap-methods=eap-tls certificate=cert_export_rwtls.p12_0"},
	{"eap-ttls", "auth-method=eap eap-methods=eap-ttls username=user1 password=password"},
	{"eap-peap", "auth-method=eap eap-methods=eap-peap username=user1 password=password"},
	{"eap-mschap2", "auth-method=eap eap-methods=eap-peap,eap-mschapv2 username=user1 password=password"},
}

// TestEAPInitiatorTLSMethodsUserManager: routerd as the EAP client with eap-methods
// eap-tls (certificate=), eap-ttls and eap-peap (username/password) against routerd's
// eap-radius responder and User Manager; each method shows up as an accept in User
// Manager's monitor and the CHILD SA gets the pool address. A wrong password fails.
func TestEAPInitiatorTLSMethodsUserManager(t *testing.T) {
	tp := newTopo(t, false)
	d := startDaemon(t, tp.nsR)
	d.script(eapCertificates)
	d.script(userManagerConfig)
	d.script(eapTLSClientCert)
	d.script(eapServerConfig)
	c := eapInitiator(t, tp, d)
	for _, m := range eapInitiatorMethods {
		t.Run(m.method, func(t *testing.T) {
			connectEAP(t, c, m.identity, func() bool {
				mon := d.script("/user-manager monitor print detail where method=" + m.method + "\n")
				return regexp.MustCompile(`accepts=[1-9]`).MatchString(mon)
			})
		})
	}
	c.script("/ip ipsec identity remove [find]\n/ip ipsec active-peers kill-connections\n")
	c.script("/ip ipsec identity add auth-method=eap eap-methods=eap-peap username=user1 password=wrong peer=ike2-rw-client mode-config=ike2-rw generate-policy=port-strict policy-template-group=ike2-rw\n")
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(c.log.String(), "EAP authentication failed") &&
			regexp.MustCompile(`accepts=\d+ rejects=[1-9]`).MatchString(d.script("/user-manager monitor print detail where method=eap-peap\n"))
	}) {
		t.Fatalf("wrong password: no failure logged\n%s", d.script("/user-manager monitor print detail\n"))
	}
}

// freeRADIUSTLS runs Debian's FreeRADIUS in ns on 127.0.0.1:1812/1813 (client secret
// "test", user1/password) with EAP-TLS, EAP-TTLS and PEAP, using a server certificate
// and CA routerd exported into files.
func freeRADIUSTLS(t *testing.T, ns, files string) {
	t.Helper()
	iketest.NeedRoot(t, "freeradius")
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-rL", "/etc/freeradius/3.0/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy the FreeRADIUS configuration: %v\n%s", err, out)
	}
	edit := func(name string, f func(string) string) {
		p := filepath.Join(dir, name)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(p, []byte(f(string(b))), 0o600)
	}
	edit("radiusd.conf", func(s string) string {
		return regexp.MustCompile(`(?m)^\s*(user|group) = freerad`).ReplaceAllString(s, "#")
	})
	edit("sites-enabled/default", func(s string) string {
		return regexp.MustCompile(`(?m)^(\s*)ipaddr = \*`).ReplaceAllString(s, "${1}ipaddr = 127.0.0.1")
	})
	srv := filepath.Join(files, "cert_export_letsencrypt_2021-04-09T07:10:55Z")
	os.WriteFile(filepath.Join(dir, "mods-enabled/eap"), []byte(`eap {
 default_eap_type = peap
 timer_expire = 60
 ignore_unknown_eap_types = no
 max_sessions = ${max_requests}
 mschapv2 {
 }
 tls-config tls-common {
  private_key_password = 1234567890
  private_key_file = "`+srv+`.key"
  certificate_file = "`+srv+`.crt"
  ca_file = "`+filepath.Join(files, "cert_export_ca.crt")+`"
  cipher_list = "DEFAULT"
  tls_min_version = "1.2"
  tls_max_version = "1.2"
 }
 tls {
  tls = tls-common
 }
 ttls {
  tls = tls-common
  default_eap_type = mschapv2
  virtual_server = "inner-tunnel"
 }
 peap {
  tls = tls-common
  default_eap_type = mschapv2
  virtual_server = "inner-tunnel"
 }
}
`), 0o600)
	os.WriteFile(filepath.Join(dir, "mods-config/files/authorize"), []byte("user1 Cleartext-Password := \"password\"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "clients.conf"), []byte("client local {\n ipaddr = 127.0.0.1\n secret = test\n}\n"), 0o600)
	cmd := iketest.In(ns, "freeradius", "-f", "-l", filepath.Join(dir, "radius.log"), "-d", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "radius.log"))
			t.Logf("freeradius log:\n%s", b)
		}
	})
	if !iketest.WaitFor(10*time.Second, func() bool {
		out, _ := iketest.In(ns, "ss", "-lun").CombinedOutput()
		return strings.Contains(string(out), "127.0.0.1:1812")
	}) {
		b, _ := os.ReadFile(filepath.Join(dir, "radius.log"))
		t.Fatalf("freeradius did not start:\n%s", b)
	}
}

// TestEAPInitiatorTLSMethodsFreeRADIUS: routerd's EAP client with eap-tls, eap-ttls and
// eap-peap against routerd's eap-radius responder relaying to FreeRADIUS (an EAP server
// routerd did not write); FreeRADIUS's MPPE keys key both sides' AUTH.
func TestEAPInitiatorTLSMethodsFreeRADIUS(t *testing.T) {
	tp := newTopo(t, false)
	d := startDaemon(t, tp.nsR)
	d.script(eapCertificates)
	d.script(eapTLSClientCert)
	d.script("/certificate export-certificate \"letsencrypt_2021-04-09T07:10:55Z\" type=pem export-passphrase=1234567890\n")
	freeRADIUSTLS(t, tp.nsR, filepath.Join(filepath.Dir(d.sock), "data", "files"))
	d.script(eapServerConfig)
	c := eapInitiator(t, tp, d)
	accepts := 0
	for _, m := range eapInitiatorMethods[:3] {
		t.Run(m.method, func(t *testing.T) {
			connectEAP(t, c, m.identity, func() bool {
				var n int
				fmt.Sscan(d.script(":put [/radius get 0 accepts]\n"), &n)
				return n > accepts
			})
			fmt.Sscan(d.script(":put [/radius get 0 accepts]\n"), &accepts)
		})
	}
}
