package ipsec_test

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSeveralTSrCharon: a charon road warrior asks for two networks behind routerd in
// one CHILD_SA (remote_ts = a, b; routerd's mode config split-include names both):
// routerd accepts both in the one SA (RFC 7296 2.9), generates a policy for each, and
// charon reaches both. Before, the SA was narrowed to the first without a word.
func TestSeveralTSrCharon(t *testing.T) {
	tp := newTopo(t, false)
	iketest.Sh(t, "ip", "-n", tp.nsR, "addr", "add", "198.19.103.1/24", "dev", "lo")
	r := startRouter(t, tp.nsR)
	r.run(t, `/ip pool add name=rw-pool ranges=198.19.77.10-198.19.77.20
/ip ipsec profile add name=rw dh-group=ecp256 enc-algorithm=aes-128 hash-algorithm=sha256
/ip ipsec proposal add name=rw enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec mode-config add name=rw address-pool=rw-pool address-prefix-length=32 split-include=198.19.101.0/24,198.19.103.0/24
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes src-address=0.0.0.0/0 dst-address=198.19.77.0/24 proposal=rw
/ip ipsec peer add name=rw exchange-mode=ike2 passive=yes profile=rw
/ip ipsec identity add peer=rw secret=a-long-test-psk generate-policy=port-strict mode-config=rw policy-template-group=rw my-id=fqdn:r.example remote-id=fqdn:s.example
`)
	c := iketest.StartCharon(t, tp.nsS, strings.Replace(rwCharonPlain, "remote_ts = 198.19.101.0/24", "remote_ts = 198.19.101.0/24, 198.19.103.0/24", 1))
	if out, err := c.Swanctl("--initiate", "--child", "net", "--timeout", "10"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, out)
	}
	sas, _ := c.Swanctl("--list-sas")
	if !strings.Contains(sas, "198.19.101.0/24 198.19.103.0/24") {
		t.Errorf("charon's CHILD SA does not carry both networks:\n%s", sas)
	}
	pols := strings.Join(strings.Fields(r.run(t, "/ip ipsec policy print where dynamic")), " ")
	for _, n := range []string{"198.19.101.0/24", "198.19.103.0/24"} {
		if !strings.Contains(pols, "src-address="+n) {
			t.Errorf("no dynamic policy from %s: %s", n, pols)
		}
	}
	for _, dst := range []string{"198.19.101.1", "198.19.103.1"} {
		if err := iketest.In(tp.nsS, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", "198.19.77.10", dst).Run(); err != nil {
			t.Errorf("ping %s from the virtual IP: %v", dst, err)
		}
	}
	if t.Failed() {
		t.Logf("%s\n%s", sas, r.run(t, "/ip ipsec installed-sa print"))
	}
}
