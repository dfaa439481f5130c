package ipsec

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestDefaultTemplateRoadWarrior (QA issue 12): both routers generate their policies
// from the default policy template group (template src-address=::/0 dst-address=::/0,
// as RouterOS has it), the server with a mode config address and a split network, the
// client with mode-config=request-only over IPv4. The client proposes IPv4 selectors
// only (the template's IPv4 twin), which the server accepts from its own default
// template; before, it proposed ::/0 first, which the IPv4 tunnel cannot carry. Each side
// has just the IPv4 dynamic policy, and the client reaches the split network.
func TestDefaultTemplateRoadWarrior(t *testing.T) {
	nsA, nsB := twoSites(t)
	sLog, cLog := &logBuf{t: t}, &logBuf{t: t}
	server, client := startRouterTo(t, nsA, true, sLog), startRouterTo(t, nsB, true, cLog)
	server.run(t, `/ip ipsec mode-config add address=198.19.77.254 address-prefix-length=32 name=rw split-include=198.19.202.0/24 system-dns=no
/ip ipsec peer add exchange-mode=ike2 name=rw passive=yes
/ip ipsec identity add generate-policy=port-strict mode-config=rw peer=rw secret=default-template-psk
`)
	client.run(t, `/ip ipsec peer add address=198.18.90.1/32 exchange-mode=ike2 name=office
/ip ipsec identity add peer=office secret=default-template-psk mode-config=request-only generate-policy=port-strict
`)
	var pols string
	if !iketest.WaitFor(20*time.Second, func() bool {
		pols = strings.Join(strings.Fields(client.run(t, "/ip ipsec policy print where dynamic")), " ")
		return strings.Contains(pols, "dst-address=198.19.202.0/24")
	}) {
		t.Fatalf("no dynamic policy on the client:\n%s\n%s", pols, client.run(t, "/ip ipsec active-peers print detail"))
	}
	if !strings.Contains(pols, "DA src-address=198.19.77.254/32 src-port=any dst-address=198.19.202.0/24 dst-port=any protocol=all action=encrypt level=unique") {
		t.Errorf("client's dynamic policies: %s", pols)
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return ping(nsB, "198.19.77.254", "198.19.202.1") == nil }) {
		t.Fatalf("198.19.77.254 -> 198.19.202.1 does not cross:\n%s", client.run(t, "/ip ipsec statistics print"))
	}
	// The IPv4 CHILD SA is there, so whatever IKE_AUTH carried before it has been
	// answered: an IPv6 (::/0) CHILD SA or its refusal would show by now.
	if l := cLog.String() + sLog.String(); strings.Contains(l, "CHILD SA refused") || strings.Contains(l, "no policy matches") {
		t.Errorf("a CHILD SA was refused:\n%s", l)
	}
	for _, r := range []*router{client, server} {
		p := strings.Join(strings.Fields(r.run(t, "/ip ipsec policy print where dynamic")), " ")
		if strings.Contains(p, "::/0") || strings.Count(p, "DA ") != 1 {
			t.Errorf("%s: want one IPv4 dynamic policy, have: %s", r.ns, p)
		}
		if s := r.run(t, "/ip ipsec installed-sa print count-only"); strings.TrimSpace(s) != "2" {
			t.Errorf("%s: %s installed SAs, want 2 (one CHILD SA):\n%s", r.ns, strings.TrimSpace(s), r.run(t, "/ip ipsec installed-sa print"))
		}
	}
}
