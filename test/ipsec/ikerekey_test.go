package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIKERekeyNoLossCharon: IKE SA rekeys against charon under a flood ping (500 a
// second), started by routerd (profile lifetime) and by charon (rekey_time), each with
// the CHILD SA moving to the new IKE SA. Not one ping may go missing, and routerd's ESP
// never meets a packet without its SA or policy.
func TestIKERekeyNoLossCharon(t *testing.T) {
	for _, c := range []struct {
		name, routerdLife, charonIKE string
	}{
		{"routerd-rekeys", "8s", "rekey_time = 1h"},
		{"charon-rekeys", "1h", "rekey_time = 6s\n    over_time = 1m\n    rand_time = 0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tp := newTopo(t, false)
			ch := iketest.StartCharon(t, tp.nsS, swanPSK{local: tp.sAddr, remote: tp.rAddr, extra: []string{c.charonIKE},
				children: []swanChild{{name: "net", localTS: "198.19.102.0/24", remoteTS: "198.19.101.0/24", esp: "aes128gcm16",
					extra: []string{"rekey_time = 1h"}}}}.String())
			r := startRouter(t, tp.nsR)
			r.run(t, `/ip ipsec profile add name=p enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256 lifetime=`+c.routerdLife+`
/ip ipsec proposal add name=p enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none lifetime=30m
/ip ipsec peer add name=s address=`+tp.sAddr+`/32 exchange-mode=ike2 profile=p
/ip ipsec identity add peer=s secret=a-long-test-psk my-id=fqdn:r.example remote-id=fqdn:s.example
/ip ipsec policy add src-address=198.19.101.0/24 dst-address=198.19.102.0/24 tunnel=yes proposal=p peer=s
`)
			if !iketest.WaitFor(25*time.Second, func() bool {
				return strings.Contains(r.run(t, "/ip ipsec policy print"), "established") && pingAcross(tp.nsR) == nil
			}) {
				t.Fatalf("no phase 2:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), tail(ch.Log(), 4000))
			}
			rekeyed := regexp.MustCompile(`IKE_SA r\[\d+\] rekeyed between|rekeyed between`)
			before := len(rekeyed.FindAllString(ch.Log(), -1))
			out, err := iketest.In(tp.nsR, "ping", "-q", "-f", "-i", "0.002", "-c", "12000", "-W", "3", "-I", "198.19.101.1", "198.19.102.1").CombinedOutput()
			rekeys := len(rekeyed.FindAllString(ch.Log(), -1)) - before
			stats := r.run(t, "/ip ipsec statistics print")
			m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(string(out))
			if m == nil {
				t.Fatalf("ping: %v\n%s", err, out)
			}
			sent, got := atoi(m[1]), atoi(m[2])
			t.Logf("%s: %d IKE rekeys, %d packets sent, %d received\n%s", c.name, rekeys, sent, got, stats)
			if rekeys < 2 {
				t.Fatalf("only %d IKE rekeys during the ping\n%s", rekeys, tail(ch.Log(), 4000))
			}
			if sent != got || !regexp.MustCompile(`in-no-states: 0\b`).MatchString(stats) || !regexp.MustCompile(`out-no-states: 0\b`).MatchString(stats) {
				t.Fatalf("ping across %d IKE rekeys lost packets (%v):\n%s\n%s\n%s", rekeys, err, out, stats, tail(ch.Log(), 20000))
			}
		})
	}
}
