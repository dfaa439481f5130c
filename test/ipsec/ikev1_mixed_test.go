package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIKEv1AndIKEv2OnOneAddress: two routerd peers on charon's one address, one
// exchange-mode=ike2 and one main, each with its own network: both come up side by
// side, and bringing one down and up again (its re-initiation) leaves the other's SA
// in place: INITIAL_CONTACT goes only when routerd holds no other SA with the address
// (charon deletes every other SA with routerd's identity when it gets one).
func TestIKEv1AndIKEv2OnOneAddress(t *testing.T) {
	tp := newTopo(t, false)
	iketest.Sh(t, "ip", "-n", tp.nsS, "addr", "add", "198.19.103.1/24", "dev", "lo")
	r := startCertRouter(t, tp.nsR)
	ch := iketest.StartCharon(t, tp.nsS, `connections {
  v2 {
    version = 2
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha256-modp2048
    dpd_delay = 0
    local { auth = psk
            id = 198.18.50.2 }
    remote { auth = psk
             id = 198.18.50.1 }
    children { n2 { local_ts = 198.19.102.0/24
                    remote_ts = 198.19.101.0/24
                    esp_proposals = aes128-sha1 } }
  }
  v1 {
    version = 1
    local_addrs = 198.18.50.2
    remote_addrs = 198.18.50.1
    proposals = aes128-sha1-modp2048
    dpd_delay = 0
    local { auth = psk
            id = 198.18.50.2 }
    remote { auth = psk
             id = 198.18.50.1 }
    children { n1 { local_ts = 198.19.103.0/24
                    remote_ts = 198.19.101.0/24
                    esp_proposals = aes128-sha1 } }
  }
}
secrets { ike-1 { id = 198.18.50.1
                  secret = "v1secret12345" } }
`)
	r.exec(t, `/ip ipsec profile add name=p2 enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=modp2048
/ip ipsec profile add name=p1 enc-algorithm=aes-128 hash-algorithm=sha1 dh-group=modp2048
/ip ipsec proposal add name=p enc-algorithms=aes-128-cbc auth-algorithms=sha1 pfs-group=none
/ip ipsec peer add name=swan address=198.18.50.2/32 exchange-mode=ike2 profile=p2
/ip ipsec identity add peer=swan secret=v1secret12345
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=swan
/ip ipsec peer add name=swan1 address=198.18.50.2/32 exchange-mode=main profile=p1
/ip ipsec identity add peer=swan1 secret=v1secret12345
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.103.0/24 tunnel=yes proposal=p peer=swan1
`)
	bothUp := func(what string) {
		t.Helper()
		if !iketest.WaitFor(25*time.Second, func() bool {
			sas, _ := ch.Swanctl("--list-sas")
			return strings.Count(r.run(t, "/ip ipsec policy print"), "established") == 2 &&
				strings.Contains(sas, "v1: #") && strings.Contains(sas, "v2: #")
		}) {
			sas, _ := ch.Swanctl("--list-sas")
			t.Fatalf("%s: not both up:\n%s\n%s\ncharon:\n%s\n%s", what, r.run(t, "/ip ipsec policy print"),
				r.run(t, "/ip ipsec active-peers print detail"), sas, tail(ch.Log(), 6000))
		}
		for _, dst := range []string{"198.19.102.1", "198.19.103.1"} {
			if !iketest.WaitFor(10*time.Second, func() bool {
				return iketest.In(tp.nsR, "ping", "-c", "1", "-W", "1", "-I", "198.19.101.1", dst).Run() == nil
			}) {
				t.Fatalf("%s: no ping to %s", what, dst)
			}
		}
	}
	bothUp("start")
	// Re-initiate each in turn: the other must stay.
	for _, p := range []string{"swan1", "swan"} {
		r.exec(t, "/ip ipsec peer disable "+p)
		r.exec(t, "/ip ipsec peer enable "+p)
		bothUp("after " + p + " came back")
	}
	if lg := ch.Log(); strings.Contains(lg, "destroying duplicate IKE_SA") {
		t.Fatalf("charon dropped an SA for INITIAL_CONTACT:\n%s", tail(lg, 6000))
	}
}
