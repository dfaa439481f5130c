package esp

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFullTunnelKeepsLocal: a road-warrior client given split-include 0.0.0.0/0 (policy
// from its mode config address to 0.0.0.0/0) keeps its connected networks and its IKE
// peer out of the tunnel, while everything else is tunnelled (QA [ipsec] finding).
func TestFullTunnelKeepsLocal(t *testing.T) {
	r := newRig(t)
	a, b := startNode(t, r.a), startNode(t, r.b)
	install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTunnel})
	ipa, ipb := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	vip := netip.MustParsePrefix("198.19.1.1/32") // a's "mode config address", on lo
	all := netip.MustParsePrefix("0.0.0.0/0")
	ctx := context.Background()
	// The peer is reached through a router here, so its /32 is not inside a connected net.
	peer := netip.MustParseAddr("198.18.9.9")
	run(t, "ip", "-n", r.a, "route", "add", "198.18.9.0/24", "via", "198.18.0.2")
	run(t, "ip", "-n", r.a, "link", "add", "lan0", "type", "veth", "peer", "name", "lan1")
	run(t, "ip", "-n", r.a, "link", "set", "lan1", "up")
	run(t, "ip", "-n", r.a, "addr", "add", "198.18.5.1/24", "dev", "lan0")
	run(t, "ip", "-n", r.a, "link", "set", "lan0", "up")
	if err := a.dp.SetPolicies(ctx, []Policy{
		{ID: 1, Src: vip, Dst: all, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: peer, ReqID: 7},
		{ID: 1, Src: all, Dst: vip, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: peer, TunnelDst: ipa, ReqID: 7},
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.SetPolicies(ctx, []Policy{
		{ID: 1, Src: all, Dst: vip, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 7},
		{ID: 1, Src: vip, Dst: all, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 7},
	}); err != nil {
		t.Fatal(err)
	}
	tun := DefaultConfig().TunName
	routeVia := func(dst, want string) {
		t.Helper()
		out := run(t, "ip", "-n", r.a, "route", "get", dst)
		if !strings.Contains(out, "dev "+want+" ") {
			t.Fatalf("route to %s should leave by %s:\n%s\ntable 220:\n%s", dst, want, out,
				run(t, "ip", "-n", r.a, "route", "show", "table", "220"))
		}
	}
	routeVia("198.18.5.7", "lan0")  // its own LAN
	routeVia("198.18.0.2", "eth0")  // its gateway, connected
	routeVia(peer.String(), "eth0") // the IKE peer, through the gateway
	routeVia("198.19.2.1", tun)     // anything else: into the tunnel
	if out := run(t, "ip", "-n", r.a, "route", "get", "198.19.2.1"); !strings.Contains(out, "src 198.19.1.1") {
		t.Fatalf("tunnelled traffic should leave from the mode config address:\n%s", out)
	}
	pingOK(t, r.a, "198.19.2.1") // through the full tunnel
	pingOK(t, r.a, "198.18.0.2") // the gateway, in the clear (b only requires ESP from the vip)

	// A policy 0.0.0.0/0 <-> 0.0.0.0/0: the host still talks to itself, and the steering
	// route does not take 127.0.0.1 as the tunnel's source.
	if err := a.dp.SetPolicies(ctx, []Policy{
		{ID: 1, Src: all, Dst: all, Dir: DirOut, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipa, TunnelDst: ipb, ReqID: 7},
		{ID: 1, Src: all, Dst: all, Dir: DirIn, Action: ActionEncrypt, Level: LevelRequire, Mode: ModeTunnel, TunnelSrc: ipb, TunnelDst: ipa, ReqID: 7},
	}); err != nil {
		t.Fatal(err)
	}
	if out := run(t, "ip", "-n", r.a, "route", "show", "table", "220"); strings.Contains(out, "src 127.") {
		t.Fatalf("steering route with a loopback source:\n%s", out)
	}
	pingOK(t, r.a, "127.0.0.1")
	pingOK(t, r.a, "198.18.0.1")
	pingOK(t, r.a, "198.18.5.1")
	// An outbound discard 0.0.0.0/0 (out_discard chain) spares loopback as well.
	if err := a.dp.SetPolicies(ctx, []Policy{
		{ID: 1, Src: all, Dst: all, Dir: DirOut, Action: ActionDiscard},
	}); err != nil {
		t.Fatal(err)
	}
	pingOK(t, r.a, "127.0.0.1")
}

// TestFullTunnelKeepsLaterNetworks: under a full tunnel, a network that appears after the
// policies were set (an address added, a point-to-point peer) gets its throw without
// another SetPolicies, and loses it when the address goes (issue 12).
func TestFullTunnelKeepsLaterNetworks(t *testing.T) {
	r, _, _, _ := fullTunnelWithLAN(t)
	// eventually waits up to 3 s for table's throws to hold (or not) dst.
	eventually := func(table, dst string, want bool) {
		t.Helper()
		var out string
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			out = run(t, "ip", "-n", r.a, "route", "show", "table", table, "type", "throw")
			if strings.Contains(out, "throw "+dst+" ") == want {
				return
			}
		}
		t.Fatalf("table %s: throw %s wanted %v:\n%s", table, dst, want, out)
	}
	tun := DefaultConfig().TunName
	routeVia := func(dst, want string) {
		t.Helper()
		if out := run(t, "ip", "-n", r.a, "route", "get", dst); !strings.Contains(out, "dev "+want+" ") {
			t.Fatalf("route to %s should leave by %s:\n%s", dst, want, out)
		}
	}
	bt := strconv.Itoa(DefaultConfig().BackstopTable())
	routeVia("198.18.6.7", tun)
	run(t, "ip", "-n", r.a, "addr", "add", "198.18.6.1/24", "dev", "kl0")
	eventually("220", "198.18.6.0/24", true)
	eventually(bt, "198.18.6.0/24", true) // the full tunnel's backstop table keeps it too
	routeVia("198.18.6.7", "kl0")
	// A point-to-point address: its peer's /32 is the connected route.
	run(t, "ip", "-n", r.a, "addr", "add", "198.18.7.1", "peer", "198.18.7.2", "dev", "kl0")
	eventually("220", "198.18.7.2", true)
	routeVia("198.18.7.2", "kl0")

	run(t, "ip", "-n", r.a, "addr", "del", "198.18.6.1/24", "dev", "kl0")
	eventually("220", "198.18.6.0/24", false)
	eventually(bt, "198.18.6.0/24", false)
	run(t, "ip", "-n", r.a, "addr", "del", "198.18.7.1", "peer", "198.18.7.2", "dev", "kl0")
	eventually("220", "198.18.7.2", false)
	routeVia("198.18.6.7", tun)
	pingOK(t, r.a, "198.18.0.2") // what was there at SetPolicies is still thrown
}
