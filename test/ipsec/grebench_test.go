package ipsec_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// BenchmarkGREIPsecVsSiteToSite: iperf3 TCP R to S through routerd's userspace ESP path
// on the same two routerd, alternating 3 s runs of each way in the same run: GRE with
// ipsec-secret (transport-mode ESP of the GRE packets) at GRE's default mtu 1476, so
// that each full-size packet's ESP is fragmented on the wire, as RouterOS does; the same
// GRE at mtu=1400, whose ESP packets fit the underlay; and a plain site-to-site
// tunnel-mode policy between two LAN addresses (ipsec0 sized from the underlay, nothing
// fragmented). All use aes-128-cbc/sha1 (the tunnels' phase 2) on raw ESP, over separate
// underlay addresses so that each has its own peer.
//
//	go test -count=1 -run XXX -bench GREIPsecVsSiteToSite -benchtime 1x ./test/ipsec
//
// Reported: median Mbit/s of each, gre/s2s and gre1400/s2s; logged: each run, and the
// retransmits and both ESP devices' TX drops of each way summed over its runs.
func BenchmarkGREIPsecVsSiteToSite(b *testing.B) {
	iketest.NeedRoot(b, "ip", "nsenter", "ping", "iperf3")
	nsR, nsS := iketest.NS(b, "gbr"), iketest.NS(b, "gbs")
	iketest.Veth(b, nsR, "ether1", "", nsS, "ether1", "")
	r, s := startDaemon(b, nsR), startDaemon(b, nsS)
	for i, d := range []*daemon{r, s} {
		me, peer := []int{1, 2}[i], []int{2, 1}[i]
		d.script(fmt.Sprintf(`/ip address add address=198.18.63.%[1]d/24 interface=ether1
/ip address add address=198.18.64.%[1]d/24 interface=ether1
/interface gre add name=gre1 local-address=198.18.63.%[1]d remote-address=198.18.63.%[2]d ipsec-secret=grebench1
/ip address add address=198.19.221.%[1]d/30 interface=gre1
/interface bridge add name=lan
/ip address add address=198.19.%[3]d.1/24 interface=lan
/ip ipsec proposal add name=p enc-algorithms=aes-128-cbc auth-algorithms=sha1 pfs-group=none
/ip ipsec peer add name=s2s address=198.18.64.%[2]d/32 local-address=198.18.64.%[1]d exchange-mode=ike2
/ip ipsec identity add peer=s2s secret=s2sbench1
/ip ipsec policy add src-address=198.19.%[3]d.0/24 dst-address=198.19.%[4]d.0/24 tunnel=yes proposal=p peer=s2s
`, me, peer, 221+me, 221+peer))
	}
	paths := []struct {
		name, from, to string
	}{
		{"gre", "198.19.221.1", "198.19.221.2"},
		{"gre1400", "198.19.221.1", "198.19.221.2"},
		{"s2s", "198.19.222.1", "198.19.223.1"},
	}
	for _, p := range paths {
		if !iketest.WaitFor(60*time.Second, func() bool {
			return iketest.In(nsR, "ping", "-c", "1", "-W", "1", "-I", p.from, p.to).Run() == nil
		}) {
			b.Fatalf("%s: no traffic:\n%s", p.name, r.script("/ip ipsec active-peers print detail\n/ip ipsec policy print detail\n"))
		}
	}
	// drops are the TX drops of both ends' ESP devices (data one way, ACKs the other).
	drops := func() uint64 {
		var sum uint64
		for _, ns := range []string{nsR, nsS} {
			out, _ := exec.Command("ip", "-n", ns, "-s", "-j", "link", "show", "ipsec0").Output()
			var links []struct {
				Stats64 struct {
					TX struct{ Dropped uint64 }
				}
			}
			if json.Unmarshal(out, &links) == nil && len(links) == 1 {
				sum += links[0].Stats64.TX.Dropped
			}
		}
		return sum
	}
	res := map[string][]float64{}
	retr := map[string]uint64{}
	drop := map[string]uint64{}
	// R's ESP device's TX packets and bytes: how big what routerd reads from the TUN is.
	txPkts, txBytes := map[string]uint64{}, map[string]uint64{}
	for i := 0; i < b.N*3; i++ {
		for _, p := range paths {
			mtu := "1476" // GRE's default
			if p.name == "gre1400" {
				mtu = "1400"
			}
			for _, d := range []*daemon{r, s} {
				d.script("/interface gre set gre1 mtu=" + mtu + "\n")
			}
			if !iketest.WaitFor(20*time.Second, func() bool {
				return strings.TrimSpace(r.script(":put [/interface gre get gre1 actual-mtu]\n")) == mtu &&
					strings.TrimSpace(s.script(":put [/interface gre get gre1 actual-mtu]\n")) == mtu
			}) {
				b.Fatalf("gre1 mtu=%s not applied", mtu)
			}
			d0 := drops()
			tp0, tb0 := ipsec0TX(b, nsR)
			res0, err := iketest.IperfTCP(b, nsS, p.to, nsR, p.from, 3)
			if err != nil {
				b.Fatalf("%s: iperf3: %v\n%s", p.name, err, res0.Output)
			}
			tp1, tb1 := ipsec0TX(b, nsR)
			txPkts[p.name] += tp1 - tp0
			txBytes[p.name] += tb1 - tb0
			res[p.name] = append(res[p.name], float64(res0.Bytes)*8/3e6)
			retr[p.name] += res0.Retransmits
			drop[p.name] += drops() - d0
		}
	}
	med := func(v []float64) float64 {
		s := append([]float64{}, v...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	b.ReportMetric(med(res["gre"]), "gre-Mbit/s")
	b.ReportMetric(med(res["s2s"]), "s2s-Mbit/s")
	b.ReportMetric(med(res["gre1400"]), "gre1400-Mbit/s")
	b.ReportMetric(med(res["gre"])/med(res["s2s"]), "gre/s2s")
	b.ReportMetric(med(res["gre1400"])/med(res["s2s"]), "gre1400/s2s")
	for _, p := range paths {
		b.Logf("%s Mbit/s %.0f, retransmits %d, ipsec0 TX drops %d, R's ipsec0 TX %d bytes a packet", p.name, res[p.name],
			retr[p.name], drop[p.name], txBytes[p.name]/max(txPkts[p.name], 1))
	}
}
