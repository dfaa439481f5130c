package ipsec

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestGeneratedRouteRefusedMarksItsPolicy (QA issue 12): a policy generated from a
// template (generate-policy, the default ::/0 template) whose steering route the kernel
// refuses (its source address, in the local selector, is tentative) is the one marked
// invalid: its dynamic row gets I and a readable status, while a configured policy of
// the same router stays valid. Before, a generated policy's error concerned no item and
// so went to every configured policy, as a refused route of a configured policy did
// before 9f5c9bc.
func TestGeneratedRouteRefusedMarksItsPolicy(t *testing.T) {
	nsA, nsB := twoSites(t)
	// A's LAN: a port whose other end is down, so its IPv6 address stays tentative.
	iketest.Sh(t, "ip", "-n", nsA, "link", "add", "lan", "type", "veth", "peer", "name", "lanp")
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "2001:db8:201::1/64", "dev", "lan")
	iketest.Sh(t, "ip", "-n", nsA, "link", "set", "lan", "up")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "2001:db8:101::1/64", "dev", "lo")
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	a.run(t, `/ip ipsec peer add exchange-mode=ike2 name=rw passive=yes
/ip ipsec identity add generate-policy=port-strict peer=rw secret=generated-route-psk
/ip ipsec policy add src-address=198.19.93.0/24 dst-address=198.19.94.0/24 tunnel=yes peer=rw
`)
	b.run(t, `/ip ipsec peer add address=198.18.90.1/32 exchange-mode=ike2 name=office
/ip ipsec identity add peer=office secret=generated-route-psk
/ip ipsec policy add src-address=2001:db8:101::/64 dst-address=2001:db8:201::/64 tunnel=yes peer=office
`)
	var dyn string
	if !iketest.WaitFor(20*time.Second, func() bool {
		dyn = a.run(t, "/ip ipsec policy print detail where dynamic")
		return strings.Contains(dyn, "status=")
	}) {
		t.Fatalf("the generated policy is not marked:\n%s\n%s", dyn, a.run(t, "/ip ipsec active-peers print detail"))
	}
	flat := strings.Join(strings.Fields(dyn), " ")
	if !strings.Contains(flat, "DIA src-address=2001:db8:201::/64") ||
		!strings.Contains(flat, `status="not applied: esp: route to 2001:db8:101::/64 through ipsec0 (table 220, source 2001:db8:201::1): source address 2001:db8:201::1 is not usable yet (tentative)`) {
		t.Errorf("generated policy:\n%s", dyn)
	}
	if conf := a.run(t, "/ip ipsec policy print detail where !dynamic"); strings.Contains(conf, "status=") || regexp.MustCompile(`(?m)^\s*\d+ [TXDA*]*I`).MatchString(conf) {
		t.Errorf("the configured policy is marked too:\n%s", conf)
	}
}
