package firewall

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
)

// TestConnectionPrint: /ip firewall connection shows RouterOS's columns and formats: the
// table has ORIG-RATE and REPL-RATE, print detail writes counters in groups of digits
// unquoted (orig-bytes=1 804) and rates with their unit (orig-rate=822.4kbps), measured
// while a flood of pings crosses the router; where compares them as numbers, count-only
// counts, and the API, REST and scripts get plain numbers (bits per second for rates).
func TestConnectionPrint(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	// Accounting is on in routerd's own namespace (applyTracking); the engine of a test
	// writes no sysctls of the process's.
	sh(t, "ip", "netns", "exec", tp.r, "sysctl", "-qw", "net.netfilter.nf_conntrack_acct=1")
	// The flood (~800 kbit/s each way) runs until the test ends, so that every rate below
	// is measured within it however slowly a loaded machine gets through the test; -w
	// ends a ping the cleanup missed.
	flood := exec.Command("ip", "netns", "exec", tp.c, "ping", "-q", "-w", "300", "-i", "0.01", "-s", "1000", "198.19.2.2")
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flood.Process.Kill(); flood.Wait() })
	// The first prints may come before the flood has started, or sample the connection
	// first (its rate shows after a second sample): wait until a print shows the rates.
	groups := regexp.MustCompile(`orig-bytes=\d{1,3}( \d{3})+ `)
	rates := regexp.MustCompile(`orig-rate=(\d+(\.\d)?)(bps|kbps|Mbps) repl-rate=(\d+(\.\d)?)(bps|kbps|Mbps)`)
	var out string
	var m []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out = r.run(t, `/ip firewall connection print detail where protocol=icmp`)
		m = rates.FindStringSubmatch(out)
		if m != nil && m[3] != "bps" && m[6] != "bps" && groups.MatchString(out) || time.Now().After(deadline) {
			break
		}
	}
	if !groups.MatchString(out) || strings.Contains(out, `orig-bytes="`) {
		t.Errorf("orig-bytes not in groups of digits, unquoted:\n%s", out)
	}
	if !strings.Contains(out, `protocol=icmp src-address=198.18.1.2 dst-address=198.19.2.2`) || !regexp.MustCompile(`timeout=\d+s`).MatchString(out) {
		t.Errorf("words quoted:\n%s", out)
	}
	if m == nil || m[3] == "bps" || m[6] == "bps" {
		t.Errorf("rates of a flood of ~800 kbit/s each way:\n%s", out)
	}
	table := r.run(t, `/ip firewall connection print where protocol=icmp`)
	if !strings.Contains(table, "Columns: PROTOCOL, SRC-ADDRESS, DST-ADDRESS, TCP-STATE, TIMEOUT, ORIG-RATE, REPL-RATE, ORIG-PACKETS, REPL-PACKETS, ORIG-BYTES, REPL-BYTES") {
		t.Errorf("table:\n%s", table)
	}
	for src, want := range map[string]string{
		`:put [:len [/ip firewall connection find where protocol=icmp and orig-bytes>10000 and orig-rate>100000]]`: "1",
		`:put [:len [/ip firewall connection find where protocol=icmp and orig-packets>1000000]]`:                  "0",
	} {
		if got := strings.TrimSpace(r.run(t, src)); got != want {
			t.Errorf("%s: %s, want %s", src, got, want)
		}
	}
	if got := strings.TrimSpace(r.run(t, `/ip firewall connection print count-only where protocol=icmp`)); got != "1" {
		t.Errorf("count-only: %q", got)
	}
	// Scripts, the API and REST get the plain numbers.
	if v := strings.TrimSpace(r.run(t, `:put [/ip firewall connection get [find protocol=icmp] orig-bytes]`)); !regexp.MustCompile(`^\d+$`).MatchString(v) {
		t.Errorf("get orig-bytes: %q", v)
	}
	m2, _ := r.ex.Tree.Get(ConnPath)
	rows, err := r.ex.Rows(context.Background(), &control.Session{User: "admin"}, m2, false)
	if err != nil {
		t.Fatal(err)
	}
	plain := regexp.MustCompile(`^\d+$`)
	for _, row := range rows {
		if row.Props["protocol"] != "icmp" {
			continue
		}
		for _, k := range []string{"orig-bytes", "repl-bytes", "orig-packets", "repl-packets", "orig-rate", "repl-rate"} {
			if !plain.MatchString(row.Props[k]) {
				t.Errorf("API value of %s: %q", k, row.Props[k])
			}
		}
	}
}
