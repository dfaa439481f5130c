package tunnel

import (
	"strings"
	"testing"
	"time"
)

// TestKeepaliveWire: keepalives on the wire as tshark dissects them, captured on the
// router M between A and B (each end's XDP takes in-coming tunnel packets before a
// capture on its own underlay could see them): GRE as Cisco and RouterOS send it (GRE carrying an IPv4 packet back to the
// sender that carries a GRE header with protocol 0), IPIP by the same reflection, EoIP as
// an EoIP header with payload length 0 and the tunnel-id little-endian; plus EoIP data
// frames of the same tunnel with their length and the same little-endian id.
func TestKeepaliveWire(t *testing.T) {
	need(t, "ping", "tshark")
	tp := newTopoWith(t, topoOpts{routed: true})
	for _, r := range []struct {
		r      *router
		remote string
	}{{tp.ra, tp.addrB}, {tp.rb, tp.addrA}} {
		r.r.must("/interface", "gre", "add", "name=kg", "keepalive=1s,3", "remote-address="+r.remote)
		r.r.must("/interface", "ipip", "add", "name=ki", "keepalive=1s,3", "remote-address="+r.remote)
		r.r.must("/interface", "eoip", "add", "name=ke", "keepalive=1s,3", "tunnel-id=258", "remote-address="+r.remote)
	}
	for _, n := range []string{tp.a, tp.b} {
		waitLink(t, n, "kg", "ki", "ke")
	}
	run(t, "ip", "-n", tp.a, "addr", "add", "198.19.4.1/24", "dev", "ke")
	run(t, "ip", "-n", tp.b, "addr", "add", "198.19.4.2/24", "dev", "ke")
	a, b := tp.addrA, tp.addrB
	want := []string{"gre keepalive from A", "gre keepalive of B reflected by A", "ipip keepalive from A",
		"ipip keepalive of B reflected by A", "eoip keepalive (length 0, id 258 little-endian)", "eoip data frame (id 258 little-endian)"}
	seen := map[string]bool{}
	var lines []string
	// Keepalives are periodic and a reflection can fall just past a capture's end, so
	// capture in windows until every kind has been seen (or four windows passed).
	for window := 0; window < 4 && len(seen) < len(want); window++ {
		got := capture(t, tp.p+"M", "m1", "ip proto 47 or ip proto 4",
			[]string{"ip.src", "ip.dst", "ip.proto", "gre.proto", "gre.key", "eth.type", "icmp.type"}, func() {
				ping(t, tp.a, "198.19.4.2")
				time.Sleep(2500 * time.Millisecond)
			})
		lines = append(lines, got...)
		for k := range keepaliveKinds(got, a, b) {
			seen[k] = true
		}
	}
	for _, k := range want {
		if !seen[k] {
			t.Errorf("no %s in the capture:\n%s", k, strings.Join(lines, "\n"))
		}
	}
	// Answered keepalives keep all three running.
	for _, m := range []string{"gre", "ipip", "eoip"} {
		if d := printDetail(tp.ra, m); !strings.Contains(strings.Join(strings.Fields(d), " "), " 0 R name=") {
			t.Errorf("%s not running:\n%s", m, d)
		}
	}
}

// keepaliveKinds names the kinds of keepalive and EoIP frames in tshark field lines
// (ip.src|ip.dst|ip.proto|gre.proto|gre.key|eth.type|icmp.type; outer,inner for nested
// headers) between underlay addresses a and b.
func keepaliveKinds(lines []string, a, b string) map[string]bool {
	seen := map[string]bool{}
	for _, l := range lines {
		f := strings.Split(l, "|")
		if len(f) < 7 {
			continue
		}
		src, dst, proto, greProto, key, eth, icmp := f[0], f[1], f[2], f[3], f[4], f[5], f[6]
		switch {
		case src == a+","+b && dst == b+","+a && proto == "47,47" && greProto == "0x0800,0x0000":
			seen["gre keepalive from A"] = true
		case src == a && dst == b && proto == "47" && greProto == "0x0000":
			seen["gre keepalive of B reflected by A"] = true
		case src == a+","+b && dst == b+","+a && proto == "4,4":
			seen["ipip keepalive from A"] = true
		case src == a && dst == b && proto == "4":
			seen["ipip keepalive of B reflected by A"] = true
		case src == a && proto == "47" && greProto == "0x6400" && key == "0x00000201" && eth == "0x0800":
			seen["eoip keepalive (length 0, id 258 little-endian)"] = true
		case strings.HasPrefix(src, a+",") && strings.HasPrefix(proto, "47,") && greProto == "0x6400" && strings.HasSuffix(key, "0201") && key != "0x00000201" && icmp != "":
			seen["eoip data frame (id 258 little-endian)"] = true
		}
	}
	return seen
}

// TestNoKeepalive: `!keepalive` (RouterOS's export spelling) on add and set, and unset
// keepalive, turn a tunnel's keepalives off, where they were stored as the default
// 10s,10 and kept being sent: captured on M, a tunnel that had them sends none after,
// one added with !keepalive never does; export writes !keepalive back.
func TestNoKeepalive(t *testing.T) {
	need(t, "tshark")
	tp := newTopoWith(t, topoOpts{routed: true})
	tp.ra.must("/interface", "gre", "add", "name=kg", "keepalive=1s,3", "remote-address="+tp.addrB)
	tp.ra.must("/interface", "ipip", "add", "name=ki", "keepalive=1s,3", "remote-address="+tp.addrB)
	tp.rb.must("/interface", "gre", "add", "name=kg", "!keepalive", "remote-address="+tp.addrA)
	waitLink(t, tp.a, "kg", "ki")
	waitLink(t, tp.b, "kg")
	a, b := tp.addrA, tp.addrB
	window := func() (fromA, fromB map[string]bool, lines []string) {
		lines = capture(t, tp.p+"M", "m1", "ip proto 47 or ip proto 4",
			[]string{"ip.src", "ip.dst", "ip.proto", "gre.proto", "gre.key", "eth.type", "icmp.type"}, func() {
				time.Sleep(3 * time.Second)
			})
		return keepaliveKinds(lines, a, b), keepaliveKinds(lines, b, a), lines
	}
	fromA, fromB, lines := window()
	if !fromA["gre keepalive from A"] || !fromA["ipip keepalive from A"] {
		t.Fatalf("A's keepalives not seen, the capture proves nothing:\n%s", strings.Join(lines, "\n"))
	}
	if fromB["gre keepalive from A"] {
		t.Errorf("B's tunnel added with !keepalive sends keepalives:\n%s", strings.Join(lines, "\n"))
	}
	tp.ra.must("/interface", "gre", "set", "kg", "!keepalive")
	tp.ra.must("/interface", "ipip", "unset", "ki", "keepalive")
	// A keepalive sent before the pass that applied the change may fall in the first
	// window: the condition is a whole window without any.
	quiet := false
	for i := 0; i < 4 && !quiet; i++ {
		fromA, _, lines = window()
		quiet = !fromA["gre keepalive from A"] && !fromA["ipip keepalive from A"]
	}
	if !quiet {
		t.Errorf("keepalives still sent after !keepalive and unset:\n%s", strings.Join(lines, "\n"))
	}
	if exp := tp.ra.must("/interface", "gre", "export"); !strings.Contains(exp, "add !keepalive name=kg") {
		t.Errorf("export does not write !keepalive:\n%s", exp)
	}
	if d := printDetail(tp.ra, "gre"); strings.Contains(d, "keepalive") {
		t.Errorf("print shows a keepalive that is off:\n%s", d)
	}
}
