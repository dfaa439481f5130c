package ipsec

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/esp"
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

// TestKernelPolicyWithoutSADropsCleartext: the same with the kernel's XFRM data path
// (forced: this kernel has XFRM policies but no ESP, so there is never an SA). A require
// policy whose peer is not up is installed in XFRM with the peer's address in its
// template and the local address left to the kernel (a tunnel template with a wildcard
// source: the kernel takes the route's), so that the kernel drops its packets
// (XfrmOutNoStates) and asks for an SA (ACQUIRE), as RouterOS does; one whose peer's
// address is not known (0.0.0.0/0, a road warrior's) is installed as a block policy:
// there is no one to ask. Before, neither was installed until the peer was up, and both
// destinations were reached in the clear through the main table.
func TestKernelPolicyWithoutSADropsCleartext(t *testing.T) {
	nsA, nsB := twoSites(t)
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.103.1/24", "dev", "lo")
	for _, dst := range []string{"198.19.101.0/24", "198.19.103.0/24"} {
		iketest.Sh(t, "ip", "-n", nsA, "route", "add", dst, "via", "198.18.90.2")
	}
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.90.1")
	// The clear path works before routerd has any policy: what the test would see leak.
	for _, dst := range []string{"198.19.101.1", "198.19.103.1"} {
		if err := ping(nsA, "198.19.202.1", dst); err != nil {
			t.Fatalf("%s not reachable in the clear to begin with: %v", dst, err)
		}
	}
	a := startRouterWith(t, nsA, testLog{t, nsA}, func(o *Options) { o.ESP.Force = esp.KindKernel })
	a.run(t, `/ip ipsec peer add name=p address=198.18.90.2/32 exchange-mode=ike2 passive=yes
/ip ipsec peer add name=rw address=0.0.0.0/0 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec identity add peer=rw secret=thisisnotasecurepsk2
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.101.0/24 tunnel=yes peer=p
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.103.0/24 tunnel=yes peer=rw`)
	dp := a.e.Datapath()
	if dp == nil || dp.Kind() != esp.KindKernel {
		t.Fatalf("no kernel data path: %v", dp)
	}
	xfrm := func() string {
		out, _ := iketest.In(nsA, "ip", "xfrm", "policy").CombinedOutput()
		return string(out)
	}
	if !iketest.WaitFor(20*time.Second, func() bool {
		a.e.Reconcile(t.Context())
		x := xfrm()
		return strings.Contains(x, "dst 198.19.101.0/24") && strings.Contains(x, "dst 198.19.103.0/24")
	}) {
		t.Fatalf("the policies without SA are not in XFRM:\n%s", xfrm())
	}
	for _, dst := range []string{"198.19.101.1", "198.19.103.1"} {
		if err := ping(nsA, "198.19.202.1", dst); err == nil {
			t.Errorf("%s was reached in the clear with no SA:\n%s", dst, xfrm())
		}
	}
	if st := dp.Statistics(); st.OutNoStates == 0 {
		t.Errorf("XFRM dropped nothing for want of an SA (the template would be optional): %+v", st)
	}
	x := xfrm()
	// The peer's address in the template, the source left to the kernel.
	if !regexp.MustCompile(`(?s)dst 198\.19\.101\.0/24\s+dir out priority \d+.*?tmpl src 0\.0\.0\.0 dst 198\.18\.90\.2\s+proto esp reqid \d+ mode tunnel\n`).MatchString(x) ||
		!regexp.MustCompile(`(?s)dst 198\.19\.103\.0/24\s+dir out action block`).MatchString(x) {
		t.Errorf("XFRM policies:\n%s", x)
	}
}
