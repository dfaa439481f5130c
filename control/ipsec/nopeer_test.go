package ipsec

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestRequireWithoutPeerHeld (QA issue 12): an encrypt policy of level require or unique
// that has no peer (peer unset) never sends its traffic in the
// clear: it is held (dropped by the data path) and its status says so. level=use may
// pass in the clear. Before, a peer-less require policy left the data path and its
// pings crossed in the clear by the main table.
func TestRequireWithoutPeerHeld(t *testing.T) {
	nsA, nsB := twoSites(t)
	// B's network is also reachable in the clear, as through a default route.
	iketest.Sh(t, "ip", "-n", nsA, "route", "add", "198.19.101.0/24", "via", "198.18.90.2")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.90.1")
	clear := clearCounter(t, nsB)
	a := startRouter(t, nsA, true)
	held := func(name, want string) {
		t.Helper()
		pol := a.run(t, "/ip ipsec policy print detail where dst-address=198.19.101.0/24")
		if !strings.Contains(pol, want) || !strings.Contains(pol, "traffic is held") ||
			!regexp.MustCompile(`(?m)^ *\d+ +I`).MatchString(pol) {
			t.Errorf("%s: the policy's status does not say why its traffic is held:\n%s", name, pol)
		}
		if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err == nil {
			t.Errorf("%s: the ping crossed", name)
		}
		if n := clear(); n != 0 {
			t.Fatalf("%s: %d packets of the require policy in the clear", name, n)
		}
	}
	// Peer unset.
	a.run(t, `/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.101.0/24 tunnel=yes action=encrypt level=require`)
	if a.e.Datapath() == nil {
		t.Error("no data path for the held policy")
	}
	held("peer unset", "no peer")
	a.run(t, "/ip ipsec policy set [find dst-address=198.19.101.0/24] level=unique")
	held("peer unset, level=unique", "no peer")
	// A policy's peer cannot be removed while the policy uses it; the policy's peer
	// unset instead (the data path then had no policy for it).
	a.run(t, `/ip ipsec peer add address=198.18.90.2/32 name=gone exchange-mode=ike2 disabled=yes
/ip ipsec policy set [find dst-address=198.19.101.0/24] peer=gone level=require`)
	if err := a.try("/ip ipsec peer remove [find name=gone]"); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("peer remove in use: %v", err)
	}
	held("peer disabled", `peer \"gone\" is disabled`)
	a.run(t, "/ip ipsec policy unset [find dst-address=198.19.101.0/24] peer\n/ip ipsec peer remove [find name=gone]")
	held("peer unset, then removed", "no peer")
	// level=use: in the clear without an SA.
	a.run(t, "/ip ipsec policy set [find dst-address=198.19.101.0/24] level=use")
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Error("level=use without a peer: the ping should pass in the clear")
	}
}
