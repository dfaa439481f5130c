package ipsec

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIdentityDisableTearsDown: disabling the only identity of an established peer deletes
// its IKE and CHILD SAs (on both ends) and the peer stays down until the identity is
// enabled again, as RouterOS does.
func TestIdentityDisableTearsDown(t *testing.T) {
	nsA, nsB := twoSites(t)
	a, b := startRouter(t, nsA, false), startRouter(t, nsB, false)
	b.run(t, siteToSite("ike1-site1", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	b.run(t, "/ip ipsec peer set ike1-site1 passive=yes")
	a.run(t, siteToSite("ike1-site2", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	up := func(r *router) bool { return strings.Contains(r.run(t, "/ip ipsec active-peers print"), "established") }
	if !iketest.WaitFor(20*time.Second, func() bool { return up(a) && up(b) }) {
		t.Fatalf("not up:\n%s", a.run(t, "/ip ipsec active-peers print detail"))
	}
	a.run(t, "/ip ipsec identity disable 0")
	if !iketest.WaitFor(20*time.Second, func() bool {
		return !up(a) && !up(b) && strings.TrimSpace(a.run(t, "/ip ipsec installed-sa print count-only")) == "0"
	}) {
		t.Fatalf("SAs kept after the identity was disabled:\nA %s\nB %s", a.run(t, "/ip ipsec active-peers print detail"),
			b.run(t, "/ip ipsec active-peers print detail"))
	}
	time.Sleep(2 * time.Second) // the initiator's tick must not bring it back without an identity
	if up(a) {
		t.Fatalf("re-established without an identity:\n%s", a.run(t, "/ip ipsec active-peers print detail"))
	}
	a.run(t, "/ip ipsec identity enable 0")
	if !iketest.WaitFor(20*time.Second, func() bool { return up(a) }) {
		t.Fatalf("not back after enable:\n%s", a.run(t, "/ip ipsec active-peers print detail"))
	}
}

// TestRoadWarriorClientRules is the reference's "RouterOS client configuration" (with a
// pre-shared key) against a responder whose peer holds two identities: the template's
// default 0.0.0.0/32 makes the client ask for everything, so its dynamic policy is
// VIP -> 0.0.0.0/0 and traffic from the VIP crosses; the mode config src-nat rule matches
// dst-address-list=!local; the responder's notrack rules follow the identity the SA
// matched, not the peer's last identity.
func TestRoadWarriorClientRules(t *testing.T) {
	nsA, nsB := twoSites(t)
	server, client := startRouter(t, nsA, true), startRouter(t, nsB, true)
	server.run(t, `/ip ipsec mode-config
add address=198.19.77.2 address-prefix-length=32 name=rw-conf system-dns=no
/ip ipsec policy group
add name=rw
/ip ipsec policy
add dst-address=198.19.77.0/24 group=rw proposal=default src-address=0.0.0.0/0 template=yes
/ip ipsec peer
add exchange-mode=ike2 name=rw passive=yes
/ip ipsec identity
add generate-policy=port-strict mode-config=rw-conf peer=rw policy-template-group=rw secret=test notrack-chain=prerouting
add generate-policy=port-strict mode-config=rw-conf peer=rw policy-template-group=rw secret=other remote-id=fqdn:nobody.example
`)
	client.run(t, `/ip ipsec profile
add name=ike2-rw
/ip ipsec proposal
add name=ike2-rw pfs-group=none
/ip ipsec policy group
add name=ike2-rw
/ip ipsec policy
add group=ike2-rw proposal=ike2-rw template=yes
/ip ipsec mode-config
add name=ike2-rw responder=no src-address-list=local
/ip ipsec peer
add address=198.18.90.1/32 exchange-mode=ike2 name=ike2-rw-client
/ip ipsec identity
add secret=test generate-policy=port-strict mode-config=ike2-rw peer=ike2-rw-client policy-template-group=ike2-rw
`)
	var pols string
	if !iketest.WaitFor(20*time.Second, func() bool {
		pols = client.run(t, "/ip ipsec policy print detail")
		return strings.Contains(pols, "198.19.77.2/32")
	}) {
		t.Fatalf("no dynamic policy on the client:\n%s\n%s", pols, client.run(t, "/ip ipsec active-peers print detail"))
	}
	if got := client.run(t, "/ip ipsec policy print detail where dynamic"); !strings.Contains(got, `proposal="ike2-rw"`) {
		t.Errorf("client's dynamic policy shows no proposal:\n%s", got)
	}
	if !strings.Contains(pols, "dst-address=0.0.0.0/0") {
		t.Errorf("client's dynamic policy does not cover everything:\n%s", pols)
	}
	// A policy of a peer with no local-address and no SA: sa-src-address 0.0.0.0, not ::.
	client.run(t, `/ip ipsec peer add name=dead address=198.18.90.99/32 exchange-mode=ike2
/ip ipsec identity add peer=dead secret=x
/ip ipsec policy add src-address=198.19.30.0/24 dst-address=198.19.31.0/24 tunnel=yes peer=dead`)
	if got := client.run(t, ":put [/ip ipsec policy get [find peer=dead] sa-src-address]"); strings.TrimSpace(got) != "0.0.0.0" {
		t.Errorf("sa-src-address of a peer with no SA = %q, want 0.0.0.0", got)
	}
	rules := func(r *router) string { return fmt.Sprint(r.e.dynamicRules()) }
	if got := rules(client); !strings.Contains(got, "dst-address-list:!local") || !strings.Contains(got, "to-addresses:198.19.77.2") {
		t.Errorf("client's mode config src-nat rule: %s", got)
	}
	if got := rules(server); strings.Count(got, "ipsec notrack-chain") != 2 || !strings.Contains(got, "chain:prerouting") {
		t.Errorf("server's notrack rules for identity 0: %s", got)
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return ping(nsB, "198.19.77.2", "198.19.202.1") == nil }) {
		t.Fatalf("198.19.77.2 -> 198.19.202.1 does not cross:\n%s", client.run(t, "/ip ipsec installed-sa print detail"))
	}
}

// TestPolicyNamesTunnelPeer: peer= may name the dynamic peer of a tunnel's ipsec-secret.
// The write asks the engine's published names (ProvideNames) rather than building the
// engine's rows inside its store transaction.
func TestPolicyNamesTunnelPeer(t *testing.T) {
	nsA, _ := twoSites(t)
	a := startRouter(t, nsA, false)
	a.run(t, `/interface gre add name=gre-sec local-address=198.18.90.1 remote-address=198.18.90.2 ipsec-secret=s3cr3tGRE`)
	if err := a.try(`/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.101.0/24 tunnel=yes peer=nope`); err == nil ||
		!strings.Contains(err.Error(), "input does not match any value of peer") {
		t.Fatalf("peer=nope: got %v, want input does not match any value of peer", err)
	}
	if err := a.try(`/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.101.0/24 tunnel=yes peer=gre-sec`); err != nil {
		t.Fatalf("peer= naming the tunnel's dynamic peer: %v", err)
	}
}
