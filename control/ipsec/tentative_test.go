package ipsec

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIPv6TentativeSource (QA issue 12): an IPv6 site-to-site tunnel configured together
// with its WAN address, as at boot, with duplicate address detection on (three probes,
// so the address is tentative for about three seconds). The first initiation used to
// send from the link-local address the kernel picks while the global one is tentative,
// every send failed (EINVAL, logged at debug only) and the tunnel came up only after that
// attempt was given up, about a minute later. Now the initiator waits for a usable
// source, says so at warning level, and the tunnel is up within seconds of the address
// becoming usable.
func TestIPv6TentativeSource(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	nsA, nsB := iketest.NS(t, "ipta"), iketest.NS(t, "iptb")
	iketest.Sh(t, "ip", "-n", nsA, "link", "add", "wan", "type", "veth", "peer", "name", "wan", "netns", nsB)
	for _, ns := range []string{nsA, nsB} {
		iketest.Sh(t, "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.wan.accept_dad=1", "net.ipv6.conf.wan.dad_transmits=3")
		iketest.Sh(t, "ip", "-n", ns, "link", "set", "wan", "up")
	}
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "2001:db8:201::1/64", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "2001:db8:101::1/64", "dev", "lo")
	// Wait for the link-local addresses: the global ones come next, as at boot.
	for _, ns := range []string{nsA, nsB} {
		if !iketest.WaitFor(10*time.Second, func() bool {
			return strings.Contains(iketest.Sh(t, "ip", "-n", ns, "-6", "addr", "show", "dev", "wan", "scope", "link", "-tentative"), "fe80")
		}) {
			t.Fatalf("%s: no usable link-local address", ns)
		}
	}
	la, lb := &logBuf{t: t}, &logBuf{t: t}
	a, b := startRouterTo(t, nsA, true, la), startRouterTo(t, nsB, true, lb)
	conf := func(local, remote, src, dst string) string {
		return `/ip ipsec peer add address=` + remote + `/128 exchange-mode=ike2 name=p
/ip ipsec identity add peer=p secret=tentative-source-psk
/ip ipsec policy add src-address=` + src + ` dst-address=` + dst + ` tunnel=yes peer=p
`
	}
	iketest.Sh(t, "ip", "-n", nsA, "addr", "add", "2001:db8:120::1/64", "dev", "wan")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "2001:db8:120::2/64", "dev", "wan")
	a.run(t, conf("2001:db8:120::1", "2001:db8:120::2", "2001:db8:201::/64", "2001:db8:101::/64"))
	b.run(t, conf("2001:db8:120::2", "2001:db8:120::1", "2001:db8:101::/64", "2001:db8:201::/64"))
	usable := func(ns string) bool {
		out := iketest.Sh(t, "ip", "-n", ns, "-6", "addr", "show", "dev", "wan", "scope", "global")
		return strings.Contains(out, "2001:db8:120::") && !strings.Contains(out, "tentative")
	}
	if !iketest.WaitFor(20*time.Second, func() bool { return usable(nsA) && usable(nsB) }) {
		t.Fatalf("the WAN addresses stay tentative")
	}
	usableAt := time.Now()
	if !iketest.WaitFor(15*time.Second, func() bool {
		return strings.Contains(a.run(t, "/ip ipsec active-peers print"), "established")
	}) {
		t.Fatalf("no IKE SA 15 s after the addresses became usable:\n%s\n%s", a.run(t, "/ip ipsec active-peers print detail"), la.String())
	}
	t.Logf("IKE SA up %v after the addresses became usable", time.Since(usableAt).Round(100*time.Millisecond))
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(nsB, "ping", "-6", "-c", "1", "-W", "1", "-I", "2001:db8:101::1", "2001:db8:201::1").Run() == nil
	}) {
		t.Fatalf("2001:db8:101::1 -> 2001:db8:201::1 does not cross:\n%s", b.run(t, "/ip ipsec statistics print"))
	}
	// At least one side tried while its address was tentative, and said so (the
	// secret is not in the log).
	logs := la.String() + lb.String()
	if !strings.Contains(logs, `level=WARN msg="ipsec: waiting for a usable source address"`) {
		t.Errorf("no warning about the source address:\n%s", logs)
	}
	if strings.Contains(logs, "tentative-source-psk") {
		t.Errorf("the secret is in the log")
	}
}
