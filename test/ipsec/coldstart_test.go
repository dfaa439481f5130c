package ipsec_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
	"github.com/routerd/routerd/test/testbin"
)

// TestRequirePolicyNoCleartextAtColdStart: on a host that boots (nothing of routerd's left
// in the kernel: no backstops, no rules, no addresses, bridges or routes), a level=require
// policy's traffic does not leave in the clear while routerd starts. The engines apply
// addresses and the default route before the IPsec engine's first pass; routerd installs
// the policies' backstops before any engine runs. The router itself pings the protected
// destination from the policy's source in a loop from before the start until it has
// settled and the unprotected destination answers (so the address and route the leak
// would take were there): the peer is passive and never answers, so any reply is a leak.
// qa12 counted 212 cleartext packets over 5.7 s.
func TestRequirePolicyNoCleartextAtColdStart(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	for _, tc := range []struct {
		name, dst string
		free      [2]string // a ping no policy protects: source and destination
	}{
		{"subnet", "198.19.101.0/24", [2]string{"198.19.202.1", "198.19.103.1"}},
		{"full-tunnel", "0.0.0.0/0", [2]string{"198.18.94.1", "198.19.103.1"}},
		// A full tunnel that selects a protocol (issue 12): ping is what it protects, and
		// the WAN address's ping, of the same protocol, is not its traffic.
		{"full-tunnel-protocol", "0.0.0.0/0 protocol=icmp", [2]string{"198.18.94.1", "198.19.103.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) { coldStartNoCleartext(t, tc.dst, tc.free) })
	}
}

func coldStartNoCleartext(t *testing.T, dst string, free [2]string) {
	nsA, nsB := iketest.NS(t, "csa"), iketest.NS(t, "csb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "wan", "198.18.94.2/24")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.101.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.103.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "198.19.202.0/24", "via", "198.18.94.1")
	a := startBin(t, nsA, filepath.Join(t.TempDir(), "data"))
	a.Script(`/interface bridge add name=lan protocol-mode=none
/ip address add address=198.18.94.1/24 interface=ether1
/ip address add address=198.19.202.1/24 interface=lan
/ip route add gateway=198.18.94.2
/ip ipsec peer add name=p address=198.18.94.2/32 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=p secret=thisisnotasecurepsk
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=` + dst + ` tunnel=yes peer=p level=require
`)
	a.Settle()
	a.Stop()
	// What a reboot leaves of it: nothing.
	for _, fam := range []string{"-4", "-6"} {
		for _, pref := range []string{"218", "219", "220", "221", "222", "223", "224"} {
			for iketest.In(nsA, "ip", fam, "rule", "del", "pref", pref).Run() == nil {
			}
		}
		for _, table := range []string{"220", "221", "222"} {
			// A table that was never made cannot be flushed (and has nothing to flush).
			iketest.In(nsA, "ip", fam, "route", "flush", "table", table).Run()
		}
	}
	iketest.Sh(t, "ip", "-n", nsA, "link", "del", "lan")
	iketest.Sh(t, "ip", "-n", nsA, "addr", "flush", "dev", "ether1")
	iketest.Sh(t, "ip", "-n", nsA, "-4", "route", "flush", "table", "main")
	ping := func(src, dst string) bool {
		return iketest.In(nsA, "ping", "-c", "1", "-W", "1", "-I", src, dst).Run() == nil
	}
	state := func() string {
		rules, _ := iketest.In(nsA, "ip", "rule").CombinedOutput()
		routes, _ := iketest.In(nsA, "ip", "route", "show", "table", "all").CombinedOutput()
		return string(rules) + "\n" + string(routes)
	}
	if ping(free[0], free[1]) {
		t.Fatalf("the reboot left the address and route in place:\n%s", state())
	}
	stop := testbin.Repeat(5*time.Millisecond, func() bool { return ping("198.19.202.1", "198.19.101.1") })
	if err := a.Start(); err != nil {
		stop()
		t.Fatal(err)
	}
	a.Settle()
	up := iketest.WaitFor(30*time.Second, func() bool { return ping(free[0], free[1]) })
	tries, leaks := stop()
	if !up {
		t.Fatalf("after the start the unprotected destination is not reachable:\n%s", state())
	}
	if leaks > 0 {
		t.Fatalf("the require policy's destination was reached in the clear %d times of %d during the start:\n%s", leaks, tries, state())
	}
	t.Logf("%d pings from the policy's source during the start, none answered", tries)
}
