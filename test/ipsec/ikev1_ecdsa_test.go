package ipsec_test

import (
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
			_, ch := v1CertUp(t, func(r *certRouter) { v1ECDSASetup(t, r, c.curve) }, c.mode, c.routerdIni)
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
	v1CertRefused(t, func(r *certRouter) { v1ECDSASetup(t, r, "prime256v1") }, " key-type=ec key-size=prime256v1")
}
