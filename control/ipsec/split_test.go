package ipsec

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSplitIncludePolicies: a responder whose mode config has two split-include
// networks; the RouterOS client (template left at its default, so it asks for
// everything) gets one dynamic policy per network, as the reference's "RoadWarrior
// client with NAT" prints them, reaches both networks through the tunnel and nothing
// else of the office; the server's side is its template's (0.0.0.0/0), not the split.
func TestSplitIncludePolicies(t *testing.T) {
	nsA, nsB := twoSites(t)
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "198.19.55.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "198.19.56.1/24", "dev", "lo")
	server, client := startRouter(t, nsA, true), startRouter(t, nsB, true)
	server.run(t, `/ip ipsec mode-config
add address=198.19.77.254 address-prefix-length=32 name=rw split-include=198.19.55.0/24,198.19.56.0/24 system-dns=no
/ip ipsec policy group add name=rw
/ip ipsec policy add dst-address=198.19.77.0/24 group=rw src-address=0.0.0.0/0 template=yes
/ip ipsec peer add exchange-mode=ike2 name=rw passive=yes
/ip ipsec identity add generate-policy=port-strict mode-config=rw peer=rw policy-template-group=rw secret=split-psk
`)
	client.run(t, `/ip ipsec mode-config add name=rw responder=no
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes
/ip ipsec peer add address=198.18.90.1/32 exchange-mode=ike2 name=office
/ip ipsec identity add secret=split-psk generate-policy=port-strict mode-config=rw peer=office policy-template-group=rw
`)
	var pols string
	if !iketest.WaitFor(20*time.Second, func() bool {
		pols = strings.Join(strings.Fields(client.run(t, "/ip ipsec policy print where dynamic")), " ")
		return strings.Contains(pols, "dst-address=198.19.56.0/24")
	}) {
		t.Fatalf("no dynamic policies on the client:\n%s\n%s", pols, client.run(t, "/ip ipsec active-peers print detail"))
	}
	for _, want := range []string{
		"DA src-address=198.19.77.254/32 src-port=any dst-address=198.19.55.0/24 dst-port=any protocol=all action=encrypt level=unique ipsec-protocols=esp tunnel=yes sa-src-address=198.18.90.2 sa-dst-address=198.18.90.1",
		"DA src-address=198.19.77.254/32 src-port=any dst-address=198.19.56.0/24 dst-port=any protocol=all action=encrypt level=unique ipsec-protocols=esp tunnel=yes sa-src-address=198.18.90.2 sa-dst-address=198.18.90.1",
	} {
		if !strings.Contains(pols, want) {
			t.Errorf("client's policies lack\n  %s\nin\n  %s", want, pols)
		}
	}
	if strings.Contains(pols, "0.0.0.0/0") {
		t.Errorf("client still has a policy for everything: %s", pols)
	}
	// The server narrowed the client's request to its template only (split-include is
	// what it tells the client, not a bound): one policy, everything to the client, level
	// unique as the reference prints a tunnel-mode policy a template generated.
	if sp := strings.Join(strings.Fields(server.run(t, "/ip ipsec policy print where dynamic")), " "); strings.Count(sp, "dst-address=198.19.77.254/32") != 1 ||
		!strings.Contains(sp, "src-address=0.0.0.0/0 src-port=any dst-address=198.19.77.254/32 dst-port=any protocol=all action=encrypt level=unique") {
		t.Errorf("server's dynamic policies:\n%s", sp)
	}
	for _, dst := range []string{"198.19.55.1", "198.19.56.1"} {
		if !iketest.WaitFor(10*time.Second, func() bool { return ping(nsB, "198.19.77.254", dst) == nil }) {
			t.Fatalf("198.19.77.254 -> %s does not cross:\n%s", dst, client.run(t, "/ip ipsec statistics print"))
		}
	}
	// The office's other network is not in the split: no policy sends it into the tunnel.
	if ping(nsB, "198.19.77.254", "198.19.202.1") == nil {
		t.Errorf("198.19.202.1 reached though not in split-include")
	}
}
