package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestModeConfigDNSCharon: routerd as a mode-config=request-only initiator against
// charon responders whose pool hands out DNS servers, over IKEv1 main mode and IKEv2:
// the servers appear in /ip dns dynamic-servers while the SA is up and go with it.
func TestModeConfigDNSCharon(t *testing.T) {
	for _, c := range []struct{ name, version, mode string }{{"ikev1", "1", "main"}, {"ikev2", "2", "ike2"}} {
		t.Run(c.name, func(t *testing.T) {
			iketest.NeedRoot(t, "ip", "nsenter", "ping")
			nsR, nsS := iketest.NS(t, "mcdr"), iketest.NS(t, "mcds")
			iketest.Veth(t, nsR, "ether1", "", nsS, "wan", "198.18.90.1/24")
			iketest.Sh(t, "ip", "-n", nsS, "addr", "add", "198.19.101.1/24", "dev", "lo")
			iketest.StartCharon(t, nsS, `connections {
  rw {
    version = `+c.version+`
    local_addrs = 198.18.90.1
    proposals = aes128-sha256-modp2048
    pools = rw
    dpd_delay = 0
    local { auth = psk
            id = 198.18.90.1 }
    remote { auth = psk }
    children { net { local_ts = 198.19.101.0/24
                     esp_proposals = aes128-sha1 } }
  }
}
pools { rw { addrs = 198.19.77.10-198.19.77.20
             dns = 198.19.101.53, 198.19.101.54 } }
secrets { ike-1 { secret = "group-psk" } }
`)
			r := startDaemon(t, nsR)
			r.script(`/ip address add address=198.18.90.2/24 interface=ether1
/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=modp2048
/ip ipsec proposal add name=p enc-algorithms=aes-128-cbc auth-algorithms=sha1 pfs-group=none
/ip ipsec policy set [find default=yes] proposal=p
/ip ipsec peer add name=gw address=198.18.90.1/32 exchange-mode=` + c.mode + ` profile=p
/ip ipsec identity add peer=gw secret=group-psk generate-policy=port-strict mode-config=request-only
`)
			if !iketest.WaitFor(25*time.Second, func() bool {
				return strings.Contains(r.script("/ip ipsec policy print where dynamic\n"), "198.19.77.10")
			}) {
				t.Fatalf("no dynamic policy:\n%s\n%s", r.script("/ip ipsec policy print detail\n"), r.script("/ip ipsec active-peers print detail\n"))
			}
			if !iketest.WaitFor(10*time.Second, func() bool {
				return strings.Contains(r.script("/ip dns print\n"), "dynamic-servers: 198.19.101.53,198.19.101.54")
			}) {
				t.Fatalf("no dynamic DNS servers:\n%s", r.script("/ip dns print\n"))
			}
			dnsFollowsSA(t, r, "gw", "198.19.101.53")
		})
	}
}
