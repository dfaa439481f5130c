package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestRekeyNoLossCharon: IKEv2 CHILD SA rekeys against charon (timers pinned with
// rand_time = 0s) under a flood ping (500 a second): several rekeys started by routerd
// (proposal lifetime 5s), then several started by charon (rekey_time 4s). Not one ping
// may go missing, and routerd's ESP never meets a packet without its SA: the old SA's
// delete must not overtake, inside the peer, ESP still in flight on it.
func TestRekeyNoLossCharon(t *testing.T) {
	for _, c := range []struct {
		name, routerdLife, charonChild string
	}{
		{"routerd-rekeys", "5s", "rekey_time = 1h\n        life_time = 2h"},
		{"charon-rekeys", "30m", "rekey_time = 4s\n        life_time = 20s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := newTopo(t, false)
			ch := iketest.StartCharon(t, tp.nsS, swanPSK{local: tp.sAddr, remote: tp.rAddr, extra: []string{"rekey_time = 1h"},
				children: []swanChild{{name: "net", localTS: "198.19.102.0/24", remoteTS: "198.19.101.0/24", esp: "aes128gcm16",
					extra: []string{"rand_time = 0s", c.charonChild}}}}.String())
			r := startRouter(t, tp.nsR)
			r.run(t, `/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none lifetime=`+c.routerdLife+`
/ip ipsec peer add name=s address=`+tp.sAddr+`/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
			if !iketest.WaitFor(25*time.Second, func() bool {
				return strings.Contains(r.run(t, "/ip ipsec policy print"), "established") && pingAcross(tp.nsR) == nil
			}) {
				t.Fatalf("no phase 2:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), tail(ch.Log(), 4000))
			}
			// charon numbers every CHILD SA (net{N}); it logs each one's establishment
			// once or twice (in- and outbound halves of a rekey it answers).
			established := regexp.MustCompile(`CHILD_SA (net\{\d+\}) established with SPIs`)
			count := func() int {
				seen := map[string]bool{}
				for _, m := range established.FindAllStringSubmatch(ch.Log(), -1) {
					seen[m[1]] = true
				}
				return len(seen)
			}
			before := count()
			out, err := iketest.In(tp.nsR, "ping", "-q", "-f", "-i", "0.002", "-c", "6000", "-W", "3", "-I", "198.19.101.1", "198.19.102.1").CombinedOutput()
			rekeys := count() - before
			stats := r.run(t, "/ip ipsec statistics print")
			m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("ping: %v\n%s", err, out)
			}
			sent, got := atoi(m[1]), atoi(m[2])
			t.Logf("%s: %d rekeys, %d packets sent, %d received", c.name, rekeys, sent, got)
			if rekeys < 2 {
				t.Fatalf("only %d rekeys during the ping\n%s", rekeys, tail(ch.Log(), 4000))
			}
			if sent != got || !regexp.MustCompile(`in-no-states: 0\b`).MatchString(stats) || !regexp.MustCompile(`out-no-states: 0\b`).MatchString(stats) {
				t.Fatalf("ping across %d rekeys lost packets (%v):\n%s\n%s", rekeys, err, out, stats)
			}
		})
	}
}
