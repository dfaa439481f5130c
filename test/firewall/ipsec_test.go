package firewall_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestReferenceIpsecPolicyTraffic: the reference's "ipsec policy matcher" with real IPsec
// traffic. routerd (userspace ESP on its TUN ipsec0, as this kernel has no ESP) and
// strongSwan's charon (kernel-libipsec) tunnel 198.19.101.0/24 (routerd's loopback) and
// 198.19.102.0/24 (charon's). Encrypted pings from charon's side are accepted by
// `in-interface=wan ipsec-policy=in,ipsec`; the same pings sent in the clear after the
// SA is gone are dropped by "drop all". IKE and ESP themselves are accepted first, as a
// configuration using the reference's two lines needs.
func TestReferenceIpsecPolicyTraffic(t *testing.T) {
	tp := newTopo(t)
	iketest.Sh(t, "ip", "-n", tp.r, "addr", "add", "198.19.101.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", tp.s, "addr", "add", "198.19.102.1/24", "dev", "lo")
	c := iketest.StartCharon(t, tp.s, `connections {
  r {
    version = 2
    local_addrs = 198.19.2.2
    remote_addrs = 198.19.2.1
    proposals = aes128-sha256-ecp256
    dpd_delay = 0
    local { auth = psk
            id = s.example }
    remote { auth = psk
             id = r.example }
    children {
      net {
        local_ts = 198.19.102.0/24
        remote_ts = 198.19.101.0/24
        esp_proposals = aes128gcm16
      }
    }
  }
}
secrets {
  ike-1 { id-a = s.example
          id-b = r.example
          secret = "a-long-test-psk" }
}
`)
	r := tp.rt
	r.must(t, `/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
/ip ipsec peer add name=s address=198.19.2.2/32 exchange-mode=ike2 profile=p passive=yes
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
/ip firewall filter
add chain=input in-interface=wan protocol=udp dst-port=500,4500 comment=ike
add chain=input in-interface=wan protocol=ipsec-esp comment=esp
add chain=input comment="ipsec policy matcher" in-interface=wan ipsec-policy=in,ipsec
add action=drop chain=input comment="drop all" in-interface=wan log=yes
`)
	tp.settle(t, `filter/4`)
	var out string
	var err error
	if !iketest.WaitFor(20*time.Second, func() bool {
		out, err = c.Swanctl("--initiate", "--child", "net", "--timeout", "10")
		return err == nil
	}) {
		t.Fatalf("swanctl --initiate: %v\n%s\n%s", err, out, r.must(t, "/ip ipsec active-peers print detail"))
	}
	pingFrom := func() bool {
		return iketest.In(tp.s, "ping", "-c", "3", "-i", "0.2", "-W", "2", "-I", "198.19.102.1", "198.19.101.1").Run() == nil
	}
	if !iketest.WaitFor(20*time.Second, pingFrom) {
		t.Fatalf("encrypted ping dropped\n%s\n%s", r.must(t, "/ip firewall filter print stats"), tp.ruleset(t))
	}
	if n := counter(t, r, "/ip firewall filter", "ipsec policy matcher"); n < 3 {
		t.Errorf("ipsec-policy=in,ipsec accepted %d decapsulated packets, want at least 3", n)
	}
	// charon's kernel-libipsec sends ESP in UDP 4500 (NAT-T), so the ike rule carries it.
	if n := counter(t, r, "/ip firewall filter", "ike") + counter(t, r, "/ip firewall filter", "esp"); n < 5 {
		t.Errorf("IKE and ESP rules counted %d", n)
	}
	// The same traffic in the clear: no SA, a plain route to routerd's network.
	if out, err := c.Swanctl("--terminate", "--ike", "r", "--timeout", "10"); err != nil {
		t.Fatalf("swanctl --terminate: %v\n%s", err, out)
	}
	iketest.Sh(t, "ip", "-n", tp.s, "route", "replace", "198.19.101.0/24", "via", "198.19.2.1", "src", "198.19.102.1")
	matched := counter(t, r, "/ip firewall filter", "ipsec policy matcher")
	dropped := counter(t, r, "/ip firewall filter", "drop all")
	if pingFrom() {
		t.Fatalf("plain ping accepted\n%s", r.must(t, "/ip firewall filter print stats"))
	}
	if n := counter(t, r, "/ip firewall filter", "drop all"); n < dropped+3 {
		t.Errorf("drop all counted %d plain packets, want 3", n-dropped)
	}
	if n := counter(t, r, "/ip firewall filter", "ipsec policy matcher"); n != matched {
		t.Errorf("ipsec-policy=in,ipsec matched %d plain packets", n-matched)
	}
	if out := r.must(t, `/log print where topics~"firewall"`); !strings.Contains(out, "198.19.102.1->198.19.101.1") {
		t.Errorf("no log line of the dropped plain ping:\n%s", out)
	}
	onlyOurTable(t, tp)
}

// TestMasqueradeKeepsOwnIPsec: the reference's "Using the same routing table with multiple
// IP addresses": the router masquerades everything out of wan and talks IPsec from a
// secondary address of wan. Its own IKE and ESP must leave with that address (the
// reference's udp 500,4500 accept is routerd's dynamic "ipsec IKE" rule; ESP without NAT
// is raw protocol 50, which needs the same), while a LAN client's IKE through the router
// is still masqueraded. Two routerd, userspace ESP on both.
func TestMasqueradeKeepsOwnIPsec(t *testing.T) {
	tp := newTopo(t)
	iketest.Sh(t, "ip", "-n", tp.r, "addr", "add", "198.19.101.1/24", "dev", "lo")
	iketest.Sh(t, "ip", "-n", tp.s, "addr", "add", "198.19.102.1/24", "dev", "lo")
	// s is now a second routerd; the plain default route stays for the client's test.
	s := startRouter(t, tp.s)
	r := tp.rt
	r.must(t, `/ip address add address=198.19.2.13/24 interface=wan
/ip firewall nat add chain=srcnat action=masquerade out-interface=wan
/ip ipsec peer add name=s address=198.19.2.2/32 local-address=198.19.2.13 exchange-mode=ike2
/ip ipsec identity add peer=s secret=a-long-test-psk
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes peer=s
`)
	s.must(t, `/ip ipsec peer add name=r address=198.19.2.13/32 exchange-mode=ike2
/ip ipsec identity add peer=r secret=a-long-test-psk
/ip ipsec policy add src-address=198.19.102.0/24 dst-address=198.19.101.0/24 tunnel=yes peer=r
`)
	tp.settle(t, `masquerade`)
	pingAcross := func() bool {
		return iketest.In(tp.s, "ping", "-c", "2", "-i", "0.2", "-W", "2", "-I", "198.19.102.1", "198.19.101.1").Run() == nil
	}
	if !iketest.WaitFor(30*time.Second, pingAcross) {
		t.Fatalf("no traffic through the SA from the secondary address\n%s\n%s\n%s\n%s",
			r.must(t, "/ip ipsec installed-sa print"), s.must(t, "/ip ipsec statistics print"),
			sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-L", "-p", "50"), tp.ruleset(t))
	}
	// Not only while an early conntrack entry happened to miss the masquerade: after the
	// ESP entries are flushed, new ones must not be NATed either.
	exec.Command("ip", "netns", "exec", tp.r, "conntrack", "-D", "-p", "50").Run()
	if !iketest.WaitFor(10*time.Second, pingAcross) {
		t.Fatalf("no traffic after the ESP conntrack entries were flushed\n%s",
			sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-L", "-p", "50"))
	}
	out := sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-L", "-p", "50")
	t.Logf("ESP conntrack entries:\n%s\n%s", out, r.must(t, "/ip ipsec installed-sa print detail"))
	if strings.Contains(out, "dst=198.19.2.1 ") {
		t.Errorf("routerd's own ESP was masqueraded:\n%s", out)
	}
	// A LAN client's IKE (source port 500) through the router is still masqueraded.
	if src, _ := udp(t, tp.c, tp.s, "198.19.2.2", 500, 7500); !strings.HasPrefix(src, "198.19.2.1:") {
		t.Errorf("the client's IKE through the router: server saw %q, want it masqueraded\n%s\n%s", src,
			sh(t, "ip", "netns", "exec", tp.r, "conntrack", "-L", "-p", "udp"), tp.ruleset(t))
	}
}
