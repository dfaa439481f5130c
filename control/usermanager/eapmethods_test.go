package usermanager

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tlsSetup gives User Manager a server certificate from /certificate and makes client
// certificates for user1 and for a name that is no user, exported for eapol_test.
const tlsSetup = `/certificate
add common-name=ca name=ca
sign ca
add common-name=um.example subject-alt-name=DNS:um.example key-usage=tls-server name=um
sign um ca=ca
add common-name=user1 name=user1 key-usage=tls-client
sign user1 ca=ca
add common-name=stranger name=stranger key-usage=tls-client
sign stranger ca=ca
add common-name=user1 name=server-only key-usage=tls-server
sign server-only ca=ca
export-certificate ca type=pem
export-certificate user1 type=pem export-passphrase=1234567890
export-certificate stranger type=pem export-passphrase=1234567890
export-certificate server-only type=pem export-passphrase=1234567890
/user-manager
set certificate=um
/user-manager user group
add name=papless outer-auths=eap-ttls,eap-peap inner-auths=ttls-mschap2
/user-manager user
add name=user2 password=password2 group=papless
# A user of an older store: only the NT hash of OldPass1.
add name=old password-hash=nt:de8f10fc58552919de7c4ef318631a05
`

// TestEapolTestTLSMethods: wpa_supplicant's eapol_test runs EAP-TLS, EAP-TTLS (PAP,
// CHAP, MS-CHAP and MS-CHAPv2 inside) and PEAPv0 (EAP-MSCHAPv2 inside) against User Manager, checking the
// server certificate against the exported CA and the MPPE keys against the MSK it
// derived itself; wrong passwords, a certificate naming no user, a certificate without
// tls-client, an inner method the group does not allow, and ttls-chap of a user whose store kept
// only the NT hash fail.
func TestEapolTestTLSMethods(t *testing.T) {
	bin := need(t, "eapol_test")
	r := newRig(t)
	r.run(t, referenceSetup)
	r.run(t, tlsSetup)
	a := r.e.Addr()
	files := filepath.Join(r.dir, "files")
	try := func(t *testing.T, network string) (string, error) {
		conf := filepath.Join(t.TempDir(), "eapol.conf")
		network = strings.ReplaceAll(network, "FILES", files)
		os.WriteFile(conf, []byte("network={\n key_mgmt=IEEE8021X\n ca_cert=\""+files+"/cert_export_ca.crt\"\n"+network+"\n}\n"), 0o600)
		cmd := exec.Command(bin, "-c", conf, "-a", a.IP.String(), "-p", fmt.Sprint(a.Port), "-s", "test", "-t", "20", "-r", "0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	key := func(name string) string {
		return fmt.Sprintf("client_cert=\"FILES/cert_export_%s.crt\"\n private_key=\"FILES/cert_export_%s.key\"\n private_key_passwd=\"1234567890\"", name, name)
	}
	for _, tc := range []struct {
		name, network string
		ok            bool
	}{
		{"eap-tls", "eap=TLS\n identity=\"user1\"\n " + key("user1"), true},
		{"eap-ttls-mschapv2", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"user1\"\n password=\"password\"\n phase2=\"auth=MSCHAPV2\"", true},
		{"eap-ttls-pap", "eap=TTLS\n identity=\"user1\"\n password=\"password\"\n phase2=\"auth=PAP\"", true},
		{"eap-ttls-chap", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"user1\"\n password=\"password\"\n phase2=\"auth=CHAP\"", true},
		{"eap-ttls-mschap", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"user1\"\n password=\"password\"\n phase2=\"auth=MSCHAP\"", true},
		{"eap-ttls-chap-wrong", "eap=TTLS\n identity=\"user1\"\n password=\"wrong\"\n phase2=\"auth=CHAP\"", false},
		{"eap-ttls-mschap-wrong", "eap=TTLS\n identity=\"user1\"\n password=\"wrong\"\n phase2=\"auth=MSCHAP\"", false},
		{"eap-ttls-chap-not-in-inner-auths", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"user2\"\n password=\"password2\"\n phase2=\"auth=CHAP\"", false},
		{"eap-ttls-mschap-not-in-inner-auths", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"user2\"\n password=\"password2\"\n phase2=\"auth=MSCHAP\"", false},
		{"eap-ttls-chap-hash-only", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"old\"\n password=\"OldPass1\"\n phase2=\"auth=CHAP\"", false},
		{"eap-ttls-mschap-hash-only", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"old\"\n password=\"OldPass1\"\n phase2=\"auth=MSCHAP\"", true},
		{"eap-peap", "eap=PEAP\n anonymous_identity=\"anonymous\"\n identity=\"user1\"\n password=\"password\"\n phase1=\"peapver=0\"\n phase2=\"auth=MSCHAPV2\"", true},
		{"eap-peap-user2", "eap=PEAP\n identity=\"user2\"\n password=\"password2\"\n phase2=\"auth=MSCHAPV2\"", false},
		{"eap-ttls-user2", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"user2\"\n password=\"password2\"\n phase2=\"auth=MSCHAPV2\"", true},
		{"eap-ttls-pap-not-in-inner-auths", "eap=TTLS\n anonymous_identity=\"anonymous\"\n identity=\"user2\"\n password=\"password2\"\n phase2=\"auth=PAP\"", false},
		{"eap-peap-wrong", "eap=PEAP\n identity=\"user1\"\n password=\"wrong\"\n phase2=\"auth=MSCHAPV2\"", false},
		{"eap-ttls-wrong", "eap=TTLS\n identity=\"user1\"\n password=\"wrong\"\n phase2=\"auth=PAP\"", false},
		{"eap-tls-no-user", "eap=TLS\n identity=\"user1\"\n " + key("stranger"), false},
		{"eap-tls-wrong-eku", "eap=TLS\n identity=\"user1\"\n " + key("server-only"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := try(t, tc.network)
			success := err == nil && strings.HasSuffix(strings.TrimSpace(out), "SUCCESS")
			if tc.ok && (!success || !strings.Contains(out, "MPPE keys OK: 1  mismatch: 0")) {
				t.Fatalf("eapol_test: %v\n%s", err, out)
			}
			if !tc.ok && success {
				t.Fatalf("succeeded:\n%s", out)
			}
		})
	}
	mon := r.run(t, `/user-manager monitor print`)
	for _, m := range []string{"eap-tls", "eap-ttls", "eap-peap"} {
		if !strings.Contains(mon, m) {
			t.Fatalf("monitor lacks %s:\n%s", m, mon)
		}
	}
	t.Log(mon)
}
