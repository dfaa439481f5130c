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

// TestRequireWithoutIdentityHeld (issue 12 low): a require policy whose peer has no
// usable identity (none, one disabled, one that cannot apply) is held, and its status
// says why, as its log does once; print said nothing before. An identity that applies
// takes the status away. level=use says its traffic goes in the clear.
func TestRequireWithoutIdentityHeld(t *testing.T) {
	nsA, nsB := twoSites(t)
	iketest.Sh(t, "ip", "-n", nsA, "route", "add", "198.19.101.0/24", "via", "198.18.90.2")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.90.1")
	clear := clearCounter(t, nsB)
	lb := &logBuf{t: t}
	a := startRouterTo(t, nsA, true, lb)
	status := func(name, want string) {
		t.Helper()
		pol := a.run(t, "/ip ipsec policy print detail where dst-address=198.19.101.0/24")
		if flat := strings.Join(strings.Fields(pol), " "); !strings.Contains(flat, want) {
			t.Errorf("%s: want status %q:\n%s", name, want, pol)
		}
		if regexp.MustCompile(`(?m)^ *\d+ +I`).MatchString(pol) {
			t.Errorf("%s: the policy is applied, not invalid:\n%s", name, pol)
		}
	}
	held := func(name, want string) {
		t.Helper()
		status(name, want+`: its traffic is held (level=require), not sent in the clear`)
		if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err == nil {
			t.Errorf("%s: the ping crossed", name)
		}
		if n := clear(); n != 0 {
			t.Fatalf("%s: %d packets of the require policy in the clear", name, n)
		}
	}
	a.run(t, `/ip ipsec peer add address=198.18.90.2/32 name=b exchange-mode=ike2
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.101.0/24 tunnel=yes peer=b`)
	held("no identity", `status="peer \"b\" has no identity`)
	for range 3 {
		a.run(t, "/ip ipsec policy print")
	}
	if n := strings.Count(lb.String(), `has no identity`); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, lb.String())
	}
	a.run(t, "/ip ipsec identity add peer=b secret=thisisnotasecurepsk disabled=yes")
	held("identity disabled", `status="peer \"b\" has no usable identity (identity *1 is disabled)`)
	a.run(t, "/ip ipsec identity set [find peer=b] disabled=no auth-method=digital-signature")
	held("identity not usable", `status="peer \"b\" has no usable identity (identity *1: auth-method=digital-signature needs the certificate engine)`)
	if n := strings.Count(lb.String(), `has no usable identity (identity *1: auth`); n != 1 {
		t.Errorf("the changed reason logged %d times, want once:\n%s", n, lb.String())
	}
	a.run(t, "/ip ipsec identity set [find peer=b] auth-method=pre-shared-key")
	pol := a.run(t, "/ip ipsec policy print detail where dst-address=198.19.101.0/24")
	if strings.Contains(pol, "status=") || !strings.Contains(pol, "no-phase2") {
		t.Errorf("with a usable identity the policy waits for its peer, no status:\n%s", pol)
	}
	if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err == nil || clear() != 0 {
		t.Fatalf("no SA yet: %d packets in the clear (ping err %v)", clear(), err)
	}
	a.run(t, "/ip ipsec identity remove [find peer=b]\n/ip ipsec policy set [find dst-address=198.19.101.0/24] level=use")
	status("level=use", `status="peer \"b\" has no identity: no SA, its traffic goes in the clear (level=use)`)
	if !iketest.WaitFor(20*time.Second, func() bool { return ping(nsA, "198.19.202.1", "198.19.101.1") == nil }) {
		t.Error("level=use without an identity: the ping should pass in the clear")
	}
}
