package esp

import (
	"context"
	"net/netip"
	"strings"
	"testing"
)

// TestBypassTooBig (issue 12 low): a packet a full tunnel steers into the ESP device but
// no policy wants leaves in the clear through the bypass sockets; when the link it then
// leaves by has a smaller MTU than the device, the kernel refused it (EMSGSIZE) and it
// was dropped, the sender never told. Now, as from the kernel's forwarding path, an
// IPv4 packet without DF is fragmented, and the sender of one with DF, or of an IPv6
// one, gets ICMP fragmentation needed / ICMPv6 packet too big with the link's MTU, and
// learns it (its route cache shows mtu 1280). Real senders in a namespace c behind a;
// the destination is behind namespace d, across a link of MTU 1280.
func TestBypassTooBig(t *testing.T) {
	r := newRig(t)
	a := startNode(t, r.a)
	ctx := context.Background()
	ipa, ipb := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	lan4, all4 := netip.MustParsePrefix("198.19.1.0/24"), netip.MustParsePrefix("0.0.0.0/0")
	lan6, all6 := netip.MustParsePrefix("2001:db8:1::/64"), netip.MustParsePrefix("::/0")
	link := func(ns, name, addr4, peer4, addr6, peer6, mtu string) {
		t.Helper()
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { run(t, "ip", "netns", "del", ns) })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
		run(t, "ip", "link", "add", name, "netns", r.a, "mtu", mtu, "type", "veth", "peer", "name", "eth0", "netns", ns, "mtu", mtu)
		run(t, "ip", "-n", r.a, "addr", "add", peer4+"/24", "dev", name)
		run(t, "ip", "-n", r.a, "-6", "addr", "add", peer6+"/64", "dev", name, "nodad")
		run(t, "ip", "-n", ns, "addr", "add", addr4+"/24", "dev", "eth0")
		run(t, "ip", "-n", ns, "-6", "addr", "add", addr6+"/64", "dev", "eth0", "nodad")
		run(t, "ip", "-n", r.a, "link", "set", name, "up")
		run(t, "ip", "-n", ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", ns, "route", "add", "default", "via", peer4)
		run(t, "ip", "-n", ns, "-6", "route", "add", "default", "via", peer6)
	}
	c, d := r.a+"c", r.a+"d"
	link(c, "vc"+c, "198.18.77.2", "198.18.77.1", "2001:db8:c::2", "2001:db8:c::1", "1500")
	link(d, "vd"+c, "198.18.78.2", "198.18.78.1", "2001:db8:d::2", "2001:db8:d::1", "1280")
	// The destination is beyond d, not on a connected network (the full tunnel throws
	// those), so the full tunnel's route takes it into the ESP device.
	run(t, "ip", "-n", d, "addr", "add", "198.19.9.1/32", "dev", "lo")
	run(t, "ip", "-n", d, "-6", "addr", "add", "2001:db8:9::1/128", "dev", "lo", "nodad")
	run(t, "ip", "-n", r.a, "route", "add", "198.19.9.0/24", "via", "198.18.78.2", "dev", "vd"+c)
	run(t, "ip", "-n", r.a, "-6", "route", "add", "2001:db8:9::/64", "via", "2001:db8:d::2", "dev", "vd"+c)
	run(t, "ip", "netns", "exec", r.a, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1")
	// Full tunnels (no SA needed: the steering is what matters, and the device keeps its
	// configured MTU, 1400, above the 1280 of d's link).
	if err := a.dp.SetPolicies(ctx, []Policy{
		{ID: 1, Src: lan4, Dst: all4, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 7},
		{ID: 2, Src: all4, Dst: lan4, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 7},
		{ID: 3, Src: lan6, Dst: all6, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 8},
		{ID: 4, Src: all6, Dst: lan6, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 8},
	}); err != nil {
		t.Fatal(err)
	}
	tun := DefaultConfig().TunName
	for _, dst := range []string{"198.19.9.1", "2001:db8:9::1"} {
		if out := run(t, "ip", "-n", r.a, "route", "get", dst, "from", map[bool]string{true: "2001:db8:c::2", false: "198.18.77.2"}[strings.Contains(dst, ":")], "iif", "vc"+c); !strings.Contains(out, "dev "+tun+" ") {
			t.Fatalf("the full tunnel's route does not take c's traffic to %s, nothing to test:\n%s", dst, out)
		}
	}
	ping := func(args ...string) string {
		t.Helper()
		out, _ := nsExec(t, c, append([]string{"ping", "-c", "3", "-i", "0.3", "-W", "2"}, args...)...)
		return out
	}
	st0 := a.dp.Statistics()

	// IPv4 without DF: fragmented to d's link, the echo crosses.
	if out := ping("-M", "dont", "-s", "1300", "198.19.9.1"); !strings.Contains(out, " 3 received") {
		t.Errorf("IPv4 without DF above the link's MTU: want it fragmented and answered:\n%s\n%+v", out, a.dp.Statistics())
	}
	// IPv4 with DF: ICMP fragmentation needed, mtu 1280, which the sender keeps.
	out := ping("-M", "do", "-s", "1300", "198.19.9.1")
	if !strings.Contains(out, "mtu = 1280") {
		t.Errorf("IPv4 with DF above the link's MTU: want ICMP fragmentation needed (mtu = 1280):\n%s", out)
	}
	if rt := run(t, "ip", "-n", c, "route", "get", "198.19.9.1"); !strings.Contains(rt, "mtu 1280") {
		t.Errorf("the IPv4 sender did not learn the path's MTU:\n%s", rt)
	}
	// IPv6: ICMPv6 packet too big, mtu 1280; the sender then fragments and gets through.
	out = ping("-6", "-s", "1300", "2001:db8:9::1")
	if !strings.Contains(out, "mtu=1280") || !strings.Contains(out, "bytes from 2001:db8:9::1") {
		t.Errorf("IPv6 above the link's MTU: want ICMPv6 packet too big (mtu=1280), then echoes:\n%s", out)
	}
	if rt := run(t, "ip", "-n", c, "-6", "route", "get", "2001:db8:9::1"); !strings.Contains(rt, "mtu 1280") {
		t.Errorf("the IPv6 sender did not learn the path's MTU:\n%s", rt)
	}
	if st := a.dp.Statistics(); st.OutErrors != st0.OutErrors {
		t.Errorf("out-errors %d -> %d: a too-big packet was counted as an error", st0.OutErrors, st.OutErrors)
	}
}
