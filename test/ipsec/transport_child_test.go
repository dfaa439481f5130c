package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// transportRig: routerd (nsR, 198.18.52.1) as a passive generate-policy=port-strict
// responder under the default template, charon (nsS) behind an nftables masquerade in
// nsM (charon 198.18.53.2 -> 198.18.52.2 as routerd sees it): the QA's setup.
func transportRig(t *testing.T) (*router, *iketest.Charon, string) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "nft")
	nsR, nsM, nsS := iketest.NS(t, "ttr"), iketest.NS(t, "ttm"), iketest.NS(t, "tts")
	iketest.Veth(t, nsR, "wan", "198.18.52.1/24", nsM, "out", "198.18.52.2/24")
	iketest.Veth(t, nsM, "in", "198.18.53.1/24", nsS, "wan", "198.18.53.2/24")
	iketest.Sh(t, "ip", "-n", nsS, "route", "add", "default", "via", "198.18.53.1")
	masquerade(t, nsM, "out")
	iketest.Sh(t, "ip", "-n", nsR, "addr", "add", "198.19.101.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", nsS, "addr", "add", "198.19.72.1/24", "dev", "lo")
	r := startRouter(t, nsR)
	r.run(t, `/ip ipsec profile add name=natp dh-group=ecp256 enc-algorithm=aes-128 hash-algorithm=sha256
/ip ipsec proposal add name=natp enc-algorithms=aes-128-cbc auth-algorithms=sha256 pfs-group=none
/ip ipsec policy set [find default=yes] proposal=natp
/ip ipsec peer add name=nat1 address=198.18.52.2/32 exchange-mode=ike2 passive=yes profile=natp
/ip ipsec identity add peer=nat1 secret=a-long-test-psk generate-policy=port-strict remote-id=fqdn:s.example my-id=fqdn:r.example
`)
	c := iketest.StartCharon(t, nsS, swanPSK{local: "198.18.53.2", remote: "198.18.52.1", children: []swanChild{
		{name: "tun", localTS: "198.19.72.0/24", remoteTS: "198.19.101.0/24", esp: "aes128-sha256"},
		{name: "net", localTS: "198.19.72.0/24", remoteTS: "198.19.101.0/24", esp: "aes128-sha256", extra: []string{"mode = transport"}},
		{name: "host", esp: "aes128-sha256", extra: []string{"mode = transport"}},
	}}.String())
	return r, c, nsR
}

// TestSecondTransportChildCharon: after a tunnel CHILD SA, charon asks over the same IKE
// SA for a transport child between subnets (which it sends with empty traffic
// selectors) and then for a host-to-host transport child from behind the NAT. The
// first is refused with TS_UNACCEPTABLE and a log line, never INVALID_SYNTAX (on which
// charon destroys the whole IKE SA); the second is answered USE_TRANSPORT_MODE with the
// selectors charon offered, while routerd's policy uses the NAT's address. The tunnel
// child carries traffic all along. (charon's kernel-libipsec has no transport mode, so
// it cannot install the transport SA: its data path is tested between two routerd.)
func TestSecondTransportChildCharon(t *testing.T) {
	r, c, nsR := transportRig(t)
	ping := func() error {
		return iketest.In(nsR, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "198.19.101.1", "198.19.72.1").Run()
	}
	if out, err := c.Swanctl("--initiate", "--child", "tun", "--timeout", "20"); err != nil {
		t.Fatalf("initiate tun: %v\n%s", err, out)
	}
	if err := ping(); err != nil {
		t.Fatalf("ping over tun: %v", err)
	}
	out, _ := c.Swanctl("--initiate", "--child", "net", "--timeout", "20")
	if !strings.Contains(c.Log(), "CREATE_CHILD_SA response 2 [ N(TS_UNACCEPT) ]") {
		t.Errorf("transport between subnets not answered TS_UNACCEPTABLE:\n%s", out)
	}
	out, _ = c.Swanctl("--initiate", "--child", "host", "--timeout", "20")
	log := c.Log()
	if !strings.Contains(log, "received USE_TRANSPORT_MODE notify") || !strings.Contains(log, "received: 198.18.53.2/32 => match: 198.18.53.2/32") {
		t.Errorf("host-to-host transport request from behind the NAT not answered with a transport SA and charon's own selectors:\n%s", out)
	}
	if strings.Contains(log, "INVAL_SYN") || strings.Contains(log, "destroying IKE_SA") {
		t.Errorf("routerd answered INVALID_SYNTAX or charon destroyed the IKE SA")
	}
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print detail"), "ph2-state=established")
	}) {
		t.Errorf("routerd lost the tunnel policy's SA:\n%s", r.run(t, "/ip ipsec policy print detail"))
	}
	if err := ping(); err != nil {
		sas, _ := c.Swanctl("--list-sas")
		t.Fatalf("tunnel child gone after the transport requests: %v\n%s", err, sas)
	}
}

// TestTransportBehindNATRouterd: the L2TP/IPsec road-warrior shape between two routerd:
// B behind an nftables masquerade asks for a host-to-host transport SA (a static
// transport policy from its private address), A is a passive generate-policy responder
// under the default template. A's generated policy is transport to the NAT's address,
// and pings go both ways through the SA (transport mode's checksums fixed after the
// NAT, RFC 3948 3.1.2).
func TestTransportBehindNATRouterd(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "nft")
	nsA, nsM, nsB := iketest.NS(t, "tna"), iketest.NS(t, "tnm"), iketest.NS(t, "tnb")
	iketest.Veth(t, nsA, "wan", "198.18.54.1/24", nsM, "out", "198.18.54.2/24")
	iketest.Veth(t, nsM, "in", "198.18.55.1/24", nsB, "wan", "198.18.55.2/24")
	iketest.Sh(t, "ip", "-n", nsB, "route", "add", "default", "via", "198.18.55.1")
	masquerade(t, nsM, "out")
	a, b := startRouter(t, nsA), startRouter(t, nsB)
	a.run(t, `/ip ipsec peer add name=rw address=0.0.0.0/0 exchange-mode=ike2 passive=yes
/ip ipsec identity add peer=rw secret=a-long-test-psk generate-policy=port-strict
`)
	b.run(t, `/ip ipsec peer add name=a address=198.18.54.1/32 exchange-mode=ike2
/ip ipsec identity add peer=a secret=a-long-test-psk
/ip ipsec policy add peer=a src-address=198.18.55.2/32 dst-address=198.18.54.1/32 tunnel=no
`)
	if !iketest.WaitFor(30*time.Second, func() bool {
		return iketest.In(nsB, "ping", "-c", "1", "-W", "1", "198.18.54.1").Run() == nil &&
			strings.Contains(b.run(t, "/ip ipsec policy print"), "established")
	}) {
		t.Fatalf("no transport SA from behind the NAT:\nA:\n%s\nB:\n%s", a.run(t, "/ip ipsec installed-sa print detail"), b.run(t, "/ip ipsec installed-sa print detail"))
	}
	pol := a.run(t, "/ip ipsec policy print detail where dynamic")
	if !strings.Contains(pol, "dst-address=198.18.54.2/32") || !strings.Contains(pol, "tunnel=no") {
		t.Errorf("A's generated policy is not transport to the NAT's address:\n%s", pol)
	}
	if err := iketest.In(nsB, "ping", "-c", "5", "-i", "0.2", "-W", "2", "198.18.54.1").Run(); err != nil {
		t.Errorf("B -> A: %v", err)
	}
	if err := iketest.In(nsA, "ping", "-c", "5", "-i", "0.2", "-W", "2", "198.18.54.2").Run(); err != nil {
		t.Errorf("A -> B through the NAT: %v", err)
	}
	// TCP's checksum covers the addresses the NAT rewrote: it must be fixed on A.
	if res, err := iketest.IperfTCP(t, nsA, "198.18.54.1", nsB, "198.18.55.2", 1); err != nil || res.Bytes == 0 {
		t.Errorf("TCP through the transport SA: %v (%d bytes)\n%s", err, res.Bytes, res.Output)
	}
	sa := a.run(t, "/ip ipsec installed-sa print detail")
	if strings.Contains(sa, "current-bytes=0 ") || !strings.Contains(sa, "current-bytes=") {
		t.Errorf("pings did not go through the SA:\n%s", sa)
	}
}
