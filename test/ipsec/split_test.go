package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSplitIncludeCharon: routerd is the RouterOS road-warrior client (mode config
// responder=no, template left at its default so it asks for everything) of a charon
// responder whose pool sends two INTERNAL_IP4_SUBNET networks and whose CHILD_SA covers
// everything: routerd makes one dynamic policy per split network, as RouterOS does, and
// reaches both from its mode config address.
func TestSplitIncludeCharon(t *testing.T) {
	tp := newTopo(t, false)
	iketest.Sh(t, "ip", "-n", tp.nsS, "addr", "add", "198.19.103.1/24", "dev", "lo")
	c := iketest.StartCharon(t, tp.nsS, swanPSK{name: "rw", local: "198.18.50.2", remote: "198.18.50.1", extra: []string{"pools = p"},
		children: []swanChild{{name: "net", localTS: "0.0.0.0/0", esp: "aes128gcm16"}},
		sections: "pools {\n  p {\n    addrs = 198.19.77.0/24\n    subnet = 198.19.102.0/24, 198.19.103.0/24\n  }\n}\n"}.String())
	r := startRouter(t, tp.nsR)
	r.run(t, `/ip ipsec profile add name=rw enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=rw enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec mode-config add name=rw responder=no
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw proposal=rw template=yes
/ip ipsec peer add address=198.18.50.2/32 exchange-mode=ike2 name=office profile=rw
/ip ipsec identity add peer=office secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example generate-policy=port-strict mode-config=rw policy-template-group=rw
`)
	var pols string
	if !iketest.WaitFor(30*time.Second, func() bool {
		pols = strings.Join(strings.Fields(r.run(t, "/ip ipsec policy print where dynamic")), " ")
		return strings.Contains(pols, "dst-address=198.19.103.0/24")
	}) {
		sas, _ := c.Swanctl("--list-sas")
		t.Fatalf("no per-network dynamic policies:\n%s\n%s\n%s", pols, r.run(t, "/ip ipsec active-peers print detail"), sas)
	}
	vip := regexp.MustCompile(`src-address=(198\.19\.77\.\d+)/32`).FindStringSubmatch(pols)
	if vip == nil {
		t.Fatalf("no mode config address in the policies: %s", pols)
	}
	for _, n := range []string{"198.19.102.0/24", "198.19.103.0/24"} {
		if !strings.Contains(pols, "src-address="+vip[1]+"/32 src-port=any dst-address="+n+" dst-port=any protocol=all action=encrypt level=unique") {
			t.Errorf("no policy %s -> %s: %s", vip[1], n, pols)
		}
	}
	if strings.Contains(pols, "dst-address=0.0.0.0/0") {
		t.Errorf("a policy for everything besides the split networks: %s", pols)
	}
	for _, dst := range []string{"198.19.102.1", "198.19.103.1"} {
		if !iketest.WaitFor(10*time.Second, func() bool {
			return iketest.In(tp.nsR, "ping", "-c", "1", "-W", "1", "-I", vip[1], dst).Run() == nil
		}) {
			t.Fatalf("%s -> %s does not cross:\n%s", vip[1], dst, r.run(t, "/ip ipsec statistics print"))
		}
	}
}
