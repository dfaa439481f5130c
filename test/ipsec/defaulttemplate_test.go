package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestDefaultTemplateClientCharon (QA issue 12): routerd is an IPv4 road-warrior client
// configured with a peer and an identity only, so it generates its policies from the
// default policy template group, whose template is src-address=::/0 dst-address=::/0
// as RouterOS has it ("While it is possible to use the default policy template for
// policy generation ..."). It must propose IPv4 selectors to its IPv4 server (charon
// with a pool and a CHILD SA for one network), not ::/0, which charon refuses with
// TS_UNACCEPTABLE; it then gets the dynamic policy from its mode config address to the
// server's network and reaches it.
func TestDefaultTemplateClientCharon(t *testing.T) {
	tp := newTopo(t, false)
	iketest.Sh(t, "ip", "-n", tp.nsS, "addr", "add", "198.19.55.1/24", "dev", "lo")
	c := iketest.StartCharon(t, tp.nsS, swanPSK{name: "rw", local: "198.18.50.2", remote: "198.18.50.1",
		proposals: "aes128-sha1-modp2048", extra: []string{"pools = p"},
		children: []swanChild{{name: "net", localTS: "198.19.55.0/24", esp: "aes256-sha1-modp1024,aes256-sha1"}},
		sections: "pools {\n  p {\n    addrs = 198.19.77.0/24\n  }\n}\n"}.String())
	r := startRouter(t, tp.nsR)
	// The default profile, proposal, mode config (request-only) and template group.
	r.run(t, `/ip ipsec peer add address=198.18.50.2/32 exchange-mode=ike2 name=office
/ip ipsec identity add peer=office secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example mode-config=request-only generate-policy=port-strict
`)
	var pols string
	if !iketest.WaitFor(30*time.Second, func() bool {
		pols = strings.Join(strings.Fields(r.run(t, "/ip ipsec policy print where dynamic")), " ")
		return strings.Contains(pols, "dst-address=198.19.55.0/24")
	}) {
		sas, _ := c.Swanctl("--list-sas")
		t.Fatalf("no dynamic policy to 198.19.55.0/24:\n%s\n%s\n%s\n%s", pols, r.run(t, "/ip ipsec active-peers print detail"), sas, tail(c.Log(), 3000))
	}
	if strings.Contains(c.Log(), "TS_UNACCEPTABLE") || strings.Contains(c.Log(), "::/0") {
		t.Errorf("charon was offered ::/0 or refused selectors:\n%s", tail(c.Log(), 3000))
	}
	vip := regexp.MustCompile(`src-address=(198\.19\.77\.\d+)/32 src-port=any dst-address=198\.19\.55\.0/24`).FindStringSubmatch(pols)
	if vip == nil {
		t.Fatalf("no policy from the mode config address: %s", pols)
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(tp.nsR, "ping", "-c", "1", "-W", "1", "-I", vip[1], "198.19.55.1").Run() == nil
	}) {
		t.Fatalf("%s -> 198.19.55.1 does not cross:\n%s", vip[1], r.run(t, "/ip ipsec statistics print"))
	}
}
