package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestFullTunnelClientFlush: a routerd road-warrior client that gets split-include
// 0.0.0.0/0 (a full tunnel) from a routerd responder keeps its connected network and its
// peer in the clear while everything else is tunnelled; `/ip ipsec installed-sa flush`
// on the client renegotiates the CHILD SA (and its generated policy) instead of leaving
// the tunnel dead (QA [ipsec] findings), and so does a flush on the server, whose
// CHILD SA delete took the client's generated policy along with the SA and left the
// tunnel dead for the IKE SA's life (qa12).
func TestFullTunnelClientFlush(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	nsS, nsC := iketest.NS(t, "fts"), iketest.NS(t, "ftc")
	iketest.Veth(t, nsS, "ether1", "", nsC, "ether1", "")
	iketest.Sh(t, "ip", "-n", nsS, "addr", "add", "198.19.55.1/24", "dev", "lo")
	server, client := startDaemon(t, nsS), startDaemon(t, nsC)
	server.script(`/ip address add address=198.18.93.1/24 interface=ether1
/ip ipsec profile add dh-group=ecp256 enc-algorithm=aes-256 name=rw
/ip ipsec proposal add auth-algorithms=null enc-algorithms=aes-128-gcm name=rw pfs-group=none
/ip ipsec mode-config add address=198.19.77.100 address-prefix-length=32 name=rw split-include=0.0.0.0/0 system-dns=no
/ip ipsec policy group add name=rw
/ip ipsec policy add dst-address=198.19.77.0/24 group=rw proposal=rw src-address=0.0.0.0/0 template=yes
/ip ipsec peer add exchange-mode=ike2 name=rw passive=yes profile=rw
/ip ipsec identity add generate-policy=port-strict mode-config=rw peer=rw policy-template-group=rw secret=rw-secret
`)
	client.script(`/ip address add address=198.18.93.2/24 interface=ether1
/ip ipsec profile add dh-group=ecp256 enc-algorithm=aes-256 name=rw
/ip ipsec proposal add auth-algorithms=null enc-algorithms=aes-128-gcm name=rw pfs-group=none
/ip ipsec policy group add name=rw
/ip ipsec policy add dst-address=0.0.0.0/0 group=rw proposal=rw src-address=198.19.77.0/24 template=yes
/ip ipsec peer add address=198.18.93.1 exchange-mode=ike2 name=office profile=rw
/ip ipsec identity add generate-policy=port-strict mode-config=request-only peer=office policy-template-group=rw secret=rw-secret
`)
	tunnelPing := func() bool {
		return iketest.In(nsC, "ping", "-c", "1", "-W", "1", "198.19.55.1").Run() == nil
	}
	diag := func() string {
		return client.script("/ip ipsec active-peers print detail\n/ip ipsec policy print detail\n/ip ipsec installed-sa print\n/log print\n") +
			iketest.Sh(t, "ip", "-n", nsC, "route", "show", "table", "220")
	}
	if !iketest.WaitFor(30*time.Second, tunnelPing) {
		t.Fatalf("no full tunnel:\n%s", diag())
	}
	if pol := client.script("/ip ipsec policy print detail\n"); !strings.Contains(pol, "dst-address=0.0.0.0/0") {
		t.Fatalf("the client's generated policy is not the full tunnel:\n%s", pol)
	}
	// The peer and the connected network stay outside the tunnel.
	if out := iketest.Sh(t, "ip", "-n", nsC, "route", "get", "198.18.93.1"); !strings.Contains(out, "dev ether1") {
		t.Fatalf("the peer is routed into the tunnel:\n%s\n%s", out, diag())
	}
	if out := iketest.Sh(t, "ip", "-n", nsC, "route", "get", "198.18.93.77"); !strings.Contains(out, "dev ether1") {
		t.Fatalf("the connected network is routed into the tunnel:\n%s\n%s", out, diag())
	}
	if out := iketest.Sh(t, "ip", "-n", nsC, "route", "get", "198.19.55.1"); !strings.Contains(out, "src 198.19.77.100") {
		t.Fatalf("tunnelled traffic not from the mode config address:\n%s", out)
	}
	if err := iketest.In(nsC, "ping", "-c", "1", "-W", "2", "198.18.93.1").Run(); err != nil {
		t.Fatalf("the client cannot ping its peer in the clear:\n%s", diag())
	}

	before := client.script("/ip ipsec installed-sa print\n")
	client.script("/ip ipsec installed-sa flush\n")
	if !iketest.WaitFor(30*time.Second, func() bool {
		now := client.script("/ip ipsec installed-sa print\n")
		return now != before && strings.Contains(now, "198.18.93.1") && tunnelPing()
	}) {
		t.Fatalf("the tunnel did not come back after installed-sa flush:\n%s", diag())
	}
	before = client.script("/ip ipsec installed-sa print\n")
	server.script("/ip ipsec installed-sa flush\n")
	if !iketest.WaitFor(30*time.Second, func() bool {
		now := client.script("/ip ipsec installed-sa print\n")
		return now != before && strings.Contains(now, "198.18.93.1") && tunnelPing()
	}) {
		t.Fatalf("the tunnel did not come back after the server's installed-sa flush:\n%s", diag())
	}
}
