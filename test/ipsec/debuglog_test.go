package ipsec_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIPsecDebugLog: with `/system logging add topics=ipsec,debug` the routerd binary logs
// the IKE exchange as RouterOS's ipsec,debug does (every message sent and received with
// its payloads, the proposals chosen, the traffic selectors, the SAs installed, DPD), and
// neither the pre-shared key nor any SA key appears in /log or on routerd's output.
func TestIPsecDebugLog(t *testing.T) {
	tp := newTopo(t, false)
	s := matrix[1] // aes256-sha256-modp2048 with PFS
	c := iketest.StartCharon(t, tp.nsS, tp.swanctl(s))
	r := startBin(t, tp.nsR, "")
	r.Script("/ip address add address=198.18.50.1/24 interface=wan\n/system logging add topics=ipsec,debug\n" +
		strings.Replace(tp.routerdConfig(s, false), "/ip ipsec profile add name=p ", "/ip ipsec profile add name=p dpd-interval=2s dpd-maximum-failures=3 ", 1))
	if !iketest.WaitFor(20*time.Second, func() bool { return strings.Contains(r.Must("/ip ipsec policy print"), "established") }) {
		t.Fatalf("no phase 2:\n%s", r.Must("/ip ipsec active-peers print detail"))
	}
	if err := pingAcross(tp.nsR); err != nil {
		t.Fatalf("ping: %v", err)
	}
	want := []string{
		"sending IKE_SA_INIT request 0 [ SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP)",
		"received IKE_SA_INIT response 0 [ SA KE No",
		"IKE SA proposal chosen",
		"sending IKE_AUTH request 1 [ IDi",
		"received IKE_AUTH response 1 [ IDr AUTH",
		"CHILD SA proposal chosen",
		"CHILD SA installed",
		"DPD: checking the peer is alive",
		"received INFORMATIONAL response",
	}
	var log string
	if !iketest.WaitFor(15*time.Second, func() bool {
		log = r.Must("/log print where topics~\"ipsec\"")
		for _, w := range want {
			if !strings.Contains(log, w) {
				return false
			}
		}
		return true
	}) {
		for _, w := range want {
			if !strings.Contains(log, w) {
				t.Errorf("no %q in the ipsec,debug log", w)
			}
		}
		t.Fatalf("/log:\n%s", log)
	}
	if !strings.Contains(log, "ipsec,debug") {
		t.Errorf("debug lines without the ipsec,debug topics:\n%s", log)
	}
	// Secrets: the PSK and every SA key, as show-sensitive prints them.
	secrets := []string{"a-long-test-psk"}
	for _, m := range regexp.MustCompile(`(?:enc|auth)-key="?([0-9a-f]{16,})`).FindAllStringSubmatch(r.Must("/ip ipsec installed-sa print detail show-sensitive"), -1) {
		secrets = append(secrets, m[1])
	}
	if len(secrets) < 5 {
		t.Fatalf("found only %d secrets to look for", len(secrets))
	}
	out := r.Log.String()
	for _, sec := range secrets {
		if strings.Contains(log, sec) || strings.Contains(out, sec) {
			t.Errorf("secret %q in the log", sec)
		}
	}
	_ = c
}
