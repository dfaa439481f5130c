package ipsec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIKEv1BaseModeSignatures: exchange-mode=base with digital-signature (RSA and ECDSA
// certificates of one routerd's /certificate, the other routerd importing its PKCS#12
// and the CA) and with rsa-key (keys of /ip ipsec key exchanged as files), between two
// routerd: no Debian peer speaks base mode (strongSwan and libreswan have none, racoon
// is not packaged). Ping across both ways.
func TestIKEv1BaseModeSignatures(t *testing.T) {
	iketest.NeedRoot(t, "openssl")
	for _, c := range []struct{ name, keyOpts string }{
		{"rsa-certificates", ""},
		{"ecdsa-certificates", " key-type=ec key-size=prime256v1"},
		{"rsa-key", "rsa-key"},
		{"rsa-key-refused", "rsa-key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := newTopo(t, false)
			a, b := startCertRouter(t, tp.nsR), startCertRouter(t, tp.nsS)
			os.MkdirAll(filepath.Join(b.dir, "files"), 0o700)
			idA, idB := "", ""
			if c.keyOpts == "rsa-key" {
				a.exec(t, "/ip ipsec key\ngenerate-key name=a key-size=2048\nexport-pub-key key=a file-name=a.pub\n")
				b.exec(t, "/ip ipsec key\ngenerate-key name=b key-size=2048\nexport-pub-key key=b file-name=b.pub\n")
				copyFile(t, filepath.Join(a.dir, "files", "a.pub"), filepath.Join(b.dir, "files", "a.pub"))
				copyFile(t, filepath.Join(b.dir, "files", "b.pub"), filepath.Join(a.dir, "files", "b.pub"))
				a.exec(t, "/ip ipsec key import file-name=b.pub name=b\n")
				b.exec(t, "/ip ipsec key import file-name=a.pub name=a\n")
				idA = "auth-method=rsa-key key=a remote-key=b my-id=fqdn:a.example remote-id=fqdn:b.example"
				idB = "auth-method=rsa-key key=b remote-key=a my-id=fqdn:b.example remote-id=fqdn:a.example"
				if c.name == "rsa-key-refused" {
					// B expects its own key from A: A's SIG_I cannot verify.
					idB = strings.Replace(idB, "remote-key=a", "remote-key=b", 1)
				}
			} else {
				a.exec(t, `/certificate
add common-name=ca name=ca`+c.keyOpts+`
sign ca
add common-name=198.18.50.1 subject-alt-name=IP:198.18.50.1 key-usage=tls-server,tls-client name=a`+c.keyOpts+`
sign a ca=ca
add common-name=198.18.50.2 subject-alt-name=IP:198.18.50.2 key-usage=tls-server,tls-client name=b`+c.keyOpts+`
sign b ca=ca
export-certificate b export-passphrase=1234567890 type=pkcs12
export-certificate ca type=pem
`)
				copyFile(t, filepath.Join(a.dir, "files", "cert_export_b.p12"), filepath.Join(b.dir, "files", "b.p12"))
				copyFile(t, filepath.Join(a.dir, "files", "cert_export_ca.crt"), filepath.Join(b.dir, "files", "ca.crt"))
				b.exec(t, "/certificate\nimport file-name=ca.crt\nimport file-name=b.p12 passphrase=1234567890\n")
				certs := b.exec(t, "/certificate print detail")
				name := ""
				for _, l := range strings.Fields(certs) {
					if strings.HasPrefix(l, `name="b.p12`) {
						name = strings.Trim(strings.TrimPrefix(l, "name="), `"`)
						break
					}
				}
				if name == "" {
					t.Fatalf("no imported certificate:\n%s", certs)
				}
				idA = "auth-method=digital-signature certificate=a"
				idB = "auth-method=digital-signature certificate=" + name
			}
			a.exec(t, v1RouterdNet+`/ip ipsec peer add name=b address=198.18.50.2/32 exchange-mode=base profile=p
/ip ipsec identity add peer=b `+idA+`
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=b
`)
			b.exec(t, v1RouterdNet+`/ip ipsec peer add name=a address=198.18.50.1/32 exchange-mode=base profile=p passive=yes
/ip ipsec identity add peer=a `+idB+`
/ip ipsec policy add src-address=198.19.102.0/24 dst-address=198.19.101.0/24 tunnel=yes proposal=p peer=a
`)
			for _, r := range []*certRouter{a, b} {
				if out := r.exec(t, "/ip ipsec identity print detail"); strings.Contains(out, "status=") || strings.Contains(out, "invalid") {
					t.Fatalf("identity not applied:\n%s", out)
				}
			}
			if c.name == "rsa-key-refused" {
				if !iketest.WaitFor(25*time.Second, func() bool { return strings.Contains(b.log.String(), "failed to authenticate") }) {
					t.Fatalf("B logged no authentication failure:\n%s", b.log.String())
				}
				if strings.Contains(b.run(t, "/ip ipsec policy print"), "established") {
					t.Fatal("B established a policy with the wrong key")
				}
				return
			}
			if !iketest.WaitFor(25*time.Second, func() bool {
				return strings.Contains(a.run(t, "/ip ipsec policy print"), "established") &&
					strings.Contains(b.run(t, "/ip ipsec policy print"), "established")
			}) {
				t.Fatalf("no phase 2:\nA:\n%s\n%s\nB:\n%s\n%s", a.run(t, "/ip ipsec active-peers print detail"), a.log.String(),
					b.run(t, "/ip ipsec active-peers print detail"), b.log.String())
			}
			if err := pingAcross(tp.nsR); err != nil {
				t.Fatalf("ping across: %v\n%s", err, a.run(t, "/ip ipsec installed-sa print"))
			}
			if err := iketest.In(tp.nsS, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", "198.19.102.1", "198.19.101.1").Run(); err != nil {
				t.Fatalf("ping B -> A: %v", err)
			}
			if !strings.Contains(a.log.String(), "mode=base") {
				t.Errorf("A did not log a base mode phase 1:\n%s", a.log.String())
			}
		})
	}
}
