package netlink

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pair makes namespaces r (routerd's, with link rl) and h (a host, with eth0 at the
// given IPv4 and IPv6 addresses), joined by a veth.
func pair(t *testing.T, tag, rl, h4, h6 string) (string, string) {
	t.Helper()
	rn, hn := netns(t, tag+"r"), netns(t, tag+"h")
	veth(t, rn, rl, hn, "eth0")
	run(t, "ip", "-n", hn, "addr", "add", h4, "dev", "eth0")
	run(t, "ip", "-n", hn, "addr", "add", h6, "dev", "eth0", "nodad")
	run(t, "ip", "-n", hn, "link", "set", "eth0", "up")
	run(t, "ip", "-n", rn, "link", "set", rl, "up")
	return rn, hn
}

var (
	pingReply   = regexp.MustCompile(`(?m)^ +(\d+) (\S+) +(\d+) +(\d+) (\d+(?:ms)?(?:\d+us)?)$`)
	pingTimeout = regexp.MustCompile(`(?m)^ +\d+ (\S+) +timeout$`)
	pingSum     = regexp.MustCompile(`(?m)^    sent=(\d+) received=(\d+) packet-loss=(\d+)%( min-rtt=\S+ avg-rtt=\S+ max-rtt=\S+)?$`)
)

// summary returns sent, received and loss of a ping output, failing without one.
func summary(t *testing.T, out string) (int, int, int, bool) {
	t.Helper()
	m := pingSum.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	c, _ := strconv.Atoi(m[3])
	return a, b, c, m[4] != ""
}

// TestPing runs /ping from routerd's namespace: replies over IPv4 and IPv6 with size,
// count and interval, the source address and interface it is told, timeouts for an
// address nobody has, refusals of bad input, and lines written as they come.
func TestPing(t *testing.T) {
	need(t)
	rn, hn := pair(t, "p", "sfp28-1", "198.18.20.2/24", "2001:db8:20::2/64")
	r := startRouter(t, rn, t.TempDir())
	r.must("/ip address add address=198.18.20.1/24 interface=sfp28-1")
	r.must("/ip address add address=198.18.20.3/24 interface=sfp28-1")
	r.must("/ipv6 address add address=2001:db8:20::1/64 advertise=no interface=sfp28-1 no-dad=yes")
	eventually(t, "addresses", func() (bool, string) {
		a := addrs(t, rn)
		return has(a, "sfp28-1 198.18.20.3/24") && has(a, "sfp28-1 2001:db8:20::1/64"), strings.Join(a, " ")
	})

	out := r.must("/ping 198.18.20.2 count=3 interval=200ms size=100")
	if !strings.HasPrefix(out, "  SEQ HOST") || !strings.Contains(out, "SIZE TTL TIME") {
		t.Errorf("no column header:\n%s", out)
	}
	reps := pingReply.FindAllStringSubmatch(out, -1)
	if len(reps) != 3 {
		t.Fatalf("want 3 reply lines:\n%s", out)
	}
	for i, m := range reps {
		if m[1] != strconv.Itoa(i) || m[2] != "198.18.20.2" || m[3] != "100" || m[4] != "64" {
			t.Errorf("reply line %d: %q", i, m[0])
		}
	}
	if s, rcv, loss, rtt := summary(t, out); s != 3 || rcv != 3 || loss != 0 || !rtt {
		t.Errorf("summary:\n%s", out)
	}

	out = r.must("/ping 2001:db8:20::2 count=2 interval=100ms")
	if len(pingReply.FindAllString(out, -1)) != 2 || !strings.Contains(out, " 2001:db8:20::2 ") {
		t.Errorf("IPv6 replies:\n%s", out)
	}
	if s, rcv, loss, _ := summary(t, out); s != 2 || rcv != 2 || loss != 0 {
		t.Errorf("IPv6 summary:\n%s", out)
	}

	// src-address: the host answers .3, so it learns .3's MAC (nothing else used .3).
	if n := run(t, "ip", "-n", hn, "neigh", "show", "198.18.20.3"); strings.TrimSpace(n) != "" {
		t.Fatalf("198.18.20.3 already known to the host: %s", n)
	}
	out = r.must("/ping 198.18.20.2 count=1 src-address=198.18.20.3")
	if _, rcv, _, _ := summary(t, out); rcv != 1 {
		t.Errorf("ping from src-address:\n%s", out)
	}
	if n := run(t, "ip", "-n", hn, "neigh", "show", "198.18.20.3"); !strings.Contains(n, "198.18.20.3") {
		t.Errorf("echo did not come from src-address 198.18.20.3 (host neighbours: %q)", n)
	}
	// interface: bound to sfp28-1 it gets replies; bound to lo it cannot reach the host.
	if _, rcv, _, _ := summary(t, r.must("/ping 198.18.20.2 count=1 interface=sfp28-1")); rcv != 1 {
		t.Error("no reply with interface=sfp28-1")
	}
	out = r.must("/ping 198.18.20.2 count=1 interface=lo")
	if _, rcv, loss, _ := summary(t, out); rcv != 0 || loss != 100 {
		t.Errorf("interface=lo still reached the host:\n%s", out)
	}

	// Nobody has .99: every request times out, loss is 100% and no round trips show.
	out = r.must("/ping 198.18.20.99 count=2 interval=100ms")
	if len(pingTimeout.FindAllString(out, -1)) != 2 {
		t.Errorf("want 2 timeouts:\n%s", out)
	}
	if s, rcv, loss, rtt := summary(t, out); s != 2 || rcv != 0 || loss != 100 || rtt {
		t.Errorf("unreachable summary:\n%s", out)
	}

	for cmd, want := range map[string]string{
		"/ping 198.18.20.2 count=0":                    "invalid value for argument count",
		"/ping 198.18.20.2 count=x":                    "invalid value for argument count",
		"/ping 198.18.20.2 size=5":                     "invalid value for argument size",
		"/ping 198.18.20.2 interval=1ms":               "invalid value for argument interval",
		"/ping 198.18.20.2 src-address=2001:db8:20::1": "invalid value for argument src-address",
		"/ping 198.18.20.2 src-address=198.18.77.1":    "invalid value for argument src-address",
		"/ping 198.18.20.2 interface=nosuch0":          "input does not match any value of interface",
		"/ping":                                        "address",
	} {
		r.fails(cmd, want)
	}

	// Without a terminal (a substitution, like the API) the reply is the count received.
	if out := strings.TrimSpace(r.must(":put [/ping 198.18.20.2 count=2 interval=100ms]")); out != "2" {
		t.Errorf(":put [/ping ...] = %q, want 2", out)
	}

	// On a console the lines come as the replies do: the summary of three pings one second
	// apart comes at least a second after the first reply line (all at once if buffered).
	cmd := exec.Command(filepath.Join(binDir, "routerctl"), "--socket", r.Sock, "/ping 198.18.20.2 count=3 interval=1s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var first, last time.Time
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		switch line := sc.Text(); {
		case first.IsZero() && pingReply.MatchString(line):
			first = time.Now()
		case pingSum.MatchString(line):
			last = time.Now()
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if first.IsZero() || last.IsZero() || last.Sub(first) < time.Second {
		t.Errorf("ping lines not streamed: first reply at %v, summary at %v", first, last)
	}
}

// monitorSample parses one monitor-traffic block ("name: value" lines).
func monitorSample(out string) map[string]int64 {
	m := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			m[k] = n
		}
	}
	return m
}

// TestMonitorTraffic floods echo requests of a known size at routerd's link and checks
// the rates monitor-traffic reports, once and as a stream until duration= ends.
func TestMonitorTraffic(t *testing.T) {
	need(t)
	rn, hn := pair(t, "m", "ether2", "198.18.21.2/24", "2001:db8:21::2/64")
	r := startRouter(t, rn, t.TempDir())
	r.must("/ip address add address=198.18.21.1/24 interface=ether2")
	eventually(t, "address", func() (bool, string) {
		return has(addrs(t, rn), "ether2 198.18.21.1/24"), ""
	})
	// 1000-byte payload: 1042 bytes a frame on the wire (14 Ethernet + 20 IP + 8 ICMP).
	flood := exec.Command("ip", "netns", "exec", hn, "ping", "-q", "-i", "0.005", "-s", "1000", "-w", "30", "198.18.21.1")
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { flood.Process.Kill(); flood.Wait() })

	s := monitorSample(r.must("/interface monitor-traffic ether2 once"))
	for _, dir := range []string{"rx", "tx"} {
		pps, bps := s[dir+"-packets-per-second"], s[dir+"-bits-per-second"]
		// The flood sends at most 200 a second; the sample is over one second.
		if pps < 20 || pps > 400 {
			t.Errorf("%s-packets-per-second = %d, want about 200", dir, pps)
		}
		if pps > 0 && (bps/pps < 8*1000 || bps/pps > 8*1100) {
			t.Errorf("%s: %d bits/s for %d packets/s, want about %d bits a packet", dir, bps, pps, 8*1042)
		}
	}
	if !strings.Contains(r.must("/interface monitor-traffic ether2 once"), "name: ether2") {
		t.Error("no name line")
	}

	out := r.must("/interface monitor-traffic ether2 interval=500ms duration=2s")
	if n := strings.Count(out, "rx-bits-per-second:"); n < 2 || n > 4 {
		t.Errorf("want 2..4 samples in 2s at 500ms:\n%s", out)
	}
	for _, block := range strings.Split(strings.TrimSpace(out), "\n\n") {
		if s := monitorSample(block); s["rx-packets-per-second"] == 0 || s["tx-bits-per-second"] == 0 {
			t.Errorf("a streamed sample without traffic:\n%s", block)
		}
	}
	r.fails("/interface monitor-traffic nosuch0 once", "input does not match any value of interface")
	r.fails("/interface monitor-traffic ether2 once interval=0s", "invalid value for argument interval")
}

type brLink struct {
	IfName   string `json:"ifname"`
	Isolated bool   `json:"isolated"`
	Cost     int    `json:"cost"`
	Priority int    `json:"priority"`
	Master   string `json:"master"`
	LinkInfo struct {
		InfoData struct {
			McastRouter int `json:"mcast_router"`
		} `json:"info_data"`
	} `json:"linkinfo"`
}

// TestBridgeOptions: multicast-router as the kernel's mcast_router, horizon as bridge
// port isolation (checked with traffic), and frame-types where the kernel can or cannot
// apply it.
func TestBridgeOptions(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("bridge"); err != nil {
		t.Skip("needs bridge (iproute2)")
	}
	rn := netns(t, "o")
	var hosts []string
	for i, port := range []string{"sfp28-1", "sfp28-2", "ether2"} {
		h := netns(t, "o"+strconv.Itoa(i))
		hosts = append(hosts, h)
		veth(t, rn, port, h, "eth0")
		run(t, "ip", "-n", h, "addr", "add", "198.18.22."+strconv.Itoa(i+1)+"/24", "dev", "eth0")
		run(t, "ip", "-n", h, "link", "set", "eth0", "up")
	}
	r := startRouter(t, rn, t.TempDir())
	mcastRouter := func() int {
		var v []brLink
		if err := json.Unmarshal([]byte(run(t, "ip", "-n", rn, "-d", "-j", "link", "show", "bridge1")), &v); err != nil || len(v) != 1 {
			t.Fatalf("ip -d -j link show bridge1: %v", err)
		}
		return v[0].LinkInfo.InfoData.McastRouter
	}
	r.must("/interface bridge add name=bridge1 multicast-router=permanent protocol-mode=none")
	eventually(t, "mcast_router permanent", func() (bool, string) {
		return exec.Command("ip", "-n", rn, "link", "show", "bridge1").Run() == nil && mcastRouter() == 2, "not 2"
	})
	r.must("/interface bridge set bridge1 multicast-router=disabled")
	eventually(t, "mcast_router disabled", func() (bool, string) { return mcastRouter() == 0, "not 0" })
	r.must("/interface bridge unset bridge1 multicast-router")
	eventually(t, "mcast_router temporary-query", func() (bool, string) { return mcastRouter() == 1, "not 1" })
	r.fails("/interface bridge set bridge1 multicast-router=sometimes", "")
	r.fails("/interface bridge port add bridge=bridge1 interface=ether2 horizon=x", "")

	r.must("/interface bridge port add bridge=bridge1 interface=sfp28-1 horizon=1")
	r.must("/interface bridge port add bridge=bridge1 interface=sfp28-2 horizon=1")
	r.must("/interface bridge port add bridge=bridge1 interface=ether2")
	r.must("/interface enable sfp28-1,sfp28-2,ether2")
	ports := func() map[string]brLink {
		var v []brLink
		if err := json.Unmarshal([]byte(run(t, "bridge", "-n", rn, "-d", "-j", "link", "show")), &v); err != nil {
			t.Fatal(err)
		}
		out := map[string]brLink{}
		for _, p := range v {
			if p.Master == "bridge1" {
				out[p.IfName] = p
			}
		}
		return out
	}
	eventually(t, "ports isolated by horizon", func() (bool, string) {
		p := ports()
		return len(p) == 3 && p["sfp28-1"].Isolated && p["sfp28-2"].Isolated && !p["ether2"].Isolated, run(t, "bridge", "-n", rn, "-d", "link")
	})
	ping := func(from int, to string) bool {
		return exec.Command("ip", "netns", "exec", hosts[from], "ping", "-c1", "-W1", to).Run() == nil
	}
	if ping(0, "198.18.22.2") {
		t.Error("sfp28-1 reaches sfp28-2 though both have horizon=1")
	}
	if !ping(0, "198.18.22.3") || !ping(1, "198.18.22.3") {
		t.Error("horizon ports do not reach ether2 (no horizon)")
	}

	// A second horizon value on the same bridge: the kernel has one isolation group.
	r.must("/interface bridge port set [find interface=sfp28-2] horizon=2")
	eventually(t, "second horizon invalid", func() (bool, string) {
		out := r.must("/interface bridge port print detail where interface=sfp28-2")
		_, enslaved := ports()["sfp28-2"]
		return strings.Contains(out, "bridge1 already uses horizon 1") && !enslaved, out
	})
	r.must("/interface bridge port unset [find interface=sfp28-2] horizon")
	eventually(t, "horizon none: not isolated", func() (bool, string) {
		p, ok := ports()["sfp28-2"]
		return ok && !p.Isolated, run(t, "bridge", "-n", rn, "-d", "link")
	})
	eventually(t, "sfp28-1 (horizon 1) reaches sfp28-2 (no horizon)", func() (bool, string) {
		return ping(0, "198.18.22.2"), run(t, "bridge", "-n", rn, "-d", "link")
	})

	// path-cost and priority are the kernel's port cost and priority (priority/4: the
	// same bits of the port identifier); internal-path-cost (MSTP) is stored only.
	r.must("/interface bridge port set [find interface=sfp28-1] path-cost=50 internal-path-cost=20 priority=0x40")
	eventually(t, "path cost 50, priority 16", func() (bool, string) {
		p := ports()["sfp28-1"]
		return p.Cost == 50 && p.Priority == 16, run(t, "bridge", "-n", rn, "-d", "link")
	})
	// Only internal-path-cost is named as having no effect (path-cost and priority are applied).
	if out := r.must("/interface bridge port print detail where interface=sfp28-1"); !strings.Contains(out, `status="no effect here: internal-path-cost (no MSTP here)"`) {
		t.Errorf("status of a port with path-cost, priority and internal-path-cost:\n%s", out)
	}
	if p := ports()["sfp28-2"]; p.Cost != 10 || p.Priority != 32 {
		t.Errorf("a port at the defaults: cost %d priority %d, want RouterOS's 10 and 128/4", p.Cost, p.Priority)
	}

	// frame-types: RouterOS ignores it without vlan-filtering, and so does the bridge.
	r.must("/interface bridge port set [find interface=ether2] frame-types=admit-only-vlan-tagged")
	eventually(t, "frame-types stored", func() (bool, string) {
		out := r.must("/interface bridge port print detail where interface=ether2")
		return strings.Contains(out, "frame-types=admit-only-vlan-tagged"), out
	})
	if out := r.must("/interface bridge port print detail where interface=ether2"); strings.Contains(out, "frame-types=admit-only-vlan-tagged needs") {
		t.Errorf("frame-types refused without vlan-filtering:\n%s", out)
	}
	r.must("/interface bridge set bridge1 vlan-filtering=yes")
	if vlanFilteringWorks(t) {
		// frame-types is applied through PVIDs there; TestBridge covers VLANs.
		return
	}
	eventually(t, "frame-types invalid without VLAN filtering in effect", func() (bool, string) {
		out := r.must("/interface bridge port print detail where interface=ether2")
		_, enslaved := ports()["ether2"]
		return strings.Contains(out, "needs vlan-filtering, which is not in effect on bridge1") && !enslaved, out
	})
}

// TestDynamicFlag: links routerd neither created nor configures show D; configuring one
// (or routerd creating it) takes the flag away.
func TestDynamicFlag(t *testing.T) {
	need(t)
	rn, _ := pair(t, "d", "ether2", "198.18.23.2/24", "2001:db8:23::2/64")
	run(t, "ip", "-n", rn, "link", "add", "ext0", "type", "veth", "peer", "name", "ext1")
	r := startRouter(t, rn, t.TempDir())
	r.must("/interface bridge add name=bridge1 protocol-mode=none")
	flags := func(name string) string {
		out := r.must("/interface print terse where name=" + name)
		f := strings.Fields(out)
		if len(f) < 2 || strings.Contains(f[1], "=") {
			return ""
		}
		return f[1]
	}
	eventually(t, "bridge1 listed", func() (bool, string) { return strings.Contains(r.must("/interface print"), "bridge1"), "" })
	for name, dyn := range map[string]bool{"ext0": true, "ext1": true, "ether2": true, "bridge1": false, "lo": false} {
		if got := strings.Contains(flags(name), "D"); got != dyn {
			t.Errorf("%s: flags %q, dynamic want %v", name, flags(name), dyn)
		}
	}
	r.must("/interface set ether2 comment=uplink")
	if f := flags("ether2"); strings.Contains(f, "D") {
		t.Errorf("ether2 configured but flags %q", f)
	}
	if out := r.must("/interface print"); !strings.Contains(out, "D - DYNAMIC") && !strings.Contains(out, "D - dynamic") {
		t.Errorf("no D legend:\n%s", out)
	}
}

// TestExportBridgeSettings: a bridge with its MTU set through /interface exports and
// imports into a fresh routerd and exports again the same.
func TestExportBridgeSettings(t *testing.T) {
	need(t)
	var exports []string
	for i, tag := range []string{"xa", "xb"} {
		rn, _ := pair(t, tag, "sfp28-1", "198.18.24.2/24", "2001:db8:24::2/64")
		run(t, "ip", "-n", rn, "link", "add", "ether2", "type", "veth", "peer", "name", "ether9")
		dir := t.TempDir()
		r := startRouter(t, rn, dir)
		if i == 0 {
			r.must("/interface bridge add name=bridge1 protocol-mode=none")
			r.must("/interface bridge port add bridge=bridge1 interface=sfp28-1")
			r.must("/interface set bridge1 mtu=1400")
			r.must("/interface set ether2 comment=spare mtu=1480")
			r.must("/ip address add address=198.18.24.1/24 interface=bridge1")
		} else {
			f := filepath.Join(dir, "in.rsc")
			if err := os.WriteFile(f, []byte(exports[0]), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := r.ctl("-f", f); err != nil {
				t.Fatalf("import: %v\n%s\n%s", err, out, exports[0])
			}
		}
		eventually(t, "bridge1 mtu 1400 in the kernel", func() (bool, string) {
			out, _ := exec.Command("ip", "-n", rn, "-j", "link", "show", "bridge1").CombinedOutput()
			return strings.Contains(string(out), `"mtu":1400`), string(out)
		})
		out := r.must("/export")
		exports = append(exports, out[strings.Index(out, "\n")+1:]) // less the dated header
	}
	if exports[0] != exports[1] {
		t.Errorf("export after import differs:\n%s\n---\n%s", exports[0], exports[1])
	}
	if !regexp.MustCompile(`(?m)^add .*mtu=1400 name=bridge1`).MatchString(exports[0]) ||
		strings.Contains(exports[0], "name=bridge1 ]") {
		t.Errorf("bridge1's mtu not on the line that creates it:\n%s", exports[0])
	}
}
