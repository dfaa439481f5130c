package ipsec

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// clearCounter counts, at the ingress of nsB's wan, the packets from A's protected
// network to B's that arrive in the clear (ESP has the outer addresses): what a require
// policy must never let out.
func clearCounter(t *testing.T, nsB string) func() int {
	t.Helper()
	nft := func(args ...string) { iketest.Sh(t, append([]string{"ip", "netns", "exec", nsB, "nft"}, args...)...) }
	nft("add", "table", "netdev", "qa")
	nft("add", "counter", "netdev", "qa", "clear")
	nft("add", "chain", "netdev", "qa", "in", "{ type filter hook ingress device wan priority 0; }")
	nft("add", "rule", "netdev", "qa", "in", "ip", "saddr", "198.19.202.0/24", "ip", "daddr", "198.19.101.0/24", "counter", "name", "clear")
	re := regexp.MustCompile(`packets (\d+)`)
	return func() int {
		m := re.FindStringSubmatch(iketest.Sh(t, "ip", "netns", "exec", nsB, "nft", "list", "counter", "netdev", "qa", "clear"))
		if m == nil {
			t.Fatal("no counter")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
}

// TestPeerDisableHoldsRequireTraffic: `/ip ipsec peer disable` on a peer whose policy is
// level=require makes the policy invalid, with a status saying the peer is disabled and
// its traffic held, and its traffic is dropped, not sent in the clear by the main table
// (issue 12, qa12: 528 echo requests in the clear in 5 s). Enabling the peer brings the
// tunnel back. A router that starts with the peer already disabled holds the traffic
// too (the data path opens for the held policy alone). level=use keeps sending in the
// clear without an SA.
func TestPeerDisableHoldsRequireTraffic(t *testing.T) {
	nsA, nsB := twoSites(t)
	// B's network is also reachable in the clear, as through a default route.
	iketest.Sh(t, "ip", "-n", nsA, "route", "add", "198.19.101.0/24", "via", "198.18.90.2")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.90.1")
	clear := clearCounter(t, nsB)
	a, b := startRouter(t, nsA, true), startRouter(t, nsB, true)
	b.run(t, siteToSite("ike1-site1", "198.18.90.1", "198.19.101.0/24", "198.19.202.0/24"))
	a.run(t, siteToSite("ike1-site2", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"))
	if !iketest.WaitFor(30*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatalf("no tunnel:\n%s", a.run(t, "/ip ipsec policy print detail\n/ip ipsec active-peers print detail"))
	}
	if n := clear(); n != 0 {
		t.Fatalf("%d packets in the clear with the tunnel up", n)
	}
	dp := a.e.Datapath()
	before := dp.Statistics().OutNoStates
	a.run(t, "/ip ipsec peer disable [find name=ike1-site2]")
	pol := a.run(t, "/ip ipsec policy print detail where dst-address=198.19.101.0/24")
	if !strings.Contains(pol, `peer \"ike1-site2\" is disabled`) || !strings.Contains(pol, "held") {
		t.Errorf("the policy's status does not say its peer is disabled and its traffic held:\n%s", pol)
	}
	if !regexp.MustCompile(`(?m)^ *\d+ +I`).MatchString(pol) {
		t.Errorf("the policy is not shown invalid:\n%s", pol)
	}
	if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err == nil {
		t.Error("the ping crossed with the peer disabled")
	}
	if n := clear(); n != 0 {
		t.Fatalf("peer disabled: %d packets of the require policy in the clear", n)
	}
	if got := dp.Statistics().OutNoStates; got < before+3 {
		t.Errorf("out-no-states %d -> %d: the held packets were not dropped by the data path", before, got)
	}
	a.run(t, "/ip ipsec peer enable [find name=ike1-site2]")
	if !iketest.WaitFor(30*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Fatalf("no tunnel after peer enable:\n%s", a.run(t, "/ip ipsec policy print detail\n/ip ipsec active-peers print detail"))
	}
	if pol := a.run(t, "/ip ipsec policy print detail where dst-address=198.19.101.0/24"); strings.Contains(pol, "held") {
		t.Errorf("still held after peer enable:\n%s", pol)
	}
	if n := clear(); n != 0 {
		t.Fatalf("%d packets in the clear", n)
	}

	t.Run("disabled at start", func(t *testing.T) {
		nsA, nsB := twoSites(t)
		iketest.Sh(t, "ip", "-n", nsA, "route", "add", "198.19.101.0/24", "via", "198.18.90.2")
		iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.90.1")
		clear := clearCounter(t, nsB)
		a := startRouter(t, nsA, true)
		a.run(t, strings.Replace(siteToSite("ike1-site2", "198.18.90.2", "198.19.202.0/24", "198.19.101.0/24"),
			"exchange-mode=ike2\n", "exchange-mode=ike2 disabled=yes\n", 1))
		if a.e.Datapath() == nil {
			t.Fatal("no data path for the held policy")
		}
		if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err == nil || clear() != 0 {
			t.Fatalf("the only peer disabled: %d packets of the require policy in the clear (ping err %v)", clear(), err)
		}
		// level=use: in the clear without an SA, as before.
		a.run(t, "/ip ipsec policy set [find dst-address=198.19.101.0/24] level=use")
		if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
			t.Error("level=use with the peer disabled: the ping should pass in the clear")
		}
	})
}
