package ipsec_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/routerd/routerd/ike/iketest"
)

// v1ECDSASetup is v1CertSetup with EC keys: a CA, routerd's certificate r and charon's
// s on the curve given (key-size=prime256v1, secp384r1 or secp521r1).
func v1ECDSASetup(t *testing.T, r *certRouter, curve string) {
	r.exec(t, `/certificate
add common-name=ca name=ca key-type=ec key-size=`+curve+`
sign ca
add common-name=198.18.50.1 subject-alt-name=IP:198.18.50.1 key-usage=tls-server,tls-client name=r key-type=ec key-size=`+curve+`
sign r ca=ca
add common-name=198.18.50.2 subject-alt-name=IP:198.18.50.2 key-usage=tls-server,tls-client name=s key-type=ec key-size=`+curve+`
sign s ca=ca
export-certificate s export-passphrase=1234567890 type=pkcs12
export-certificate ca type=pem
`)
}

// TestIKEv1ECDSACharon: IKEv1 with ECDSA signatures (RFC 4754 methods 9-11) and
// certificates from routerd's /certificate (key-type=ec) against charon, in main mode
// in both roles and in aggressive mode, on each curve.
func TestIKEv1ECDSACharon(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	for _, c := range []struct {
		name       string
		routerdIni bool
		mode       string
		curve      string
	}{
		{"main/routerd-initiates/p256", true, "main", "prime256v1"},
		{"main/charon-initiates/p256", false, "main", "prime256v1"},
		{"aggressive/routerd-initiates/p384", true, "aggressive", "secp384r1"},
		{"main/charon-initiates/p521", false, "main", "secp521r1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := newTopo(t, false)
			r := startCertRouter(t, tp.nsR)
			v1ECDSASetup(t, r, c.curve)
			extra := ""
			if c.mode == "aggressive" {
				extra = "    aggressive = yes"
			}
			ch := charonV1(t, r, tp.nsS, "{ auth = pubkey\n id = 198.18.50.2 }", "{ auth = pubkey\n id = 198.18.50.1 }", extra, "",
				`  pkcs12-1 { file = s.p12
    secret = "1234567890" }`, true)
			passive := "no"
			if !c.routerdIni {
				passive = "yes"
			}
			r.exec(t, v1RouterdNet+`/ip ipsec peer add name=s address=198.18.50.2/32 exchange-mode=`+c.mode+` profile=p passive=`+passive+`
/ip ipsec identity add peer=s auth-method=digital-signature certificate=r
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
			if out := r.exec(t, "/ip ipsec identity print detail"); strings.Contains(out, "status=") {
				t.Fatalf("identity not applied:\n%s", out)
			}
			if !c.routerdIni {
				if out, err := ch.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s\n%s", err, out, tail(ch.Log(), 6000))
				}
			}
			waitV1Up(t, r, ch, tp.nsR)
			if lg := ch.Log(); !strings.Contains(lg, "ECDSA") {
				t.Errorf("charon did not log an ECDSA authentication:\n%s", tail(lg, 3000))
			}
		})
	}
}

// TestIKEv1ECDSARefused: charon's ECDSA certificate is from a CA routerd does not
// trust: no SA, an authentication failure logged.
func TestIKEv1ECDSARefused(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	v1ECDSASetup(t, r, "prime256v1")
	r.exec(t, `/certificate
add common-name=other-ca name=other-ca key-type=ec key-size=prime256v1
sign other-ca
add common-name=198.18.50.2 subject-alt-name=IP:198.18.50.2 key-usage=tls-server,tls-client name=s2 key-type=ec key-size=prime256v1
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
