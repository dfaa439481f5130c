package ipsec_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestDNIdentitiesCharon: my-id=dn: and remote-id=dn: (ID_DER_ASN1_DN) between routerd
// as certificate initiator and strongSwan: routerd sends its certificate's subject as
// IDi, strongSwan its own as IDr, each matched against the other's certificate; with a
// remote-id naming another DN (sent as the IDr hint) strongSwan finds no such identity and
// the SA fails with the reason logged. (ike TestDNIdentity checks routerd's own match.)
func TestDNIdentitiesCharon(t *testing.T) {
	tp := newTopo(t, false)
	r := startCertRouter(t, tp.nsR)
	r.exec(t, `/certificate
add common-name=ca name=ca
sign ca
add common-name=srv organization=Example country=LV key-usage=tls-server name=server1
sign server1 ca=ca
add common-name=rw-client1 organization=Example unit=Road country=LV key-usage=tls-client name=client
sign client ca=ca
export-certificate server1 export-passphrase=1234567890 type=pkcs12
export-certificate ca type=pem
`)
	c := iketest.StartCharon(t, tp.nsS, `connections {
  srv {
    version = 2
    local_addrs = 198.18.50.2
    proposals = aes128-sha1-modp2048
    local { auth = pubkey
            id = "C=LV, O=Example, CN=srv" }
    remote { auth = pubkey
             id = "C=LV, O=Example, OU=Road, CN=rw-client1" }
    children {
      net {
        local_ts = 198.19.102.0/24
        remote_ts = 198.19.101.0/24
        esp_proposals = aes128-sha1
      }
    }
  }
}
secrets { pkcs12-1 { file = server.p12
    secret = "1234567890" } }
`)
	copyFile(t, filepath.Join(r.dir, "files", "cert_export_ca.crt"), filepath.Join(c.Dir, "x509ca", "ca.crt"))
	copyFile(t, filepath.Join(r.dir, "files", "cert_export_server1.p12"), filepath.Join(c.Dir, "pkcs12", "server.p12"))
	if out, err := c.Swanctl("--load-creds", "--file", filepath.Join(c.Dir, "swanctl.conf")); err != nil {
		t.Fatalf("load-creds: %v\n%s", err, out)
	}
	r.exec(t, `/ip ipsec profile add name=p
/ip ipsec proposal add name=p pfs-group=none
/ip ipsec peer add address=198.18.50.2/32 exchange-mode=ike2 name=s profile=p
/ip ipsec identity add peer=s auth-method=digital-signature certificate=client my-id="dn:CN=rw-client1,OU=Road,O=Example,C=LV" remote-id="dn:CN=srv,O=Example,C=LV"
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
	if !iketest.WaitFor(25*time.Second, func() bool {
		sas, _ := c.Swanctl("--list-sas")
		return strings.Contains(sas, "ESTABLISHED") && strings.Contains(sas, "INSTALLED")
	}) {
		sas, _ := c.Swanctl("--list-sas")
		t.Fatalf("no SA:\n%s\n%s\n%s", sas, r.run(t, "/ip ipsec identity print detail"), r.log.String())
	}
	sas, _ := c.Swanctl("--list-sas")
	if !strings.Contains(sas, "C=LV, O=Example, OU=Road, CN=rw-client1") {
		t.Fatalf("strongSwan did not see routerd's DN:\n%s", sas)
	}
	if s := r.run(t, "/ip ipsec active-peers print detail"); !strings.Contains(s, "CN=srv") {
		t.Fatalf("routerd does not show strongSwan's DN:\n%s", s)
	}
	c.Swanctl("--terminate", "--ike", "srv", "--timeout", "10")
	// routerd initiates again at once, and kill-connections may meet that initiation
	// with its IKE_AUTH in flight: its delete must still reach charon.
	r.exec(t, `/ip ipsec identity set [find] remote-id="dn:CN=other,O=Example,C=LV"
/ip ipsec active-peers kill-connections`)
	if !iketest.WaitFor(20*time.Second, func() bool { return strings.Contains(r.log.String(), "AUTHENTICATION_FAILED") }) {
		t.Fatalf("a wrong remote-id DN was not refused with a reason:\n%s", r.log.String())
	}
	if sas, _ := c.Swanctl("--list-sas"); strings.Contains(sas, "INSTALLED") {
		t.Fatalf("connected with a wrong remote-id:\n%s", sas)
	}
}
