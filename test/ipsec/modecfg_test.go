package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestModeConfigSrcNAT is the reference's "RoadWarrior client with NAT": the client
// routerd receives a mode config address, its mode config's src-address-list (set once
// the tunnel is up) makes the
// firewall engine add a dynamic src-nat rule ("ipsec mode-config", flag D), and a host on
// the client's LAN reaches the office through the tunnel with that address. The NAT
// bypass rules for IKE and the policies come with it; all go with the SA. The office's
// identity has notrack-chain=prerouting: raw notrack rules for its generated policy.
func TestModeConfigSrcNAT(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	nsS, nsC, nsL := iketest.NS(t, "rws"), iketest.NS(t, "rwc"), iketest.NS(t, "rwl")
	iketest.Veth(t, nsS, "ether1", "", nsC, "ether1", "")
	iketest.Veth(t, nsC, "ether2", "", nsL, "eth0", "198.19.88.2/24")
	iketest.Sh(t, "ip", "-n", nsL, "route", "add", "default", "via", "198.19.88.1")
	iketest.Sh(t, "ip", "-n", nsS, "addr", "add", "198.19.55.1/24", "dev", "lo")
	server, client := startDaemon(t, nsS), startDaemon(t, nsC)
	server.script(`/ip address add address=198.18.92.1/24 interface=ether1
/ip ipsec profile add dh-group=ecp256 enc-algorithm=aes-256 name=rw
/ip ipsec proposal add auth-algorithms=null enc-algorithms=aes-128-gcm name=rw pfs-group=none
/ip ipsec mode-config add address=198.19.77.254 address-prefix-length=32 name=rw split-include=198.19.55.0/24 system-dns=no
/ip ipsec policy group add name=rw
/ip ipsec policy add dst-address=198.19.77.0/24 group=rw proposal=rw src-address=198.19.55.0/24 template=yes
/ip ipsec peer add exchange-mode=ike2 name=rw passive=yes profile=rw
/ip ipsec identity add generate-policy=port-strict mode-config=rw peer=rw policy-template-group=rw secret=rw-secret notrack-chain=prerouting
`)
	client.script(`/ip address add address=198.18.92.2/24 interface=ether1
/ip address add address=198.19.88.1/24 interface=ether2
/ip firewall address-list add address=198.19.88.0/24 list=local-RW
/ip ipsec profile add dh-group=ecp256 enc-algorithm=aes-256 name=rw
/ip ipsec proposal add auth-algorithms=null enc-algorithms=aes-128-gcm name=rw pfs-group=none
/ip ipsec policy group add name=rw
/ip ipsec policy add dst-address=198.19.55.0/24 group=rw proposal=rw src-address=198.19.77.0/24 template=yes
/ip ipsec peer add address=198.18.92.1 exchange-mode=ike2 name=office profile=rw
/ip ipsec identity add generate-policy=port-strict mode-config=request-only peer=office policy-template-group=rw secret=rw-secret
`)
	// src-address-list is set on the live tunnel (QA: the rule came only after
	// kill-connections).
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(client.script("/ip ipsec active-peers print detail\n"), "198.19.77.254")
	}) {
		t.Fatalf("no tunnel:\n%s", client.script("/ip ipsec active-peers print detail\n"))
	}
	client.script(`/ip ipsec mode-config set [ find name="request-only" ] src-address-list=local-RW` + "\n")
	var nat string
	if !iketest.WaitFor(20*time.Second, func() bool {
		nat = client.script("/ip firewall nat print\n")
		return strings.Contains(nat, "to-addresses=198.19.77.254") && strings.Contains(nat, "src-address-list=local-RW")
	}) {
		t.Fatalf("no dynamic src-nat rule:\n%s\n%s", nat, client.script("/ip ipsec active-peers print detail\n/ip ipsec policy print detail\n"))
	}
	if !strings.Contains(nat, "ipsec mode-config") || !strings.Contains(nat, "dst-address=198.19.55.0/24") || !strings.Contains(nat, "D") {
		t.Errorf("dynamic src-nat rule not as the reference shows it:\n%s", nat)
	}
	if !iketest.WaitFor(20*time.Second, func() bool {
		return iketest.In(nsL, "ping", "-c", "1", "-W", "1", "198.19.55.1").Run() == nil
	}) {
		t.Fatalf("the LAN host does not reach the office through the tunnel:\n%s\n%s", nat,
			client.script("/ip ipsec statistics print\n/ip ipsec installed-sa print\n"))
	}
	// Only the mode config address is in the office's policy: the ping crossed NATed.
	// The office's identity has notrack-chain: raw rules for its generated policy.
	if raw := server.script("/ip firewall raw print\n"); !strings.Contains(raw, "action=notrack") ||
		!strings.Contains(raw, "src-address=198.19.77.254/32") || !strings.Contains(raw, "prerouting") {
		t.Errorf("no notrack rules for the generated policy:\n%s", raw)
	}
	// With the SA gone, so is the rule.
	client.script("/ip ipsec peer disable office\n")
	if !iketest.WaitFor(20*time.Second, func() bool {
		return !strings.Contains(client.script("/ip firewall nat print\n"), "198.19.77.254")
	}) {
		t.Fatalf("dynamic src-nat rule stayed after the SA went:\n%s", client.script("/ip firewall nat print\n"))
	}
}
