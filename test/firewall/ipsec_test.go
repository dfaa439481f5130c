package firewall_test

import (
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
