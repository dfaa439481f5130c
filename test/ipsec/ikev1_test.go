package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSiteToSiteIKEv1Example runs the reference's "Site to Site IPsec (IKEv1) tunnel"
// on two routerd processes as written (exchange-mode left at its default, main), with
// its NAT bypass and raw notrack lines (in front of the masquerade rule the example
// assumes). Addresses are mapped into 198.18.0.0/15: the
// offices' public addresses 192.168.90.1 (site 1) and 192.168.80.1 (site 2) become
// 198.18.90.1 and 198.18.90.2 on one link, the office networks 10.1.202.0/24 and
// 10.1.101.0/24 become 198.19.202.0/24 and 198.19.101.0/24 on a bridge each.
func TestSiteToSiteIKEv1Example(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	nsA, nsB := iketest.NS(t, "ike1a"), iketest.NS(t, "ike1b")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "")
	site1, site2 := startDaemon(t, nsA), startDaemon(t, nsB)
	site1.script(`/ip address add address=198.18.90.1/24 interface=ether1
/interface bridge add name=office
/ip address add address=198.19.202.1/24 interface=office
/ip firewall nat add chain=srcnat action=masquerade out-interface=ether1
`)
	site2.script(`/ip address add address=198.18.90.2/24 interface=ether1
/interface bridge add name=office
/ip address add address=198.19.101.1/24 interface=office
/ip firewall nat add chain=srcnat action=masquerade out-interface=ether1
`)
	// Site 1 configuration, then site 2's, in the reference's order and words.
	site1.script(`/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-128 name=ike1-site2
/ip ipsec proposal
add enc-algorithms=aes-128-cbc name=ike1-site2 pfs-group=modp2048
/ip ipsec peer
add address=198.18.90.2/32 name=ike1-site2 profile=ike1-site2
/ip ipsec identity
add peer=ike1-site2 secret=thisisnotasecurepsk
/ip ipsec policy
add src-address=198.19.202.0/24 src-port=any dst-address=198.19.101.0/24 dst-port=any tunnel=yes action=encrypt proposal=ike1-site2 peer=ike1-site2
`)
	site2.script(`/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-128 name=ike1-site1
/ip ipsec proposal
add enc-algorithms=aes-128-cbc name=ike1-site1 pfs-group=modp2048
/ip ipsec peer
add address=198.18.90.1/32 name=ike1-site1 profile=ike1-site1
/ip ipsec identity
add peer=ike1-site1 secret=thisisnotasecurepsk
/ip ipsec policy
add src-address=198.19.101.0/24 src-port=any dst-address=198.19.202.0/24 dst-port=any tunnel=yes action=encrypt proposal=ike1-site1 peer=ike1-site1
`)
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(site1.script("/ip ipsec policy print\n"), "established") &&
			strings.Contains(site2.script("/ip ipsec policy print\n"), "established")
	}) {
		t.Fatalf("policies not established:\n%s\n%s", site1.script("/ip ipsec policy print detail\n"), site1.script("/ip ipsec active-peers print detail\n"))
	}
	// "At this point, the tunnel should be established and two IPsec Security
	// Associations should be created on both routers."
	for _, s := range []*daemon{site1, site2} {
		peers := s.script("/ip ipsec\nactive-peers print\n")
		if !strings.Contains(peers, "established") {
			t.Fatalf("active-peers:\n%s", peers)
		}
		sas := s.script("/ip ipsec\ninstalled-sa print detail\n")
		if strings.Count(sas, "spi=") != 2 || !strings.Contains(sas, "aes-cbc") {
			t.Fatalf("installed-sa:\n%s", sas)
		}
	}
	// NAT bypass as the reference adds it, before the masquerade rule both offices
	// have (the example's premise), and the raw notrack rules.
	site1.script(`/ip firewall nat
add chain=srcnat action=accept place-before=0 src-address=198.19.202.0/24 dst-address=198.19.101.0/24
/ip firewall raw
add action=notrack chain=prerouting src-address=198.19.101.0/24 dst-address=198.19.202.0/24
add action=notrack chain=prerouting src-address=198.19.202.0/24 dst-address=198.19.101.0/24
`)
	site2.script(`/ip firewall nat
add chain=srcnat action=accept place-before=0 src-address=198.19.101.0/24 dst-address=198.19.202.0/24
`)
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(nsA, "ping", "-c", "1", "-W", "1", "-I", "198.19.202.1", "198.19.101.1").Run() == nil
	}) {
		t.Fatalf("no ping across the IKEv1 tunnel:\n%s", site1.script("/ip ipsec statistics print\n"))
	}
	if err := iketest.In(nsB, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", "198.19.101.1", "198.19.202.1").Run(); err != nil {
		t.Fatalf("ping site 2 -> site 1: %v", err)
	}
	// And TCP across (the "ping and iperf3 across").
	if res, err := iketest.IperfTCP(t, nsB, "198.19.101.1", nsA, "198.19.202.1", 2); err != nil || res.Bytes == 0 {
		t.Fatalf("iperf3 site 1 -> site 2: %v (%d bytes)\n%s", err, res.Bytes, res.Output)
	} else {
		t.Logf("iperf3 site 1 -> site 2: %.0f Mbit/s", float64(res.Bytes)*8/2e6)
	}
	// The log says which exchange brought the SA up.
	if out := site1.script("/log print\n"); !strings.Contains(out, "phase 1 established") {
		t.Errorf("no phase 1 line in /log:\n%s", out)
	}
}

// TestIKEv1XAuthRoadWarrior: an IKEv1 road warrior between two routerd: the server
// (passive) checks /ip ipsec user and hands out a pool address with the split network
// through mode config; the client (pre-shared-key-xauth with username and password,
// mode-config=request-only) gets a dynamic policy (flag D) from its address to the split
// network and pings the server's office network from the address.
func TestIKEv1XAuthRoadWarrior(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	nsA, nsB := iketest.NS(t, "xaus"), iketest.NS(t, "xauc")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "")
	server, client := startDaemon(t, nsA), startDaemon(t, nsB)
	server.script(`/ip address add address=198.18.90.1/24 interface=ether1
/interface bridge add name=office
/ip address add address=198.19.101.1/24 interface=office
/ip pool add name=rw-pool ranges=198.19.77.10-198.19.77.20
/ip ipsec mode-config add name=rw address-pool=rw-pool split-include=198.19.101.0/24 system-dns=no static-dns=198.19.101.53
/ip ipsec user add name=user1 password=user1-pass
/ip ipsec peer add name=rw passive=yes
/ip ipsec identity add peer=rw auth-method=pre-shared-key-xauth secret=group-psk generate-policy=port-strict mode-config=rw
`)
	client.script(`/ip address add address=198.18.90.2/24 interface=ether1
/ip ipsec peer add name=gw address=198.18.90.1/32
/ip ipsec identity add peer=gw auth-method=pre-shared-key-xauth secret=group-psk username=user1 password=user1-pass generate-policy=port-strict mode-config=request-only
`)
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(client.script("/ip ipsec policy print where dynamic\n"), "198.19.101.0/24")
	}) {
		t.Fatalf("no dynamic policy on the client:\n%s\n%s", client.script("/ip ipsec policy print detail\n"), client.script("/ip ipsec active-peers print detail\n"))
	}
	pol := client.script("/ip ipsec policy print where dynamic\n")
	if !strings.Contains(pol, "198.19.77.10/32") || !strings.Contains(pol, "D") {
		t.Fatalf("client's dynamic policy:\n%s", pol)
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(nsB, "ping", "-c", "1", "-W", "1", "-I", "198.19.77.10", "198.19.101.1").Run() == nil
	}) {
		t.Fatalf("no ping from the mode config address:\n%s", client.script("/ip ipsec statistics print\n"))
	}
	// The DNS server the mode config handed out is the client's while the SA lives.
	dnsFollowsSA(t, client, "gw", "198.19.101.53")
}

// dnsFollowsSA: the initiator d shows the mode config's DNS server in /ip dns
// dynamic-servers; disabling its peer takes the server away.
func dnsFollowsSA(t *testing.T, d *daemon, peer, server string) {
	t.Helper()
	if !iketest.WaitFor(10*time.Second, func() bool {
		return strings.Contains(d.script("/ip dns print\n"), "dynamic-servers: "+server)
	}) {
		t.Fatalf("no dynamic DNS server:\n%s", d.script("/ip dns print\n"))
	}
	d.script("/ip ipsec peer disable " + peer + "\n")
	if !iketest.WaitFor(10*time.Second, func() bool {
		return !strings.Contains(d.script("/ip dns print\n"), server)
	}) {
		t.Fatalf("the DNS server stayed after the SA went:\n%s", d.script("/ip dns print\n"))
	}
}
