package ipsec_test

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// BenchmarkEoIPIPsecFullFrames: iperf3 TCP from R to S across EoIP with ipsec-secret on
// the userspace ESP path, alternating three 3 s runs of each setting in the same run.
// auto: mtu=auto, nothing fragmented. full: mtu=1500, so that each full frame's 1542-byte
// outer packet makes an ESP packet the kernel fragments after encryption (sendFrag4), which
// S reassembles before decryption (its raw ESP socket reads in batches).
//
//	go test -count=1 -run XXX -bench EoIPIPsecFullFrames -benchtime 1x ./test/ipsec
//
// Reported: median Gbit/s of each and full/auto.
func BenchmarkEoIPIPsecFullFrames(b *testing.B) {
	iketest.NeedRoot(b, "ip", "nsenter", "ping", "iperf3")
	r, s, nsR, nsS := eoipPair(b, "eob")
	for i, d := range []*daemon{r, s} {
		local, remote := []string{"1", "2"}[i], []string{"2", "1"}[i]
		d.script(`/interface eoip add name=eo1 local-address=198.18.61.` + local + ` remote-address=198.18.61.` + remote + ` tunnel-id=7 ipsec-secret=eoipsecret1
/ip address add address=198.19.218.` + local + `/30 interface=eo1
`)
	}
	across := func(what string) {
		if !iketest.WaitFor(60*time.Second, func() bool {
			return iketest.In(nsR, "ping", "-c", "1", "-W", "1", "198.19.218.2").Run() == nil
		}) {
			b.Fatalf("%s: no traffic across EoIP over IPsec:\n%s", what, r.script("/ip ipsec active-peers print detail\n/interface eoip print stats detail\n"))
		}
	}
	across("start")
	setMTU := func(v string) {
		for _, d := range []*daemon{r, s} {
			d.script("/interface eoip set eo1 mtu=" + v + "\n")
		}
		if !iketest.WaitFor(20*time.Second, func() bool {
			for _, d := range []*daemon{r, s} {
				m := strings.TrimSpace(d.script(":put [/interface eoip get eo1 actual-mtu]\n"))
				if (v == "1500") != (m == "1500") {
					return false
				}
			}
			return true
		}) {
			b.Fatalf("mtu=%s not applied:\n%s", v, r.script("/interface eoip print detail\n"))
		}
	}
	gbps := func() float64 {
		res, err := iketest.IperfTCP(b, nsS, "198.19.218.2", nsR, "198.19.218.1", 3)
		if err != nil {
			b.Fatalf("iperf3: %v\n%s", err, res.Output)
		}
		return float64(res.Bytes) * 8 / 3e9
	}
	var auto, full []float64
	for i := 0; i < b.N*3; i++ {
		setMTU("auto")
		auto = append(auto, gbps())
		setMTU("1500")
		full = append(full, gbps())
	}
	med := func(v []float64) float64 {
		s := append([]float64{}, v...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	b.ReportMetric(med(auto), "auto-Gbit/s")
	b.ReportMetric(med(full), "full-Gbit/s")
	b.ReportMetric(med(full)/med(auto), "full/auto")
	b.Logf("auto %v full %v", auto, full)
}
