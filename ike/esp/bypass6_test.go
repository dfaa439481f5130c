package esp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// TestFullTunnelIPv6Bypass: an IPv6 full-tunnel policy (a LAN /64 to ::/0) steers every
// IPv6 packet of the host into the TUN, and the packets no policy wants (the router's
// own from another source, and what it forwards for another LAN) must leave in the clear
// as with IPv4, not be dropped as out-policy-errors (issue 12: the bypass had only an
// IPv4 socket), while the /64's own traffic still goes through the tunnel.
func TestFullTunnelIPv6Bypass(t *testing.T) {
	r := newRig(t)
	a, b := startNode(t, r.a), startNode(t, r.b)
	ipa, ipb := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	ctx := context.Background()
	install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel, v6inner: true})
	lan := netip.MustParsePrefix("2001:db8:1::/64")
	all := netip.MustParsePrefix("::/0")
	if err := a.dp.SetPolicies(ctx, []Policy{
		{ID: 1, Src: lan, Dst: all, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 7},
		{ID: 2, Src: all, Dst: lan, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 7},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.SetPolicies(ctx, []Policy{
		{ID: 1, Src: all, Dst: lan, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 7},
		{ID: 2, Src: lan, Dst: all, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 7},
	}); err != nil {
		t.Fatal(err)
	}
	// A destination beyond b (not connected to a): the full tunnel's route takes it.
	run(t, "ip", "-n", r.b, "-6", "addr", "add", "2001:db8:99::1/128", "dev", "lo", "nodad")
	run(t, "ip", "-n", r.a, "-6", "route", "add", "2001:db8:99::/64", "via", "2001:db8:ff::2")
	// A second LAN behind a, in namespace c, which a forwards for (no policy covers it).
	c := r.a + "c"
	run(t, "ip", "netns", "add", c)
	t.Cleanup(func() { run(t, "ip", "netns", "del", c) })
	run(t, "ip", "-n", c, "link", "set", "lo", "up")
	run(t, "ip", "link", "add", "vc"+c, "netns", r.a, "type", "veth", "peer", "name", "eth0", "netns", c)
	run(t, "ip", "-n", r.a, "-6", "addr", "add", "2001:db8:c::1/64", "dev", "vc"+c, "nodad")
	run(t, "ip", "-n", c, "-6", "addr", "add", "2001:db8:c::2/64", "dev", "eth0", "nodad")
	run(t, "ip", "-n", r.a, "link", "set", "vc"+c, "up")
	run(t, "ip", "-n", c, "link", "set", "eth0", "up")
	run(t, "ip", "-n", c, "-6", "route", "add", "default", "via", "2001:db8:c::1")
	run(t, "ip", "netns", "exec", r.a, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
	run(t, "ip", "-n", r.b, "-6", "route", "add", "2001:db8:c::/64", "via", "2001:db8:ff::1")

	tun := DefaultConfig().TunName
	if out := run(t, "ip", "-n", r.a, "-6", "route", "get", "2001:db8:99::1", "from", "2001:db8:ff::1"); !strings.Contains(out, "dev "+tun+" ") {
		t.Fatalf("the ::/0 policy's route does not take the router's other IPv6 traffic, nothing to test:\n%s", out)
	}
	ping := func(ns string, args ...string) {
		t.Helper()
		out, err := nsExec(t, ns, append([]string{"ping", "-6", "-c", "3", "-i", "0.2", "-W", "2"}, args...)...)
		if err != nil {
			t.Fatalf("ping %v from %s: %v\n%s\na: %+v\ntable 220:\n%s", args, ns, err, out, a.dp.Statistics(),
				run(t, "ip", "-n", r.a, "-6", "route", "show", "table", "220"))
		}
	}
	out := Key{SPI: 0x1000, Dst: ipb}
	sent := func() uint64 {
		t.Helper()
		c, err := a.dp.Counters(out)
		if err != nil {
			t.Fatal(err)
		}
		return c.Packets
	}
	st0, n0 := a.dp.Statistics(), sent()
	ping(r.a, "-I", "2001:db8:1::1", "2001:db8:99::1") // the /64's own: through the tunnel
	n1 := sent()
	if n1 < n0+3 {
		t.Fatalf("the tunnel did not carry the /64's traffic: outbound SA packets %d -> %d", n0, n1)
	}
	ping(r.a, "-I", "2001:db8:ff::1", "2001:db8:99::1") // the router's own, other source: in the clear
	ping(c, "2001:db8:99::1")                           // forwarded for another LAN: in the clear
	st2 := a.dp.Statistics()
	if st2.OutPolicyErrors != st0.OutPolicyErrors {
		t.Errorf("out-policy-errors %d -> %d: packets of no policy were dropped", st0.OutPolicyErrors, st2.OutPolicyErrors)
	}
	if n2 := sent(); n2 != n1 {
		t.Errorf("traffic of no policy went into the tunnel: outbound SA packets %d -> %d", n1, n2)
	}
}
