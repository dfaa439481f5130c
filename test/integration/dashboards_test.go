package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	"github.com/routerd/routerd/control/api"
	"github.com/routerd/routerd/test/testbin"
)

// TestDashboardsAgainstPrometheus runs routerd in a network namespace of its own with a
// tunnel, a PTP instance and the IPsec engine, has Debian's Prometheus scrape it, and
// checks docs/monitoring: promtool accepts the alerting rules and routerd's exposition,
// and every query of every Grafana panel returns series.
func TestDashboardsAgainstPrometheus(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	for _, bin := range []string{"prometheus", "promtool", "ip", "curl"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not installed (see .ci/run)", bin)
		}
	}
	root, _ := filepath.Abs("../..")
	rules := filepath.Join(root, "docs/monitoring/alerts.yml")
	if out, err := exec.Command("promtool", "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}

	ns := testbin.Netns(t, "opdash", "")
	sh := func(args ...string) string { t.Helper(); return testbin.Run(t, args...) }
	sh("ip", "-n", ns, "link", "add", "vA", "type", "veth", "peer", "name", "vB")
	sh("ip", "-n", ns, "addr", "add", "198.18.70.1/24", "dev", "vA")
	sh("ip", "-n", ns, "addr", "add", "198.18.70.2/24", "dev", "vB")
	sh("ip", "-n", ns, "link", "set", "vA", "up")
	sh("ip", "-n", ns, "link", "set", "vB", "up")

	tmp := t.TempDir()
	const metrics = "127.0.0.1:19436"
	rd := testbin.Start(t, binDir, testbin.Options{Netns: ns, Metrics: metrics,
		Args: []string{"--service-bind", "127.0.0.1"}})
	rd.Script(`/interface gre add name=gre-dash local-address=198.18.70.1 remote-address=198.18.70.2 keepalive=1s,2
/system ptp add name=ptp-dash
/system ptp port add interface=vA ptp=ptp-dash
/ip service set www port=18080 disabled=no
/ip service set api port=18728 disabled=no
/user set admin password=dash-pass-1
`)
	// www listens once the service manager's pass has run.
	testbin.Eventually(t, "www on 18080", 0, func() (bool, string) {
		out, _ := testbin.In(ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:18080/").CombinedOutput()
		return len(out) > 0 && string(out) != "000", string(out)
	})
	// A login that fails and one that works, so the login counters have series.
	exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-u", "admin:wrong", "http://127.0.0.1:18080/rest/system/identity").Run()
	exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-u", "admin:dash-pass-1", "http://127.0.0.1:18080/rest/system/identity").Run()

	expo := sh("ip", "netns", "exec", ns, "curl", "-sf", "http://"+metrics+"/metrics")
	lint := exec.Command("promtool", "check", "metrics")
	lint.Stdin = strings.NewReader(expo)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}

	cfg := filepath.Join(tmp, "prometheus.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: routerd
    static_configs:
      - targets: [%q]
`, rules, metrics)), 0o644)
	const promAddr = "127.0.0.1:19090"
	plog := &strings.Builder{}
	prom := exec.Command("ip", "netns", "exec", ns, "prometheus", "--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(tmp, "tsdb"), "--web.listen-address="+promAddr)
	prom.Stdout, prom.Stderr = plog, plog
	if err := prom.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prom.Process.Kill(); prom.Wait() })

	query := func(q string) (int, string) {
		out, err := exec.Command("ip", "netns", "exec", ns, "curl", "-s", "-G",
			"http://"+promAddr+"/api/v1/query", "--data-urlencode", "query="+q).CombinedOutput()
		if err != nil {
			return -1, string(out)
		}
		var r struct {
			Status string
			Data   struct{ Result []json.RawMessage }
		}
		if json.Unmarshal(out, &r) != nil || r.Status != "success" {
			return -1, string(out)
		}
		return len(r.Data.Result), string(out)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "docs/monitoring/grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatal(err)
	}
	// rate() needs two scrapes in its window: give Prometheus some.
	deadline := time.Now().Add(40 * time.Second)
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for {
				n, out := query(tg.Expr)
				if n > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("panel %q: %s returns no series: %s", p.Title, tg.Expr, out)
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	if n, out := query(`up{job="routerd"}`); n != 1 {
		t.Fatalf("up: %s\n%s", out, plog)
	}

	// /system ptp monitor streams over the API: a tagged !re per interval until
	// /cancel, then the interrupted trap and !done under the tag.
	c := dialIn(t, ns, "127.0.0.1:18728")
	defer c.Close()
	r, w := api.NewReader(c), api.NewWriter(c)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	w.WriteSentence("/login", "=name=admin", "=password=dash-pass-1")
	if re, err := r.ReadSentence(); err != nil || re[0] != "!done" {
		t.Fatalf("login: %v %v", re, err)
	}
	w.WriteSentence("/system/ptp/monitor", "=numbers=ptp-dash", "=interval=200ms", ".tag=pm")
	for i := 0; i < 3; i++ {
		re, err := r.ReadSentence()
		if err != nil || re[0] != "!re" || !slices.Contains(re, ".tag=pm") {
			t.Fatalf("ptp monitor sample %d: %v %v", i, re, err)
		}
	}
	w.WriteSentence("/cancel", "=tag=pm", ".tag=c")
	var trap, done bool
	for !(trap && done) {
		re, err := r.ReadSentence()
		if err != nil {
			t.Fatal(err)
		}
		trap = trap || (re[0] == "!trap" && slices.Contains(re, ".tag=pm") && slices.Contains(re, "=message=interrupted"))
		done = done || (re[0] == "!done" && slices.Contains(re, ".tag=pm"))
	}
}

// dialIn connects to addr from inside network namespace ns; the socket stays there.
func dialIn(t *testing.T, ns, addr string) net.Conn {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		t.Fatal(err)
	}
	defer netns.Set(orig)
	var c net.Conn
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err = net.Dial("tcp", addr); err == nil {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s in %s: %v", addr, ns, err)
		}
	}
}
