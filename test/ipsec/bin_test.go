package ipsec_test

import (
	"bufio"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
	"github.com/routerd/routerd/test/testbin"
)

// metricsAddr is where startBin's routerd serves /metrics inside its namespace.
const metricsAddr = "127.0.0.1:9464"

// startBin runs the routerd binary in ns (console through routerctl) with its metrics
// on metricsAddr there; data, when not "", is its data dir (kept across restarts).
func startBin(t *testing.T, ns, data string, args ...string) *testbin.Router {
	t.Helper()
	return testbin.Start(t, binDir, testbin.Options{Netns: ns, Data: data, Metrics: metricsAddr, Args: args})
}

// scrape reads routerd's /metrics in ns: sample (name{labels}) -> value, and the TYPE
// of each family.
func scrape(t *testing.T, ns string) (map[string]float64, map[string]string) {
	t.Helper()
	out, err := iketest.In(ns, "curl", "-sf", "http://"+metricsAddr+"/metrics").Output()
	if err != nil {
		t.Fatalf("scraping /metrics: %v", err)
	}
	vals, types := map[string]float64{}, map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(f, " "); ok {
				types[name] = typ
			}
			continue
		}
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			vals[line[:i]] = v
		}
	}
	return vals, types
}

// TestESPMetricsCounters: the ESP traffic metrics are counters of bytes and packets per
// direction, scraped from the routerd binary's /metrics while charon is the peer; they
// never go back when the SAs are removed (installed-sa flush, as at every rekey) and
// count the new SAs' traffic on top.
func TestESPMetricsCounters(t *testing.T) {
	iketest.NeedRoot(t, "curl")
	tp := newTopo(t, false)
	s := matrix[3]
	iketest.StartCharon(t, tp.nsS, tp.swanctl(s))
	r := startBin(t, tp.nsR, "")
	r.Script("/ip address add address=198.18.50.1/24 interface=wan\n" + tp.routerdConfig(s, false))
	if !iketest.WaitFor(20*time.Second, func() bool { return strings.Contains(r.Must("/ip ipsec policy print"), "established") }) {
		t.Fatalf("no phase 2:\n%s", r.Must("/ip ipsec active-peers print detail"))
	}
	ping := func(n int) {
		t.Helper()
		if err := iketest.In(tp.nsR, "ping", "-c", strconv.Itoa(n), "-i", "0.05", "-W", "2", "-I", "198.19.101.1", "198.19.102.1").Run(); err != nil {
			t.Fatalf("ping: %v\n%s", err, r.Must("/ip ipsec installed-sa print detail"))
		}
	}
	ping(10)
	v1, types := scrape(t, tp.nsR)
	for _, fam := range []string{"routerd_ipsec_esp_bytes_total", "routerd_ipsec_esp_packets_total"} {
		if types[fam] != "counter" {
			t.Errorf("%s is %q, want counter", fam, types[fam])
		}
	}
	for _, k := range []string{`routerd_ipsec_esp_packets_total{dir="in"}`, `routerd_ipsec_esp_packets_total{dir="out"}`} {
		if v1[k] < 10 {
			t.Fatalf("%s = %v after 10 pings", k, v1[k])
		}
	}
	if v1[`routerd_ipsec_esp_bytes_total{dir="out"}`] < 10*84 {
		t.Fatalf("bytes out %v after 10 pings of 84 bytes", v1[`routerd_ipsec_esp_bytes_total{dir="out"}`])
	}
	// The SAs go; the counters stay, and the new SAs' traffic adds to them.
	r.Must("/ip ipsec installed-sa flush")
	if !iketest.WaitFor(20*time.Second, func() bool {
		return iketest.In(tp.nsR, "ping", "-c", "1", "-W", "1", "-I", "198.19.101.1", "198.19.102.1").Run() == nil
	}) {
		t.Fatalf("no SA after the flush:\n%s", r.Must("/ip ipsec installed-sa print detail"))
	}
	ping(10)
	v2, _ := scrape(t, tp.nsR)
	for _, k := range []string{`routerd_ipsec_esp_packets_total{dir="in"}`, `routerd_ipsec_esp_packets_total{dir="out"}`,
		`routerd_ipsec_esp_bytes_total{dir="in"}`, `routerd_ipsec_esp_bytes_total{dir="out"}`} {
		min := v1[k] + 10
		if strings.Contains(k, "bytes") {
			min = v1[k] + 10*84
		}
		if v2[k] < min {
			t.Errorf("%s went from %v to %v across a flush and 10 more pings (want at least %v)", k, v1[k], v2[k], min)
		}
	}
}
