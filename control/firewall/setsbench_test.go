package firewall

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// crossProductText is issue 15's rule as routerd compiled it before its lists became
// sets (main 75c2c11): the cross product of exclusive alternatives, one kernel rule per
// (interface, source port, destination port), each testing the earlier alternatives
// false: 450 rules of up to ~110 expressions. In its own table at mangle's priority.
func crossProductText(ifaces []string, sports, dports []int) string {
	var b strings.Builder
	b.WriteString("table ip cross {\ncounter c { }\nchain prerouting {\ntype filter hook prerouting priority mangle; policy accept;\n")
	for i, ifc := range ifaces {
		for j, sp := range sports {
			for k, dp := range dports {
				b.WriteString("meta l4proto tcp")
				for _, p := range ifaces[:i] {
					fmt.Fprintf(&b, " iifname != %q", p)
				}
				fmt.Fprintf(&b, " iifname %q", ifc)
				for _, p := range sports[:j] {
					fmt.Fprintf(&b, " tcp sport != %d-%d", p, p)
				}
				fmt.Fprintf(&b, " tcp sport %d-%d", sp, sp)
				for _, p := range dports[:k] {
					fmt.Fprintf(&b, " tcp dport != %d-%d", p, p)
				}
				fmt.Fprintf(&b, " tcp dport %d-%d counter name c meta mark set meta mark & 0xffff0000 | 0x00000001\n", dp, dp)
			}
		}
	}
	b.WriteString("}\n}\n")
	return b.String()
}

// TestBenchListRule: TCP throughput client -> server through the router with issue 15's
// rule in mangle prerouting, as routerd compiles it now (one kernel rule: its port lists
// are ranges, its interface list a set) beside the 450-rule cross product it compiled to
// before, and no rule, interleaved in the same run (two rounds, 3 s each).
//
//	go test ./control/firewall/ -run TestBenchListRule -firewall.bench -v
func TestBenchListRule(t *testing.T) {
	tp, k := throughputRig(t)
	ifaces := []string{"x1", "x2", "lan"} // the client's traffic enters on the last
	var sports, dports []int
	for i := 1; i <= 15; i++ {
		dports = append(dports, i)
	}
	for i := 21; i <= 30; i++ {
		sports = append(sports, i)
	}
	f := filepath.Join(t.TempDir(), "cross.nft")
	if err := os.WriteFile(f, []byte(crossProductText(ifaces, sports, dports)), 0o644); err != nil {
		t.Fatal(err)
	}
	props := []string{"chain", "prerouting", "action", "mark-packet", "new-packet-mark", "x", "passthrough", "yes",
		"protocol", "tcp", "in-interface-list", "WAN", "dst-port", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15",
		"src-port", "21,22,23,24,25,26,27,28,29,30"}
	pl := Compile(Config{IfLists: func(string) []string { return ifaces }, Rules: []*Rule{rule(1, "mangle", props...)}})
	if len(pl.Invalid) != 0 {
		t.Fatal(pl.Invalid)
	}
	rate := func() float64 { return tcpRate(t, tp) }
	counts := map[string]int{}
	sum := map[string]float64{}
	var runs []string
	load0 := loadAverage()
	for round := 0; round < 2; round++ {
		v := rate()
		sum["none"] += v
		runs = append(runs, fmt.Sprintf("none %.0f", v))
		if err := k.Apply(pl, nil); err != nil {
			t.Fatal(err)
		}
		rs := ruleset(t, tp)
		counts["sets"] = strings.Count(rs, "counter name")
		v = rate()
		sum["sets"] += v
		runs = append(runs, fmt.Sprintf("sets %.0f", v))
		if err := k.Apply(&Plan{}, nil); err != nil {
			t.Fatal(err)
		}
		sh(t, "ip", "netns", "exec", tp.r, "nft", "-f", f)
		rs = ruleset(t, tp)
		counts["cross"] = strings.Count(rs, "counter name")
		v = rate()
		sum["cross"] += v
		runs = append(runs, fmt.Sprintf("cross %.0f", v))
		sh(t, "ip", "netns", "exec", tp.r, "nft", "delete", "table", "ip", "cross")
	}
	t.Logf("runs (Mbit/s): %s", strings.Join(runs, ", "))
	t.Logf("issue 15's rule, TCP client->server through the router, mean of 2 x 3 s: no rule %.0f Mbit/s; "+
		"as compiled now (%d kernel rule) %.0f Mbit/s; as the cross product (%d kernel rules) %.0f Mbit/s; load %s -> %s",
		sum["none"]/2, counts["sets"], sum["sets"]/2, counts["cross"], sum["cross"]/2, load0, loadAverage())
}
