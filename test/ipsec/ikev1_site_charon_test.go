package ipsec_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestSiteToSiteIKEv1Charon runs the reference's "Site to Site IPsec (IKEv1) tunnel" as
// a new user would with strongSwan as the other office: routerd (the daemon binary)
// gets site 1's configuration as written (addresses mapped into 198.18.0.0/15 as in
// TestSiteToSiteIKEv1Example), charon the same tunnel in swanctl's words (IKEv1 main
// mode, the pre-shared key, aes128-sha1-modp2048 and PFS as the example's profile and
// proposal default to). Either side starts it; ping and iperf3 cross. Then charon is
// given a profile routerd does not have and routerd's /log says so in RouterOS's words.
func TestSiteToSiteIKEv1Charon(t *testing.T) {
	for _, routerdStarts := range []bool{true, false} {
		name := "charon-initiates"
		if routerdStarts {
			name = "routerd-initiates"
		}
		t.Run(name, func(t *testing.T) {
			iketest.NeedRoot(t, "ip", "nsenter", "ping")
			nsA, nsB := iketest.NS(t, "s2sa"), iketest.NS(t, "s2sb")
			iketest.Veth(t, nsA, "ether1", "", nsB, "wan", "198.18.90.2/24")
			iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.101.1/24", "dev", "lo")
			conf := func(ike string) string {
				return `connections {
  ike1-site1 {
    version = 1
    local_addrs = 198.18.90.2
    remote_addrs = 198.18.90.1
    proposals = ` + ike + `
    dpd_delay = 0
    local { auth = psk }
    remote { auth = psk }
    children {
      office {
        local_ts = 198.19.101.0/24
        remote_ts = 198.19.202.0/24
        esp_proposals = aes128-sha1-modp2048
      }
    }
  }
}
secrets { ike-1 { secret = "thisisnotasecurepsk" } }
`
			}
			ch := iketest.StartCharon(t, nsB, conf("aes128-sha1-modp2048"))
			site1 := startDaemon(t, nsA)
			site1.script(`/ip address add address=198.18.90.1/24 interface=ether1
/interface bridge add name=office
/ip address add address=198.19.202.1/24 interface=office
`)
			passive := ""
			if !routerdStarts {
				// Let charon start it: routerd waits for traffic or the peer.
				passive = " passive=yes"
			}
			site1.script(`/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-128 name=ike1-site2
/ip ipsec proposal
add enc-algorithms=aes-128-cbc name=ike1-site2 pfs-group=modp2048
/ip ipsec peer
add address=198.18.90.2/32 name=ike1-site2 profile=ike1-site2` + passive + `
/ip ipsec identity
add peer=ike1-site2 secret=thisisnotasecurepsk
/ip ipsec policy
add src-address=198.19.202.0/24 src-port=any dst-address=198.19.101.0/24 dst-port=any tunnel=yes action=encrypt proposal=ike1-site2 peer=ike1-site2
`)
			if !routerdStarts {
				// routerd applies the lines in its ipsec engine's next pass, which takes
				// seconds on a loaded machine; a quick mode arriving before it is refused
				// ("no policy matches"). ph2-state shows once the daemon has the policy.
				if !iketest.WaitFor(20*time.Second, func() bool {
					return strings.Contains(site1.script("/ip ipsec policy print detail\n"), "ph2-state=no-phase2")
				}) {
					t.Fatalf("policy not applied:\n%s", site1.script("/ip ipsec policy print detail\n"))
				}
				if out, err := ch.Swanctl("--initiate", "--child", "office", "--timeout", "20"); err != nil {
					t.Fatalf("swanctl --initiate: %v\n%s\n%s", err, out, tail(ch.Log(), 4000))
				}
			}
			if !iketest.WaitFor(25*time.Second, func() bool {
				return strings.Contains(site1.script("/ip ipsec policy print\n"), "established")
			}) {
				sas, _ := ch.Swanctl("--list-sas")
				t.Fatalf("not established:\n%s\n%s\n%s", site1.script("/ip ipsec active-peers print detail\n"), sas, tail(ch.Log(), 4000))
			}
			sas := site1.script("/ip ipsec\ninstalled-sa print detail\n")
			if strings.Count(sas, "spi=") != 2 {
				t.Fatalf("installed-sa:\n%s", sas)
			}
			if !iketest.WaitFor(10*time.Second, func() bool {
				return iketest.In(nsA, "ping", "-c", "1", "-W", "1", "-I", "198.19.202.1", "198.19.101.1").Run() == nil
			}) {
				t.Fatalf("no ping across:\n%s", site1.script("/ip ipsec statistics print\n"))
			}
			res, err := iketest.IperfTCP(t, nsB, "198.19.101.1", nsA, "198.19.202.1", 2)
			if err != nil || res.Bytes == 0 {
				t.Fatalf("iperf3 across: %v (%d bytes)\n%s", err, res.Bytes, res.Output)
			}
			t.Logf("iperf3 routerd -> charon over IKEv1: %.0f Mbit/s", float64(res.Bytes)*8/2e6)
			if routerdStarts {
				return
			}
			// A proposal routerd's profile does not have: the reference's mismatch lines.
			ch.Swanctl("--terminate", "--ike", "ike1-site1", "--timeout", "10")
			writeConf(t, ch, conf("3des-md5-modp1024"))
			ch.Swanctl("--initiate", "--child", "office", "--timeout", "10")
			if !iketest.WaitFor(15*time.Second, func() bool {
				lg := site1.script("/log print\n")
				return strings.Contains(lg, "no suitable proposal found.") && strings.Contains(lg, "rejected enctype")
			}) {
				t.Fatalf("no mismatch lines in /log:\n%s", site1.script("/log print\n"))
			}
		})
	}
}

// writeConf replaces charon's swanctl.conf and loads it.
func writeConf(t *testing.T, c *iketest.Charon, conf string) {
	t.Helper()
	f := filepath.Join(c.Dir, "swanctl.conf")
	if err := os.WriteFile(f, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := c.Swanctl("--load-all", "--file", f); err != nil {
		t.Fatalf("load-all: %v\n%s", err, out)
	}
}

// TestIKEv1AggressiveXAuthCharon: routerd (the daemon binary) as an XAuth client in
// aggressive mode (pre-shared-key-xauth with username and password) against a charon
// gateway that checks the login: the tunnel comes up, ping and iperf3 cross.
func TestIKEv1AggressiveXAuthCharon(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	nsA, nsB := iketest.NS(t, "agxa"), iketest.NS(t, "agxb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "wan", "198.18.90.2/24")
	iketest.Sh(t, "ip", "-n", nsB, "addr", "add", "198.19.101.1/24", "dev", "lo")
	ch := iketest.StartCharon(t, nsB, `connections {
  gw {
    version = 1
    aggressive = yes
    local_addrs = 198.18.90.2
    remote_addrs = 198.18.90.1
    proposals = aes128-sha1-modp2048
    dpd_delay = 0
    local { auth = psk
            id = 198.18.90.2 }
    remote-1 { auth = psk }
    remote-2 { auth = xauth }
    children {
      office {
        local_ts = 198.19.101.0/24
        remote_ts = 198.19.202.0/24
        esp_proposals = aes128-sha1
      }
    }
  }
}
secrets {
  ike-1 { secret = "group-psk-12345" }
  xauth-1 { id = user1
            secret = "user1-pass" }
}
`, "+xauth-generic", "  i_dont_care_about_security_and_use_aggressive_mode_psk = yes")
	r := startDaemon(t, nsA)
	r.script(`/ip address add address=198.18.90.1/24 interface=ether1
/interface bridge add name=office
/ip address add address=198.19.202.1/24 interface=office
/ip ipsec profile add name=gw dh-group=modp2048 enc-algorithm=aes-128
/ip ipsec proposal add name=gw enc-algorithms=aes-128-cbc pfs-group=none
/ip ipsec peer add name=gw address=198.18.90.2/32 exchange-mode=aggressive profile=gw
/ip ipsec identity add peer=gw auth-method=pre-shared-key-xauth secret=group-psk-12345 username=user1 password=user1-pass
/ip ipsec policy add src-address=198.19.202.0/24 dst-address=198.19.101.0/24 tunnel=yes action=encrypt proposal=gw peer=gw
`)
	if !iketest.WaitFor(25*time.Second, func() bool {
		return strings.Contains(r.script("/ip ipsec policy print\n"), "established")
	}) {
		sas, _ := ch.Swanctl("--list-sas")
		t.Fatalf("not established:\n%s\n%s\n%s", r.script("/ip ipsec active-peers print detail\n"), sas, tail(ch.Log(), 4000))
	}
	if !strings.Contains(ch.Log(), "XAuth authentication of 'user1' successful") {
		t.Fatalf("charon did not log the XAuth login:\n%s", tail(ch.Log(), 3000))
	}
	if !iketest.WaitFor(10*time.Second, func() bool {
		return iketest.In(nsA, "ping", "-c", "1", "-W", "1", "-I", "198.19.202.1", "198.19.101.1").Run() == nil
	}) {
		t.Fatalf("no ping across:\n%s", r.script("/ip ipsec statistics print\n"))
	}
	res, err := iketest.IperfTCP(t, nsB, "198.19.101.1", nsA, "198.19.202.1", 2)
	if err != nil || res.Bytes == 0 {
		t.Fatalf("iperf3 across: %v (%d bytes)\n%s", err, res.Bytes, res.Output)
	}
	t.Logf("iperf3 over aggressive mode + XAuth: %.0f Mbit/s", float64(res.Bytes)*8/2e6)
}
