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

// eapCertificates stands in for the example's `/certificate enable-ssl-certificate`
// (no ACME here): a local CA signs a server certificate under the name the example
// uses, for routerd's address 198.18.50.1; the CA is exported for the client.
const eapCertificates = `/certificate
add common-name=ca name=ca
sign ca
add common-name=198.18.50.1 subject-alt-name=IP:198.18.50.1 key-usage=tls-server name="letsencrypt_2021-04-09T07:10:55Z"
sign "letsencrypt_2021-04-09T07:10:55Z" ca=ca
export-certificate ca type=pem
`

// eapServerConfig is the reference's "Road Warrior setup using IKEv2 with EAP-MSCHAPv2
// authentication handled by User Manager" as written, with its addresses mapped into
// 198.18.0.0/15 (192.168.77.0/24 -> 198.19.77.0/24).
const eapServerConfig = `/radius
add address=127.0.0.1 secret=test service=ipsec
/ip ipsec profile
add name=ike2
/ip ipsec proposal
add name=ike2 pfs-group=none
/ip pool
add name=ike2-pool ranges=198.19.77.2-198.19.77.254
/ip ipsec mode-config
add address-pool=ike2-pool address-prefix-length=32 name=ike2-conf
/ip ipsec policy group
add name=ike2-policies
/ip ipsec policy
add dst-address=198.19.77.0/24 group=ike2-policies proposal=ike2 src-address=0.0.0.0/0 template=yes
/ip ipsec peer
add exchange-mode=ike2 name=ike2 passive=yes profile=ike2
/ip ipsec identity
add auth-method=eap-radius certificate="letsencrypt_2021-04-09T07:10:55Z" generate-policy=port-strict mode-config=ike2-conf peer=ike2 \
policy-template-group=ike2-policies
`

// userManagerConfig is the example's User Manager part as written.
const userManagerConfig = `/user-manager router
add address=127.0.0.1 comment=localhost name=local shared-secret=test
/user-manager
set certificate="letsencrypt_2021-04-09T07:10:55Z" enabled=yes
/user-manager user
add name=user1 password=password
add name=user2 password=another-password
`

// swanRoadWarrior is strongSwan's EAP-MSCHAPv2 client asking for an address: rw as
// user1, rw-bad as user2 with a password the server does not have for user2.
const swanRoadWarrior = `connections {
  rw {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048,aes256-sha256-modp2048
    vips = 0.0.0.0
    dpd_delay = 0
    local { auth = eap-mschapv2
            eap_id = user1 }
    remote { auth = pubkey
             id = 198.18.50.1 }
    children {
      net {
        remote_ts = 198.19.101.0/24
        esp_proposals = aes256-sha1,aes128-sha1
      }
    }
  }
  rw-bad {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048,aes256-sha256-modp2048
    vips = 0.0.0.0
    dpd_delay = 0
    local { auth = eap-mschapv2
            eap_id = user2 }
    remote { auth = pubkey
             id = 198.18.50.1 }
    children {
      bad {
        remote_ts = 198.19.101.0/24
        esp_proposals = aes256-sha1,aes128-sha1
      }
    }
  }
}
secrets {
  eap-1 { id = user1
          secret = "password" }
  eap-2 { id = user2
          secret = "not-the-password" }
}
`

// roadWarrior runs the client against a configured routerd: it connects with user1 and
// pings routerd's network from the pool address; user2 with a wrong password gets no
// SA, a log line and a count.
func roadWarrior(t *testing.T, tp *topo, d *daemon, interim func()) {
	t.Helper()
	// charon's first IKE_SA_INIT would be refused (NO_PROPOSAL_CHOSEN) if it came before
	// the ipsec engine's pass had loaded the peer.
	d.Settle()
	c := iketest.StartCharon(t, tp.nsS, swanRoadWarrior, "+eap-identity eap-mschapv2")
	ca, err := os.ReadFile(filepath.Join(filepath.Dir(d.sock), "data", "files", "cert_export_ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.Dir, "x509ca", "ca.crt"), ca, 0o600)
	if out, err := c.Swanctl("--load-creds", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("load-creds: %v\n%s", err, out)
	}
	if out, err := c.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, out)
	}
	sas, _ := c.Swanctl("--list-sas")
	m := regexp.MustCompile(`198\.19\.77\.\d+`).FindString(sas)
	if m == "" {
		t.Fatalf("charon got no address from the pool:\n%s", sas)
	}
	if err := iketest.In(tp.nsS, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", m, "198.19.101.1").Run(); err != nil {
		t.Fatalf("ping from %s: %v\n%s", m, err, d.script("/ip ipsec installed-sa print detail\n"))
	}
	if interim != nil {
		interim()
	}
	c.Swanctl("--terminate", "--ike", "rw", "--timeout", "10")
	if out, err := c.Swanctl("--initiate", "--child", "bad", "--timeout", "20"); err == nil {
		t.Fatalf("wrong password connected:\n%s", out)
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return strings.Contains(d.log.String(), "EAP authentication failed") && strings.Contains(d.log.String(), "user=user2")
	}) {
		t.Fatalf("no log line for the wrong password")
	}
}

// TestEAPUserManagerExample: routerd's User Manager answers routerd's own eap-radius
// identity; strongSwan connects as user1 and pings across; RADIUS accounting starts a
// session in User Manager.
func TestEAPUserManagerExample(t *testing.T) {
	tp := newTopo(t, false)
	d := startDaemon(t, tp.nsR)
	d.script(eapCertificates)
	d.script(userManagerConfig)
	d.script(eapServerConfig)
	// The example's accounting section, with 1 s instead of 1m: the open session gets
	// interim updates, which carry the pings' bytes so far.
	roadWarrior(t, tp, d, func() {
		d.script("/ip ipsec settings\nset interim-update=1s\n")
		down, up := regexp.MustCompile(`download=[1-9]`), regexp.MustCompile(`upload=[1-9]`)
		if !iketest.WaitFor(10*time.Second, func() bool {
			s := d.script("/user-manager session print detail\n")
			return strings.Contains(s, `status="interim"`) && down.MatchString(s) && up.MatchString(s)
		}) {
			t.Fatalf("no interim update:\n%s", d.script("/user-manager session print detail\n"))
		}
	})
	if !iketest.WaitFor(10*time.Second, func() bool {
		s := d.script("/user-manager session print detail\n")
		return strings.Contains(s, `user="user1"`) && strings.Contains(s, `status="stop"`)
	}) {
		t.Fatalf("no accounting session:\n%s", d.script("/user-manager session print detail\n"))
	}
	// user1's three Access-Requests end in an Accept; its start, interim updates and
	// stop are answered.
	var accepts, acct int
	s := d.script(":put [/radius get 0 accepts]; :put [/radius get 0 acct-responses]\n")
	if fmt.Sscan(s, &accepts, &acct); accepts != 1 || acct < 3 {
		t.Fatalf("radius counters %q:\n%s", s, d.script("/radius print stats\n"))
	}
}

// freeRADIUS runs Debian's FreeRADIUS in ns on 127.0.0.1:1812/1813 with client secret
// "test", user1/password and EAP-MSCHAPv2 as its default EAP method. It returns the
// directory its detail module writes the accounting records under.
func freeRADIUS(t *testing.T, ns string) string {
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
	// Root in the test's namespace, no privilege drop; no TLS methods (no certificates).
	edit("radiusd.conf", func(s string) string {
		s = regexp.MustCompile(`(?m)^radacctdir = .*`).ReplaceAllString(s, "radacctdir = "+dir+"/radacct")
		return regexp.MustCompile(`(?m)^\s*(user|group) = freerad`).ReplaceAllString(s, "#")
	})
	edit("sites-enabled/default", func(s string) string {
		return regexp.MustCompile(`(?m)^(\s*)ipaddr = \*`).ReplaceAllString(s, "${1}ipaddr = 127.0.0.1")
	})
	os.Remove(filepath.Join(dir, "sites-enabled/inner-tunnel"))
	os.WriteFile(filepath.Join(dir, "mods-enabled/eap"), []byte("eap {\n default_eap_type = mschapv2\n timer_expire = 60\n ignore_unknown_eap_types = no\n max_sessions = ${max_requests}\n mschapv2 {\n }\n}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "mods-config/files/authorize"), []byte("user1 Cleartext-Password := \"password\"\nuser2 Cleartext-Password := \"another-password\"\n"), 0o600)
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
	return filepath.Join(dir, "radacct")
}

// TestEAPFreeRADIUSExample: the same example with FreeRADIUS as the RADIUS server
// instead of User Manager, with the example's accounting: FreeRADIUS records an
// Interim-Update carrying the session's byte and packet counts so far.
func TestEAPFreeRADIUSExample(t *testing.T) {
	tp := newTopo(t, false)
	acct := freeRADIUS(t, tp.nsR)
	d := startDaemon(t, tp.nsR)
	d.script(eapCertificates)
	d.script(eapServerConfig)
	nonzero := func(rec, attr string) bool {
		return regexp.MustCompile(`(?m)^\s*` + attr + ` = [1-9]`).MatchString(rec)
	}
	roadWarrior(t, tp, d, func() {
		d.script("/ip ipsec settings\nset interim-update=1s\n")
		var last string
		if !iketest.WaitFor(15*time.Second, func() bool {
			files, _ := filepath.Glob(filepath.Join(acct, "*", "detail*"))
			for _, f := range files {
				b, _ := os.ReadFile(f)
				for _, rec := range strings.Split(string(b), "\n\n") {
					if !strings.Contains(rec, "Acct-Status-Type = Interim-Update") {
						continue
					}
					last = rec
					if nonzero(rec, "Acct-Input-Octets") && nonzero(rec, "Acct-Output-Octets") &&
						nonzero(rec, "Acct-Input-Packets") && nonzero(rec, "Acct-Output-Packets") &&
						strings.Contains(rec, "Acct-Input-Gigawords = 0") && nonzero(rec, "Acct-Session-Time") {
						return true
					}
				}
			}
			return false
		}) {
			t.Fatalf("no Interim-Update with counts in FreeRADIUS's detail file; last one:\n%s", last)
		}
		t.Logf("FreeRADIUS recorded:\n%s", last)
	})
}

// swanEAPServer is charon as an IKEv2 responder authenticating itself with a
// pre-shared key and its peer with EAP method (eap-mschapv2: charon's own users, in
// secrets; eap-radius: relayed to a RADIUS server).
func swanEAPServer(method, secrets string) string {
	return `connections {
  srv {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048
    dpd_delay = 0
    local { auth = psk
            id = s.example }
    remote { auth = ` + method + `
             eap_id = %any }
    children {
      net {
        local_ts = 198.19.102.0/24
        remote_ts = 198.19.101.0/24
        esp_proposals = aes256-sha1,aes128-sha1
      }
    }
  }
}
secrets {
  ike-1 { id-a = s.example
          secret = "a-long-test-psk" }
` + secrets + `}
`
}

// swanEAPResponder is charon as an EAP-MSCHAPv2 server with user1/password.
var swanEAPResponder = swanEAPServer("eap-mschapv2", `  eap-1 { id = user1
          secret = "password" }
`)

// TestEAPClientCharon: routerd as the EAP client (auth-method=eap eap-methods=eap-mschapv2
// username= password=) of a strongSwan responder, pinging across; a wrong password is
// refused with a log line.
func TestEAPClientCharon(t *testing.T) {
	tp := newTopo(t, false)
	c := iketest.StartCharon(t, tp.nsS, swanEAPResponder, "+eap-identity eap-mschapv2")
	d := startDaemon(t, tp.nsR)
	d.script(`/ip ipsec profile add name=p
/ip ipsec proposal add name=p pfs-group=none
/ip ipsec peer add name=s address=198.18.50.2/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s auth-method=eap eap-methods=eap-mschapv2 username=user1 password=password secret=a-long-test-psk remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	established := func() bool {
		out, _ := c.Swanctl("--list-sas")
		return strings.Contains(out, "ESTABLISHED") && strings.Contains(out, "INSTALLED")
	}
	if !iketest.WaitFor(20*time.Second, established) {
		out, _ := c.Swanctl("--list-sas")
		t.Fatalf("no SA:\n%s\n%s", out, d.script("/ip ipsec identity print detail\n"))
	}
	if err := iketest.WaitFor(10*time.Second, func() bool { return pingAcross(tp.nsR) == nil }); !err {
		t.Fatalf("no ping across:\n%s", d.script("/ip ipsec installed-sa print detail\n"))
	}
	if s := d.script("/ip ipsec identity print detail\n"); strings.Contains(s, "password=password") {
		t.Fatalf("password printed:\n%s", s)
	}
	d.script("/ip ipsec identity set 0 password=wrong\n/ip ipsec active-peers kill-connections\n")
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(d.log.String(), "EAP authentication failed")
	}) {
		t.Fatalf("no log line for the wrong password")
	}
}

// TestEAPClientCertificateCharon: routerd as EAP-MSCHAPv2 client of a strongSwan
// responder that authenticates with a certificate routerd issued (exported as PKCS#12),
// verified against routerd's /certificate.
func TestEAPClientCertificateCharon(t *testing.T) {
	tp := newTopo(t, false)
	d := startDaemon(t, tp.nsR)
	d.script(`/certificate
add common-name=ca name=ca
sign ca
add common-name=198.18.50.2 subject-alt-name=IP:198.18.50.2 key-usage=tls-server name=srv
sign srv ca=ca
export-certificate srv export-passphrase=1234567890 type=pkcs12
`)
	files := filepath.Join(filepath.Dir(d.sock), "data", "files")
	var p12 []byte
	if !iketest.WaitFor(20*time.Second, func() bool {
		var err error
		p12, err = os.ReadFile(filepath.Join(files, "cert_export_srv.p12"))
		return err == nil
	}) {
		t.Fatalf("no PKCS#12 export:\n%s", d.script("/file print\n"))
	}
	c := iketest.StartCharon(t, tp.nsS, `connections {
  srv {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048
    dpd_delay = 0
    local { auth = pubkey
            id = 198.18.50.2 }
    remote { auth = eap-mschapv2
             eap_id = %any }
    children {
      net {
        local_ts = 198.19.102.0/24
        remote_ts = 198.19.101.0/24
        esp_proposals = aes256-sha1,aes128-sha1
      }
    }
  }
}
secrets {
  pkcs12-1 { file = srv.p12
             secret = "1234567890" }
  eap-1 { id = user1
          secret = "password" }
}
`, "+eap-identity eap-mschapv2")
	os.WriteFile(filepath.Join(c.Dir, "pkcs12", "srv.p12"), p12, 0o600)
	if out, err := c.Swanctl("--load-creds", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("load-creds: %v\n%s", err, out)
	}
	d.script(`/ip ipsec profile add name=p
/ip ipsec proposal add name=p pfs-group=none
/ip ipsec peer add name=s address=198.18.50.2/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s auth-method=eap eap-methods=eap-mschapv2 username=user1 password=password
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if !iketest.WaitFor(20*time.Second, func() bool { return pingAcross(tp.nsR) == nil }) {
		out, _ := c.Swanctl("--list-sas")
		t.Fatalf("no ping across:\n%s", out)
	}
}

// TestEAPRadiusMissingCertificate: the reference requires the eap-radius responder's
// server certificate; one named that does not exist makes the identity invalid with the
// status digital-signature shows (QA: the reference's User Manager server imported on a
// router without the certificate showed no status and never said why). Without
// certificate= it is valid: only EAP-only clients connect, as the reference says.
func TestEAPRadiusMissingCertificate(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter")
	ns := iketest.NS(t, "eapnc")
	d := startDaemon(t, ns)
	d.script(`/ip ipsec peer
add exchange-mode=ike2 name=ike2 passive=yes
add exchange-mode=ike2 name=ike2b passive=yes address=198.18.51.0/24
add exchange-mode=ike2 name=ike2c passive=yes address=198.18.52.0/24
/ip ipsec identity
add auth-method=eap-radius certificate=server1 generate-policy=port-strict peer=ike2
add auth-method=eap-radius generate-policy=port-strict peer=ike2b
add auth-method=digital-signature certificate=nonexistent peer=ike2c
`)
	var out string
	if !iketest.WaitFor(20*time.Second, func() bool {
		out = d.script("/ip ipsec identity print detail\n")
		return strings.Contains(out, `status="certificate \"nonexistent\": no such certificate"`)
	}) {
		t.Fatalf("digital-signature identity shows no status:\n%s", out)
	}
	rows := regexp.MustCompile(`(?m)^\s*\d+ `).Split(out, -1)[1:]
	if len(rows) != 3 {
		t.Fatalf("want 3 identities:\n%s", out)
	}
	if !strings.Contains(rows[0], `status="certificate \"server1\": no such certificate"`) {
		t.Errorf("eap-radius identity with a missing certificate shows no status:\n%s", out)
	}
	if strings.Contains(rows[1], "status=") {
		t.Errorf("EAP-only eap-radius identity (no certificate=) shows a status:\n%s", out)
	}
}
