package ipsec

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestRoadWarriorHijackRefused (QA issue 12): a road-warrior server (mode config,
// template group, generate-policy=port-strict, one PSK) gives its client 198.19.77.2; a
// second routerd with the same PSK that asks for no address but proposes
// 198.19.77.2/32 as its side is refused the CHILD SA (TS_UNACCEPTABLE, with the reason
// in the log), the server keeps one dynamic policy for 198.19.77.2 and the mode config
// client's SA stays up.
func TestRoadWarriorHijackRefused(t *testing.T) {
	nsA, nsB := twoSites(t)
	nsC := iketest.NS(t, "ipsc")
	iketest.Veth(t, nsA, "wan2", "198.18.91.1/24", nsC, "wan", "198.18.91.2/24")
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "198.19.55.1/24", "dev", "lo")
	lb := &logBuf{t: t}
	server := startRouterLog(t, nsA, lb)
	victim, attacker := startRouter(t, nsB, false), startRouter(t, nsC, false)
	server.run(t, `/ip ipsec mode-config
add address=198.19.77.2 address-prefix-length=32 name=rw split-include=198.19.55.0/24 system-dns=no
/ip ipsec policy group add name=rw
/ip ipsec policy add dst-address=198.19.77.0/24 group=rw src-address=0.0.0.0/0 template=yes
/ip ipsec peer add exchange-mode=ike2 name=rw passive=yes
/ip ipsec identity add generate-policy=port-strict mode-config=rw peer=rw policy-template-group=rw secret=rw-psk
`)
	victim.run(t, `/ip ipsec mode-config add name=rw responder=no
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes
/ip ipsec peer add address=198.18.90.1/32 exchange-mode=ike2 name=office
/ip ipsec identity add secret=rw-psk generate-policy=port-strict mode-config=rw peer=office policy-template-group=rw
`)
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(server.run(t, "/ip ipsec policy print where dynamic"), "dst-address=198.19.77.2/32")
	}) {
		t.Fatalf("the mode config client got no policy:\n%s", server.run(t, "/ip ipsec active-peers print detail"))
	}
	attacker.run(t, `/ip ipsec peer add address=198.18.91.1/32 exchange-mode=ike2 name=srv
/ip ipsec identity add peer=srv secret=rw-psk
/ip ipsec policy add src-address=198.19.77.2/32 dst-address=198.19.55.0/24 tunnel=yes peer=srv
`)
	const why = "the identity has mode-config but the peer was given no address"
	if !iketest.WaitFor(20*time.Second, func() bool { return strings.Contains(lb.String(), why) }) {
		t.Fatalf("the attacker's CHILD SA was not refused:\nserver:\n%s\nattacker:\n%s",
			server.run(t, "/ip ipsec policy print where dynamic"), attacker.run(t, "/ip ipsec policy print detail"))
	}
	if sp := server.run(t, "/ip ipsec policy print where dynamic"); strings.Count(sp, "dst-address=198.19.77.2/32") != 1 || strings.Contains(sp, "198.18.91.2") {
		t.Errorf("server's dynamic policies after the attempt:\n%s", sp)
	}
	if ap := attacker.run(t, "/ip ipsec installed-sa print detail"); strings.Contains(ap, "spi=") {
		t.Errorf("the attacker holds SAs:\n%s", ap)
	}
	// The mode config client is untouched: its SA is still installed on both sides.
	if vp := victim.run(t, "/ip ipsec policy print where dynamic"); !strings.Contains(vp, "src-address=198.19.77.2/32") {
		t.Errorf("victim's dynamic policies:\n%s", vp)
	}
	if sas := server.run(t, "/ip ipsec installed-sa print detail"); strings.Count(sas, "spi=") != 2 || !strings.Contains(sas, "198.18.90.2") {
		t.Errorf("server's installed SAs:\n%s", sas)
	}
}
