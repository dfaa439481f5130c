package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/ike/iketest"
)

// natRW: a road warrior (charon, vips) behind a masquerading NAT namespace, routerd the
// mode-config responder on the other side.
type natRW struct {
	nsR, nsM, nsC string
	r             *router
	c             *iketest.Charon
}

const natRWRouterd = `/ip pool add name=rw-pool ranges=198.19.77.10-198.19.77.20
/ip ipsec profile add name=rw dh-group=ecp256 enc-algorithm=aes-128 hash-algorithm=sha256
/ip ipsec proposal add name=rw enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec mode-config add name=rw address-pool=rw-pool address-prefix-length=32 split-include=198.19.101.0/24
/ip ipsec policy group add name=rw
/ip ipsec policy add group=rw template=yes src-address=198.19.101.0/24 dst-address=198.19.77.0/24 proposal=rw
/ip ipsec peer add name=rw exchange-mode=ike2 passive=yes profile=rw
/ip ipsec identity add peer=rw secret=a-long-test-psk generate-policy=port-strict mode-config=rw policy-template-group=rw my-id=fqdn:r.example remote-id=fqdn:s.example
`

// natRWCharon is the road warrior of pool_test.go behind the NAT, without DPD (so that
// only ESP shows a moved mapping first).
var natRWCharon = strings.NewReplacer("local_addrs = 198.18.50.2", "local_addrs = 198.18.53.2",
	"remote_addrs = 198.18.50.1", "remote_addrs = 198.18.52.1",
	"vips = 0.0.0.0", "vips = 0.0.0.0\n    dpd_delay = 0").Replace(rwCharonPlain)

func newNATRW(t *testing.T) *natRW {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "nft")
	n := &natRW{nsR: iketest.NS(t, "tnr"), nsM: iketest.NS(t, "tnm"), nsC: iketest.NS(t, "tnc")}
	iketest.Veth(t, n.nsR, "wan", "198.18.52.1/24", n.nsM, "out", "198.18.52.2/24")
	iketest.Veth(t, n.nsM, "in", "198.18.53.1/24", n.nsC, "wan", "198.18.53.2/24")
	iketest.Sh(t, "ip", "-n", n.nsC, "route", "add", "default", "via", "198.18.53.1")
	iketest.Sh(t, "ip", "-n", n.nsR, "addr", "add", "198.19.101.1/24", "dev", "lo")
	n.setNAT(t, "")
	n.r = startRouter(t, n.nsR)
	n.r.run(t, natRWRouterd)
	n.c = iketest.StartCharon(t, n.nsC, natRWCharon)
	if out, err := n.c.Swanctl("--initiate", "--child", "net", "--timeout", "10"); err != nil {
		t.Fatalf("initiate: %v\n%s", err, out)
	}
	return n
}

// setNAT (re)writes the middle namespace's masquerade (ports: "" or "to :A-B") and
// flushes its conntrack table, so the next packet of the road warrior gets a new mapping.
func (n *natRW) setNAT(t *testing.T, ports string) {
	t.Helper()
	iketest.Sh(t, "ip", "netns", "exec", n.nsM, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	cmd := iketest.In(n.nsM, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader("table ip nat\ndelete table ip nat\ntable ip nat {\n chain post {\n  type nat hook postrouting priority 100\n  oifname \"out\" meta l4proto udp masquerade " + ports + "\n  oifname \"out\" masquerade\n }\n}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	if err := iketest.Do(n.nsM, func() error { return netlink.ConntrackTableFlush(netlink.ConntrackTable) }); err != nil {
		t.Fatalf("conntrack flush: %v", err)
	}
}

var peerPort = regexp.MustCompile(`\bport=(\d+)`)

func (n *natRW) peerPort(t *testing.T) string {
	m := peerPort.FindStringSubmatch(n.r.run(t, "/ip ipsec active-peers print detail"))
	if m == nil {
		return ""
	}
	return m[1]
}

func (n *natRW) ping() error {
	return iketest.In(n.nsC, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "198.19.77.10", "198.19.101.1").Run()
}

// TestNATMappingChangeFollowed: the road warrior's NAT mapping moves to another port
// twice. The first time only ESP comes from the new port (charon sends no IKE: DPD is
// off): routerd follows the authenticated ESP, so replies reach the new mapping; the
// second time an IKE request (a CHILD_SA rekey) is the first to come from there.
// active-peers shows the port each time (RFC 7296 2.23).
func TestNATMappingChangeFollowed(t *testing.T) {
	n := newNATRW(t)
	if err := n.ping(); err != nil {
		t.Fatalf("ping before any change: %v\n%s", err, n.r.run(t, "/ip ipsec active-peers print detail"))
	}
	if p := n.peerPort(t); p != "4500" {
		t.Fatalf("peer port %q before the change, want 4500:\n%s", p, n.r.run(t, "/ip ipsec active-peers print detail"))
	}
	inRange := func(lo, hi int) func() bool {
		return func() bool {
			p := n.peerPort(t)
			var v int
			for _, ch := range p {
				v = v*10 + int(ch-'0')
			}
			return p != "" && v >= lo && v <= hi
		}
	}

	// 1. ESP first.
	n.setNAT(t, "to :40000-40099")
	if err := n.ping(); err != nil {
		t.Fatalf("ping after the mapping moved (ESP): %v\n%s\n%s", err,
			n.r.run(t, "/ip ipsec active-peers print detail"), n.r.run(t, "/ip ipsec installed-sa print detail"))
	}
	if !iketest.WaitFor(5*time.Second, inRange(40000, 40099)) {
		t.Fatalf("active-peers does not show the new port:\n%s", n.r.run(t, "/ip ipsec active-peers print detail"))
	}

	// 2. IKE first.
	n.setNAT(t, "to :41000-41099")
	if out, err := n.c.Swanctl("--rekey", "--child", "net"); err != nil {
		t.Fatalf("rekey: %v\n%s", err, out)
	}
	if !iketest.WaitFor(5*time.Second, inRange(41000, 41099)) {
		t.Fatalf("active-peers does not show the port of the IKE request:\n%s", n.r.run(t, "/ip ipsec active-peers print detail"))
	}
	if !iketest.WaitFor(10*time.Second, func() bool { return n.ping() == nil }) {
		t.Fatalf("ping after the mapping moved (IKE):\n%s", n.r.run(t, "/ip ipsec installed-sa print detail"))
	}
}
