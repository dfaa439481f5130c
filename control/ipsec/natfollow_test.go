package ipsec

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestGeneratedTransportFollowsNATMove (QA issue 12, low): B asks from behind an
// nftables masquerade for a host-to-host transport SA; A, a passive generate-policy
// responder under the default template, generates its policy to the NAT's address. The
// masquerade goes (B's own address appears, as when a NAT's mapping changes): A follows
// the ESP to B's address, and its generated policy must follow too. Before, it stayed
// on the NAT's address, and so did every rekey: no ping passed (in-no-policies) until
// the IKE SA was made again. B rekeys every ~6 s: rekeys after the move keep it.
func TestGeneratedTransportFollowsNATMove(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "nft", "conntrack")
	nsA, nsM, nsB := iketest.NS(t, "rkna"), iketest.NS(t, "rknm"), iketest.NS(t, "rknb")
	iketest.Veth(t, nsA, "rkwan", "198.18.94.1/24", nsM, "rkout", "198.18.94.2/24")
	iketest.Veth(t, nsM, "rkin", "198.18.95.1/24", nsB, "rkwan", "198.18.95.2/24")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "default", "via", "198.18.95.1")
	iketest.Sh(t, "ip", "-n", nsA, "route", "add", "198.18.95.0/24", "via", "198.18.94.2")
	iketest.Sh(t, "ip", "netns", "exec", nsM, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nft := iketest.In(nsM, "nft", "-f", "-")
	nft.Stdin = strings.NewReader("table ip rknat {\n chain post {\n  type nat hook postrouting priority 100\n  oifname \"rkout\" masquerade\n }\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	a.run(t, `/ip ipsec peer add name=rw address=0.0.0.0/0 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=rw secret=a-long-test-psk generate-policy=port-strict
`)
	b.run(t, `/ip ipsec proposal set default lifetime=8s
/ip ipsec peer add name=a address=198.18.94.1/32 exchange-mode=ike2
/ip ipsec identity add peer=a secret=a-long-test-psk
/ip ipsec policy add peer=a src-address=198.18.95.2/32 dst-address=198.18.94.1/32 tunnel=no
`)
	up := func() bool { return iketest.In(nsB, "ping", "-c", "1", "-W", "1", "198.18.94.1").Run() == nil }
	if !iketest.WaitFor(30*time.Second, up) {
		t.Fatalf("no transport SA from behind the NAT:\n%s", a.run(t, "/ip ipsec installed-sa print detail"))
	}
	generated := func() string {
		return strings.Join(strings.Fields(a.run(t, "/ip ipsec policy print detail where dynamic")), " ")
	}
	if pol := generated(); !strings.Contains(pol, "dst-address=198.18.94.2/32") {
		t.Fatalf("A's generated policy is not to the NAT's address:\n%s", pol)
	}
	iketest.Sh(t, "ip", "netns", "exec", nsM, "nft", "delete", "table", "ip", "rknat")
	iketest.Sh(t, "ip", "netns", "exec", nsM, "conntrack", "-F")
	if !iketest.WaitFor(15*time.Second, up) {
		t.Fatalf("B -> A does not pass after the NAT went:\n%s\n%s\n%s", generated(),
			a.run(t, "/ip ipsec active-peers print detail"), a.run(t, "/ip ipsec statistics print"))
	}
	if pol := generated(); !strings.Contains(pol, "dst-address=198.18.95.2/32") {
		t.Errorf("A's generated policy did not follow B to its address:\n%s", pol)
	}
	rekeys := b.e.Daemon().Stats.ChildRekeys.Load()
	out, err := iketest.In(nsB, "ping", "-q", "-i", "0.01", "-c", "1000", "-W", "2", "198.18.94.1").CombinedOutput()
	rekeys = b.e.Daemon().Stats.ChildRekeys.Load() - rekeys
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(string(out))
	t.Logf("after the move: %d rekeys by B, ping %v", rekeys, m)
	if m == nil || m[1] != m[2] || err != nil {
		t.Errorf("B -> A across %d rekeys after the move: %v\n%s\n%s", rekeys, err, out, a.run(t, "/ip ipsec statistics print"))
	}
	if rekeys < 1 {
		t.Errorf("no rekey by B during the 10 s ping")
	}
	if pol := generated(); !strings.Contains(pol, "dst-address=198.18.95.2/32") {
		t.Errorf("A's generated policy went back after B's rekeys:\n%s", pol)
	}
}
