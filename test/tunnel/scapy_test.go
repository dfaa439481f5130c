package tunnel

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestScapy: packets built by hand in scapy from the formats (GRE plain and with C and S
// bits, EoIP with its little-endian tunnel-id, IPIP, 6to4) sent into routerd's underlay
// decapsulate and arrive on the tunnel interfaces (each carries an echo request to the
// tunnel interface's address; the tunnel's rx counter moves), and routerd's encapsulated
// echo replies, captured on the underlay, parse in scapy (testdata/scapy_tunnels.py).
func TestScapy(t *testing.T) {
	need(t, "ip")
	if exec.Command("/usr/bin/python3", "-c", "import scapy.all").Run() != nil {
		t.Skip("needs python3-scapy (/usr/bin/python3)")
	}
	tp := newTopo(t)
	a := tp.ra
	a.must("/interface", "gre", "add", "name=g", "remote-address="+tp.addrB)
	a.must("/interface", "ipip", "add", "name=i", "remote-address="+tp.addrB)
	a.must("/interface", "eoip", "add", "name=e", "tunnel-id=77", "remote-address="+tp.addrB)
	a.must("/interface", "6to4", "add", "name=s")
	waitLink(t, tp.a, "g", "i", "e", "s")
	for _, x := range [][2]string{{"198.19.1.1/30", "g"}, {"198.19.2.1/30", "i"}, {"198.19.4.1/24", "e"}} {
		run(t, "ip", "-n", tp.a, "addr", "add", x[0], "dev", x[1])
	}
	run(t, "ip", "-n", tp.a, "addr", "add", "2002:c612:1::/128", "dev", "s", "nodad")
	run(t, "ip", "-n", tp.a, "route", "add", "2002::/16", "dev", "s")
	// The LAN host behind the EoIP tunnel is the scapy frame's source.
	run(t, "ip", "-n", tp.a, "neigh", "add", "198.19.4.2", "lladdr", "02:00:00:00:00:42", "dev", "e", "nud", "permanent")
	mac := func(ifname string) string {
		m := regexp.MustCompile(`link/ether (\S+)`).FindStringSubmatch(run(t, "ip", "-n", tp.a, "link", "show", ifname))
		if m == nil {
			t.Fatalf("no MAC on %s", ifname)
		}
		return m[1]
	}
	script, _ := filepath.Abs("testdata/scapy_tunnels.py")
	out, err := exec.Command("ip", "netns", "exec", tp.b, "/usr/bin/python3", script,
		tp.ub, tp.addrB, tp.addrA, mac(tp.ua), mac("e")).CombinedOutput()
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, out)
	}
	for _, k := range []string{"gre", "gre-csum-seq", "ipip", "eoip", "6to4"} {
		if !strings.Contains(string(out), "ok "+k+"\n") {
			t.Errorf("%s: no parsed answer", k)
		}
	}
	if strings.Contains(string(out), "FAIL") {
		t.Errorf("scapy:\n%s", out)
	}
	// /interface print shows the tunnel's type, print stats the dataplane's counters.
	detail := a.must("/interface", "print", "detail", "where", "name=g")
	stats := a.must("/interface", "print", "stats", "detail", "where", "name=g")
	if !strings.Contains(detail, `type="gre-tunnel"`) || !regexp.MustCompile(`rx-packet=[1-9]`).MatchString(stats) {
		t.Errorf("/interface print detail and stats for g:\n%s\n%s", detail, stats)
	}
	for _, menu := range []string{"gre", "ipip", "eoip", "6to4"} {
		if m := regexp.MustCompile(`rx-packet=(\d+)`).FindStringSubmatch(printStats(a, menu)); m == nil || m[1] == "0" {
			t.Errorf("%s: rx-packet %v after scapy's packets:\n%s", menu, m, printStats(a, menu))
		}
	}
}
