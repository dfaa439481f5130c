package tunnel

import (
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// counter reads one counter of a tunnel from print stats detail.
func counter(t testing.TB, r *router, menu, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?:^|\s)` + regexp.QuoteMeta(name) + `=(\d+)`).FindStringSubmatch(printStats(r, menu))
	if m == nil {
		t.Fatalf("no %s in %s stats:\n%s", name, menu, printStats(r, menu))
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// pingDF sends count pings of size bytes of payload with DF set from a namespace and
// says whether all were answered.
func pingDF(netnsName, dst string, size, count int) (bool, string) {
	out, err := exec.Command("ip", "netns", "exec", netnsName, "ping", "-M", "do", "-s", strconv.Itoa(size),
		"-c", strconv.Itoa(count), "-i", "0.2", "-W", "2", dst).CombinedOutput()
	return err == nil, string(out)
}

// TestEoIPFullFrames: EoIP with mtu=1500, as the manual recommends for bridging, carries
// full 1500-byte frames over a 1500-byte underlay: the outer packets are fragmented
// (tshark sees the fragments on the wire) and reassembled at the far end. Hosts behind
// the two bridges ping each other with 1472 bytes of payload and DF set, and TCP runs
// at MSS 1460. dont-fragment=inherit then drops what DF forbids fragmenting, counted as
// frag-needed-drop, while smaller frames pass.
func TestEoIPFullFrames(t *testing.T) {
	need(t, "ping", "tshark", "iperf3")
	tp := newTopo(t)
	tp.ra.must("/interface", "eoip", "add", "name=eoip1", "tunnel-id=7", "mtu=1500", "remote-address="+tp.addrB)
	tp.rb.must("/interface", "eoip", "add", "name=eoip1", "tunnel-id=7", "mtu=1500", "remote-address="+tp.addrA)
	waitLink(t, tp.a, "eoip1")
	waitLink(t, tp.b, "eoip1")
	waitFor(t, "eoip1 applied", 10*time.Second, func() bool {
		return strings.Contains(printDetail(tp.ra, "eoip"), "actual-mtu=1500")
	})
	if d := strings.Join(strings.Fields(printDetail(tp.ra, "eoip")), " "); !strings.Contains(d, "mtu=1500 actual-mtu=1500 l2mtu=65535") {
		t.Errorf("eoip print:\n%s", d)
	}
	lan := func(router, host, addr string) {
		run(t, "ip", "netns", "add", host)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", host).Run() })
		run(t, "ip", "-n", host, "link", "set", "lo", "up")
		run(t, "ip", "link", "add", "lan", "netns", host, "type", "veth", "peer", "name", "ether2", "netns", router)
		run(t, "ip", "-n", router, "link", "set", "ether2", "up")
		run(t, "ip", "-n", host, "addr", "add", addr, "dev", "lan")
		run(t, "ip", "-n", host, "link", "set", "lan", "up")
	}
	l1, l2 := tp.p+"L1", tp.p+"L2"
	lan(tp.a, l1, "198.19.10.1/24")
	lan(tp.b, l2, "198.19.10.2/24")
	for _, r := range []*router{tp.ra, tp.rb} {
		r.must("/interface", "bridge", "add", "name=bridge1", "protocol-mode=none") // no STP wait: the test is about the MTU
		r.must("/interface", "bridge", "port", "add", "bridge=bridge1", "interface=ether2")
		r.must("/interface", "bridge", "port", "add", "bridge=bridge1", "interface=eoip1")
	}
	waitFor(t, "eoip1 to be a bridge port", 10*time.Second, func() bool {
		return strings.Contains(run(t, "ip", "-n", tp.a, "link", "show", "eoip1"), "master bridge1") &&
			strings.Contains(run(t, "ip", "-n", tp.b, "link", "show", "eoip1"), "master bridge1")
	})
	ping(t, l1, "198.19.10.2")

	// 1472 bytes of ICMP payload: a 1500-byte IP packet in a 1514-byte frame, a
	// 1542-byte outer packet on a 1500-byte underlay.
	var ok bool
	var out string
	lines := capture(t, tp.a, tp.ua, "ip proto 47", []string{"ip.len", "ip.flags.mf", "ip.frag_offset", "ip.flags.df"}, func() {
		ok, out = pingDF(l1, "198.19.10.2", 1472, 5)
	})
	if !ok {
		t.Fatalf("1472-byte DF pings across EoIP mtu=1500:\n%s\n%s\n%s", out, printStats(tp.ra, "eoip"), printStats(tp.rb, "eoip"))
	}
	first, rest := 0, 0
	for _, l := range lines {
		f := strings.Split(l, "|")
		if len(f) < 4 {
			continue
		}
		n, _ := strconv.Atoi(f[0])
		if n > 1500 {
			t.Errorf("an outer packet of %d bytes on a 1500-byte underlay: %s", n, l)
		}
		if f[1] == "1" || f[1] == "True" {
			first++
		} else if f[2] != "" && f[2] != "0" {
			rest++
		}
	}
	if first < 10 || rest < 10 {
		t.Errorf("want the 5 requests and 5 replies in two fragments each on the wire, saw %d first and %d later fragments:\n%s",
			first, rest, strings.Join(lines, "\n"))
	}
	if n := counter(t, tp.ra, "eoip", "tx-fragmented"); n < 5 {
		t.Errorf("tx-fragmented on A: %d, want >= 5", n)
	}
	if n := counter(t, tp.rb, "eoip", "rx-reassembled"); n < 5 {
		t.Errorf("rx-reassembled on B: %d, want >= 5", n)
	}
	// Full-size TCP segments (MSS 1460) take the same way.
	if gbps := iperf(t, l1, l2, "198.19.10.2", 2); gbps <= 0 {
		t.Errorf("iperf3 across EoIP mtu=1500: %v Gbit/s", gbps)
	} else {
		t.Logf("iperf3 TCP across EoIP mtu=1500, every full frame fragmented and reassembled: %.2f Gbit/s", gbps)
	}

	// dont-fragment=inherit: DF on the inner packet forbids the fragmentation.
	tp.ra.must("/interface", "eoip", "set", "eoip1", "dont-fragment=inherit")
	waitFor(t, "dont-fragment=inherit applied", 10*time.Second, func() bool {
		before := counter(t, tp.ra, "eoip", "frag-needed-drop")
		pingDF(l1, "198.19.10.2", 1472, 1)
		return counter(t, tp.ra, "eoip", "frag-needed-drop") > before
	})
	if ok, out := pingDF(l1, "198.19.10.2", 1472, 2); ok {
		t.Errorf("1472-byte DF pings passed with dont-fragment=inherit:\n%s", out)
	}
	if ok, out := pingDF(l1, "198.19.10.2", 1400, 2); !ok {
		t.Errorf("1400-byte DF pings with dont-fragment=inherit:\n%s", out)
	}
	// Without DF the frame is fragmented as before.
	if out, err := exec.Command("ip", "netns", "exec", l1, "ping", "-M", "dont", "-s", "1472", "-c", "2", "-i", "0.2", "-W", "2", "198.19.10.2").CombinedOutput(); err != nil {
		t.Errorf("1472-byte pings without DF, dont-fragment=inherit: %v\n%s", err, out)
	}
}

// TestGREMTU1500: GRE with mtu=1500 over a 1500-byte underlay: the interface takes
// 1500-byte packets and the outer packets are fragmented and reassembled.
func TestGREMTU1500(t *testing.T) {
	need(t, "ping", "tshark")
	tp := newTopo(t)
	tp.greLink(t, "198.19.20")
	tp.ra.must("/interface", "gre", "set", "g", "mtu=1500")
	tp.rb.must("/interface", "gre", "set", "g", "mtu=1500")
	waitFor(t, "mtu=1500 applied", 10*time.Second, func() bool {
		return strings.Contains(printDetail(tp.ra, "gre"), "actual-mtu=1500") &&
			strings.Contains(printDetail(tp.rb, "gre"), "actual-mtu=1500") &&
			strings.Contains(run(t, "ip", "-n", tp.a, "link", "show", "g"), "mtu 1500") &&
			strings.Contains(run(t, "ip", "-n", tp.b, "link", "show", "g"), "mtu 1500")
	})
	ping(t, tp.a, "198.19.20.2")
	var ok bool
	var out string
	lines := capture(t, tp.b, tp.ub, "ip proto 47", []string{"ip.len", "ip.flags.mf", "ip.frag_offset"}, func() {
		ok, out = pingDF(tp.a, "198.19.20.2", 1472, 3)
	})
	if !ok {
		t.Fatalf("1472-byte DF pings across GRE mtu=1500:\n%s\n%s", out, printStats(tp.ra, "gre"))
	}
	frags := 0
	for _, l := range lines {
		if f := strings.Split(l, "|"); len(f) >= 3 && (f[1] == "1" || f[1] == "True") {
			frags++
		}
	}
	if frags < 6 {
		t.Errorf("want 6 fragmented outer packets, saw %d:\n%s", frags, strings.Join(lines, "\n"))
	}
	if n := counter(t, tp.rb, "gre", "rx-reassembled"); n < 3 {
		t.Errorf("rx-reassembled on B: %d, want >= 3", n)
	}
}
