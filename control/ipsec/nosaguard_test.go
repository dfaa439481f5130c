package ipsec

import (
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestPolicyWithoutSADropsCleartext: a level=require tunnel policy whose peer is not up
// (passive, no local-address: no SA, so no endpoints) while the main table has a route
// to its destination, as a default route gives at every site. Its packets must not
// leave in the clear: the data path drops them (out-no-states) and asks IKE for an SA.
// A level=use policy's may. Before, the policy was not given to the data path until
// its peer was up, so its destination fell through to the main table (qa12: cleartext
// on the underlay during charon's break-before-make reauth, after kill-connections,
// and for good with a peer that never answers).
func TestPolicyWithoutSADropsCleartext(t *testing.T) {
	nsA, nsB := twoSites(t)
	// B answers in the clear: a leak shows as a ping that gets through.
	iketest.Sh(t, "ip", "-n", nsA, "route", "add", "198.19.101.0/24", "via", "198.18.90.2")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.90.1")
	a := startRouter(t, nsA, true)
	a.run(t, `/ip ipsec peer add name=p address=198.18.90.2/32 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.101.0/24 tunnel=yes peer=p`)
	dp := a.e.Datapath()
	if dp == nil {
		t.Fatal("no data path")
	}
	if err := ping(nsA, "198.19.202.1", "198.19.101.1"); err == nil {
		t.Fatal("the protected destination was reached in the clear with no SA")
	}
	if st := dp.Statistics(); st.OutNoStates == 0 {
		t.Errorf("the data path dropped nothing for want of an SA: %+v", st)
	}
	// level=use: in the clear until there is an SA.
	a.run(t, "/ip ipsec policy set [find dst-address=198.19.101.0/24] level=use")
	ok := false
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !ok; {
		a.e.Reconcile(t.Context())
		ok = ping(nsA, "198.19.202.1", "198.19.101.1") == nil
	}
	if !ok {
		t.Error("level=use: the ping should pass in the clear without an SA")
	}
}
