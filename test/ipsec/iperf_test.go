package ipsec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestIperfRekeysCharon: a TCP flow (iperf3) from routerd's network to charon's keeps
// going while charon rekeys the CHILD SA every 3 s (rand_time = 0s, so the rekeys come
// on time): iperf3 completes and no two consecutive seconds pass without data.
func TestIperfRekeysCharon(t *testing.T) {
	tp := newTopo(t, false)
	s := matrix[3] // aes128gcm16-ecp256
	conf := tp.swanctl(s)
	conf = strings.Replace(conf, "        esp_proposals", "        rekey_time = 3s\n        life_time = 6s\n        rand_time = 0s\n        esp_proposals", 1)
	c := iketest.StartCharon(t, tp.nsS, conf)
	r := startRouter(t, tp.nsR)
	r.run(t, tp.routerdConfig(s, false))
	if !iketest.WaitFor(20*time.Second, func() bool { return pingAcross(tp.nsR) == nil }) {
		out, _ := c.Swanctl("--list-sas")
		t.Fatalf("not up:\n%s\n%s", r.run(t, "/ip ipsec active-peers print detail"), out)
	}
	st := &r.e.Daemon().Stats
	before := st.ChildRekeys.Load()
	res, err := iketest.IperfTCP(t, tp.nsS, "198.19.102.1", tp.nsR, "198.19.101.1", 12)
	rekeys := st.ChildRekeys.Load() - before
	t.Logf("iperf3: %d bytes, per second %v; %d CHILD rekeys during the run", res.Bytes, res.Intervals, rekeys)
	if err != nil {
		out, _ := c.Swanctl("--list-sas")
		t.Fatalf("the TCP flow broke across rekeys: %v\n%s\n%s\n%s", err, res.Output, r.run(t, "/ip ipsec statistics print"), out)
	}
	if s := res.LongestStall(); s >= 2 || len(res.Intervals) < 10 {
		t.Errorf("the flow stalled %d s (intervals %v)", s, res.Intervals)
	}
	if rekeys < 3 {
		t.Errorf("only %d CHILD rekeys during the run", rekeys)
	}
}
