package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestCharonReauthKeepsTraffic: charon reauthenticates its IKE SA every 8 s
// (break-before-make: it deletes the SA, then initiates anew) while routerd's require
// policy has traffic, so both sides initiate at once. Neither may throw away the SA the
// other keeps: routerd once sent INITIAL_CONTACT while charon's SA was half-open, charon
// destroyed its own SA on it and routerd's tie-break deleted routerd's, leaving no SA
// until DPD (38% of a 40 s flood lost; qa12 high). The flood may lose only the packets of
// the moments between delete and new SA.
func TestCharonReauthKeepsTraffic(t *testing.T) {
	tp := newTopo(t, false)
	// modp2048 (with PFS) as in QA's rig: the slower exchanges widen the moment in which
	// both sides' setups overlap.
	ch := iketest.StartCharon(t, tp.nsS, swanPSK{local: tp.sAddr, remote: tp.rAddr, proposals: "aes128-sha256-modp2048",
		extra: []string{"reauth_time = 8s", "over_time = 3s", "rand_time = 0s"},
		children: []swanChild{{name: "net", localTS: "198.19.102.0/24", remoteTS: "198.19.101.0/24", esp: "aes128gcm16-modp2048",
			extra: []string{"start_action = start"}}}}.String())
	r := startRouter(t, tp.nsR)
	r.run(t, `/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=modp2048 dpd-interval=5s dpd-maximum-failures=4
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=modp2048
/ip ipsec peer add name=s address=`+tp.sAddr+`/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s level=require
`)
	if !iketest.WaitFor(25*time.Second, func() bool {
		return strings.Contains(r.run(t, "/ip ipsec policy print"), "established") && pingAcross(tp.nsR) == nil
	}) {
		t.Fatalf("no phase 2:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), tail(ch.Log(), 4000))
	}
	reauth := regexp.MustCompile(`reauthenticating IKE_SA`)
	before := len(reauth.FindAllString(ch.Log(), -1))
	out, err := iketest.In(tp.nsR, "ping", "-q", "-i", "0.002", "-c", "12000", "-W", "1", "-I", "198.19.101.1", "198.19.102.1").CombinedOutput()
	reauths := len(reauth.FindAllString(ch.Log(), -1)) - before
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("ping: %v\n%s", err, out)
	}
	sent, got := atoi(m[1]), atoi(m[2])
	dups := strings.Count(ch.Log(), "destroying duplicate IKE_SA")
	t.Logf("%d reauthentications, %d of %d pings answered, charon destroyed %d duplicates", reauths, got, sent, dups)
	if reauths < 2 {
		t.Fatalf("only %d reauthentications during the ping\n%s", reauths, tail(ch.Log(), 4000))
	}
	if lost := sent - got; lost*100 > sent*3 {
		t.Fatalf("%d of %d pings lost across %d reauthentications (charon destroyed %d duplicate SAs)\n%s\n%s",
			lost, sent, reauths, dups, r.run(t, "/ip ipsec active-peers print detail"), tail(ch.Log(), 6000))
	}
}
