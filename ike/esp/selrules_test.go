package esp

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// TestSelectorPolicyRules: a transport policy that selects a protocol (a tunnel's
// ipsec-secret: gre between the two hosts) and one that selects a port steer only their
// own packets into the TUN device. The kernel's resolution of a gateway at that peer, and
// other traffic to it, use the real interface (QA [ipsec] finding: a static route via the
// peer became "dev ipsec0" and was blackholed); outer packets (the bypass mark) skip the
// rules; the rules and routes go with the policies.
func TestSelectorPolicyRules(t *testing.T) {
	r := newRig(t)
	a := startNode(t, r.a)
	ctx := context.Background()
	ipa, ipb := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	hostA, hostB := netip.PrefixFrom(ipa, 32), netip.PrefixFrom(ipb, 32)
	lanB := netip.MustParsePrefix("198.19.7.0/24")
	// Protocol icmp stands for gre here: the kernel's route get takes tcp, udp and icmp
	// only (test/ipsec TestIPsecSecretRouteViaPeer runs the tunnel's own).
	pols := []Policy{
		{ID: 1, Src: hostA, Dst: hostB, Protocol: 1, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTransport, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 7},
		{ID: 1, Src: hostB, Dst: hostA, Protocol: 1, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTransport, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 7},
		// Not from this host: the rule keeps the source selector.
		{ID: 2, Src: netip.MustParsePrefix("198.19.5.0/24"), Dst: lanB, Protocol: 17, DstPort: 5000, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 8},
	}
	if err := a.dp.SetPolicies(ctx, pols); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "-n", r.a, "route", "add", lanB.String(), "via", "198.18.0.2")
	run(t, "ip", "netns", "exec", r.a, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	tun := DefaultConfig().TunName
	get := func(args ...string) string {
		return run(t, append([]string{"ip", "-n", r.a, "route", "get"}, args...)...)
	}
	via := func(want string, args ...string) {
		t.Helper()
		if out := get(args...); !strings.Contains(out, "dev "+want+" ") {
			t.Errorf("route get %s: want dev %s, got\n%s\nrules:\n%s\ntable %d:\n%s", strings.Join(args, " "), want, out,
				run(t, "ip", "-n", r.a, "rule"), DefaultConfig().SelectorTable(),
				run(t, "ip", "-n", r.a, "route", "show", "table", fmt.Sprint(DefaultConfig().SelectorTable())))
		}
	}
	mark := fmt.Sprintf("0x%x", DefaultConfig().BypassMark)
	via(tun, "198.18.0.2", "ipproto", "icmp")                  // the policy's own packets
	via("eth0", "198.18.0.2")                                  // anything else to the peer
	via("eth0", "198.18.0.2", "ipproto", "udp")                // its other protocols
	via("eth0", "198.18.0.2", "ipproto", "icmp", "mark", mark) // the outer packets
	via(tun, "198.19.7.9", "from", "198.19.5.3", "iif", "eth0", "ipproto", "udp", "dport", "5000")
	via("eth0", "198.19.7.9", "from", "198.19.5.3", "iif", "eth0", "ipproto", "udp", "dport", "5001")
	via("eth0", "198.19.7.9", "from", "198.19.6.3", "iif", "eth0", "ipproto", "udp", "dport", "5000")

	// A static route whose gateway is the peer resolves through the real interface.
	run(t, "ip", "-n", r.a, "route", "add", "198.19.244.0/24", "via", "198.18.0.2")
	if out := run(t, "ip", "-n", r.a, "route", "show", "198.19.244.0/24"); !strings.Contains(out, "dev eth0") {
		t.Errorf("route via the peer: %s", out)
	}

	// A second pass changes nothing; removing the policies removes rules and routes.
	if err := a.dp.SetPolicies(ctx, pols); err != nil {
		t.Fatal(err)
	}
	if err := a.dp.SetPolicies(ctx, nil); err != nil {
		t.Fatal(err)
	}
	via("eth0", "198.18.0.2", "ipproto", "icmp")
	rules := run(t, "ip", "-n", r.a, "rule")
	if strings.Contains(rules, fmt.Sprintf("lookup %d", DefaultConfig().SelectorTable())) {
		t.Errorf("selector rules stayed:\n%s", rules)
	}
	a.dp.Close()
	if rules := run(t, "ip", "-n", r.a, "rule"); strings.Contains(rules, "goto") || strings.Contains(rules, "lookup 220") {
		t.Errorf("rules stayed after Close:\n%s", rules)
	}
}
