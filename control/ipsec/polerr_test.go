package ipsec

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/esp"
	"github.com/routerd/routerd/ike/iketest"
)

// TestRouteRefusedMarksItsPolicy: a policy whose steering route the kernel refuses (its
// source address is still tentative) is the only one marked invalid, with a readable
// reason (QA: every policy was, each with the same Go struct dump of the route). The
// refusal is logged once while it lasts, not on every retry (QA: the same warning every
// 2 s), and its end once.
func TestRouteRefusedMarksItsPolicy(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "iprr")
	// A port whose other end is down: its IPv6 address stays tentative (no DAD).
	iketest.Sh(t, "ip", "-n", ns, "link", "add", "wan", "type", "veth", "peer", "name", "wanp")
	iketest.Sh(t, "ip", "-n", ns, "addr", "add", "198.18.93.1/24", "dev", "wan")
	iketest.Sh(t, "ip", "-n", ns, "link", "add", "lan", "type", "veth", "peer", "name", "lanp")
	iketest.Sh(t, "ip", "-n", ns, "addr", "add", "2001:db8:201::1/64", "dev", "lan")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "wan", "up")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "wanp", "up")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "lan", "up")
	lb := &logBuf{t: t}
	r := startRouterTo(t, ns, true, lb)
	r.run(t, `/ip ipsec peer add name=p address=198.18.93.2/32 local-address=198.18.93.1 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec policy add src-address=198.19.93.0/24 dst-address=198.19.94.0/24 tunnel=yes peer=p
/ip ipsec policy add src-address=2001:db8:201::/64 dst-address=2001:db8:101::/64 tunnel=yes peer=p`)
	var v4, v6 string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r.e.Reconcile(t.Context())
		v4 = r.run(t, "/ip ipsec policy print detail where src-address=198.19.93.0/24")
		v6 = r.run(t, "/ip ipsec policy print detail where src-address=2001:db8:201::/64")
		if strings.Contains(v6, "status=") {
			break
		}
	}
	if !strings.Contains(v6, "source address 2001:db8:201::1 is not usable yet (tentative)") ||
		strings.Contains(v6, "Ifindex") || !regexp.MustCompile(`(?m)^\s*0 I\s`).MatchString(v6) {
		t.Errorf("policy whose route was refused:\n%s", v6)
	}
	if strings.Contains(v4, "status=") || strings.Contains(v4, "not applied") {
		t.Errorf("the other policy is marked too:\n%s", v4)
	}
	// More passes and two retry ticks meet the same refusal: still logged once.
	for range 5 {
		r.e.Reconcile(t.Context())
	}
	time.Sleep(4500 * time.Millisecond)
	if n := strings.Count(lb.String(), "cannot install policies"); n != 1 {
		t.Errorf("the same refusal logged %d times, want once:\n%s", n, lb.String())
	}
	// Once the address is usable the route is tried again (the engine's retry tick, no
	// configuration change): the policy is no longer invalid.
	iketest.Sh(t, "ip", "-n", ns, "addr", "del", "2001:db8:201::1/64", "dev", "lan")
	iketest.Sh(t, "ip", "-n", ns, "addr", "add", "2001:db8:201::1/64", "dev", "lan", "nodad")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		var b strings.Builder
		if err := r.in.Run(t.Context(), r.con, "/ip ipsec policy print detail where src-address=2001:db8:201::/64", &b); err != nil {
			t.Fatal(err)
		}
		if v6 = b.String(); !strings.Contains(v6, "status=") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still invalid with the source address usable:\n%s\n%s", v6,
				iketest.Sh(t, "ip", "-n", ns, "-6", "route", "show", "table", "220"))
		}
	}
	if out := iketest.Sh(t, "ip", "-n", ns, "-6", "route", "show", "table", "220"); !strings.Contains(out, "2001:db8:101::/64") {
		t.Errorf("steering route not added:\n%s", out)
	}
	if logs := lb.String(); strings.Count(logs, "cannot install policies") != 1 || strings.Count(logs, "refusal is over") != 1 {
		t.Errorf("want one refusal and one end of it logged:\n%s", logs)
	}
}

// TestKernelPolicyRefusedMarksItsPolicy: with the kernel's XFRM data path (forced: this
// kernel has XFRM policies but no ESP), a policy the kernel refuses is the only one
// marked invalid, with the kernel path's reason; before, the XFRM errors named no
// policy and every policy showed them. The refusal is real here: an outbound level=use
// policy in tunnel mode (an optional tunnel template, refused since Linux 6.4).
func TestKernelPolicyRefusedMarksItsPolicy(t *testing.T) {
	iketest.NeedRoot(t, "ip")
	ns := iketest.NS(t, "ipkp")
	iketest.Sh(t, "ip", "-n", ns, "link", "add", "wan", "type", "veth", "peer", "name", "wanp")
	iketest.Sh(t, "ip", "-n", ns, "addr", "add", "198.18.93.1/24", "dev", "wan")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "wan", "up")
	iketest.Sh(t, "ip", "-n", ns, "link", "set", "wanp", "up")
	r := startRouterWith(t, ns, testLog{t, ns}, func(o *Options) { o.ESP.Force = esp.KindKernel })
	r.run(t, `/ip ipsec peer add name=p address=198.18.93.2/32 local-address=198.18.93.1 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec policy add src-address=198.19.93.0/24 dst-address=198.19.94.0/24 tunnel=yes peer=p comment=require
/ip ipsec policy add src-address=198.19.95.0/24 dst-address=198.19.96.0/24 tunnel=yes peer=p level=use comment=use`)
	var use, req string
	if !iketest.WaitFor(10*time.Second, func() bool {
		r.e.Reconcile(t.Context())
		use = r.run(t, "/ip ipsec policy print detail where comment=use")
		req = r.run(t, "/ip ipsec policy print detail where comment=require")
		return strings.Contains(use, "status=")
	}) {
		t.Fatalf("the refused policy is not marked:\n%s", use)
	}
	if !strings.Contains(strings.Join(strings.Fields(use), " "), `status="not applied: esp: xfrm policy 198.19.95.0/24 -> 198.19.96.0/24 (out): the kernel refuses level=use in tunnel mode`) ||
		!regexp.MustCompile(`(?m)^\s*\d+ I\s`).MatchString(use) {
		t.Errorf("refused policy:\n%s", use)
	}
	if strings.Contains(req, "status=") || regexp.MustCompile(`(?m)^\s*\d+ I\s`).MatchString(req) {
		t.Errorf("the other policy is marked too:\n%s", req)
	}
}
