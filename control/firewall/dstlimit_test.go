package firewall

import (
	"fmt"
	"net"
	"strings"
	"testing"
)

// TestDstLimitModes: each of RouterOS's dst-limit modes keeps one bucket per flow as the
// mode defines it. Seven flows (one differing only in its source port) make a different
// number of buckets in each mode; with a rate of one packet a minute each bucket lets
// its burst through and no more, so each mode's rule matches burst times its number of
// buckets.
func TestDstLimitModes(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	sh(t, "ip", "-n", tp.c, "addr", "add", "198.18.1.3/24", "dev", "c0")
	for _, a := range []string{"198.19.2.3/24", "198.19.2.4/24"} {
		sh(t, "ip", "-n", tp.s, "addr", "add", a, "dev", "s0")
	}
	// source, source port, destination, destination port
	flows := []struct {
		src   string
		sport int
		dst   string
		dport int
	}{{"198.18.1.2", 40000, "198.19.2.2", 7000}, {"198.18.1.3", 40000, "198.19.2.2", 7000},
		{"198.18.1.2", 40000, "198.19.2.3", 7000}, {"198.18.1.2", 40000, "198.19.2.2", 7001},
		{"198.18.1.2", 40001, "198.19.2.2", 7000}, {"198.18.1.2", 40000, "198.19.2.4", 7000},
		{"198.18.1.2", 40000, "198.19.2.2", 7002}}
	buckets := map[string]int{
		"src-address":            2, // .2 .3
		"dst-address":            3, // .2 .3 .4
		"src-and-dst-addresses":  4,
		"dst-address-and-port":   5,
		"addresses-and-dst-port": 6, // every flow but the one with another source port
	}
	var b strings.Builder
	b.WriteString("/ip firewall filter\n")
	for m := range buckets {
		fmt.Fprintf(&b, "add chain=forward protocol=udp action=passthrough dst-limit=1/1m,1,%s/1m comment=%s\n", m, m)
	}
	r.run(t, b.String())
	const per = 6 // packets per flow
	for _, f := range flows {
		c := udpBound(t, tp.c, fmt.Sprintf("%s:%d", f.src, f.sport))
		to := &net.UDPAddr{IP: net.ParseIP(f.dst), Port: f.dport}
		for range per {
			if _, err := c.WriteTo([]byte("x"), to); err != nil {
				t.Fatal(err)
			}
		}
		c.Close()
	}
	burst := r.counter(t, "/ip firewall filter", "src-address") / buckets["src-address"]
	if burst < 1 || burst >= per {
		t.Fatalf("src-address: %d matches for %d buckets of %d packets\n%s", r.counter(t, "/ip firewall filter", "src-address"),
			buckets["src-address"], per, ruleset(t, tp))
	}
	for m, n := range buckets {
		if got := r.counter(t, "/ip firewall filter", m); got != burst*n {
			t.Errorf("dst-limit mode %s matched %d times, want %d buckets of %d", m, got, n, burst)
		}
	}
	// The old spelling is not RouterOS's: refused.
	if _, err := r.try(`/ip firewall filter add chain=forward dst-limit=32,32,src-and-dst-address/10s action=return`); err == nil {
		t.Errorf("dst-limit mode src-and-dst-address accepted")
	}
}

// ddosExample is the RouterOS manual's "DDoS Protection" example as written: the two
// lists created empty, the raw rule dropping attackers' packets to targets, the
// detection chain with dst-limit mode src-and-dst-addresses, and the SYN-ACK flood line.
const ddosExample = `/ip firewall address-list
add list=ddos-attackers
add list=ddos-targets
/ip firewall raw
add action=drop chain=prerouting dst-address-list=ddos-targets src-address-list=ddos-attackers
/ip firewall filter
add action=return chain=detect-ddos dst-limit=32,32,src-and-dst-addresses/10s
add action=add-dst-to-address-list address-list=ddos-targets address-list-timeout=10m chain=detect-ddos
add action=add-src-to-address-list address-list=ddos-attackers address-list-timeout=10m chain=detect-ddos
add chain=forward connection-state=new action=jump jump-target=detect-ddos
/ip firewall filter add action=return chain=detect-ddos dst-limit=32,32,src-and-dst-addresses/10s protocol=tcp tcp-flags=syn,ack
`

// TestDDoSExample: the manual's example runs as written; a flood of new connections
// from the client to the server puts both in the lists, and then the raw rule drops the
// client's packets to the server while other traffic passes.
func TestDDoSExample(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, ddosExample)
	out := r.run(t, `/ip firewall address-list print`)
	if !strings.Contains(out, "ddos-attackers") || !strings.Contains(out, "ddos-targets") {
		t.Fatalf("the example's empty lists are not there:\n%s", out)
	}
	if exp := r.run(t, `/ip firewall address-list export`); !strings.Contains(exp, "add list=ddos-attackers\n") {
		t.Errorf("export of an empty list's entry:\n%s", exp)
	}
	if _, err := r.try(`/ip firewall address-list add list=ddos-attackers`); err == nil || !strings.Contains(err.Error(), "already have such entry") {
		t.Errorf("a second entry creating the same list: %v", err)
	}
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatalf("no ping before the flood\n%s", ruleset(t, tp))
	}
	// 300 new UDP connections at once, far over 32 a second.
	for i := range 300 {
		c := udpDial(t, tp.c, "", "198.19.2.2", 9000+i)
		c.Write([]byte("x"))
		c.Close()
	}
	out = r.run(t, `/ip firewall address-list print where dynamic`)
	if !strings.Contains(out, "ddos-attackers") || !strings.Contains(out, "198.18.1.2") ||
		!strings.Contains(out, "ddos-targets") || !strings.Contains(out, "198.19.2.2") {
		t.Fatalf("the flood put nothing in the lists:\n%s\n%s", out, ruleset(t, tp))
	}
	if tp.ping(tp.c, "198.19.2.2") {
		t.Errorf("the attacker still reaches the target")
	}
	if !tp.ping(tp.c, "198.18.1.1") {
		t.Errorf("the attacker's other traffic is dropped too")
	}
}

// TestDstLimitErrorName: a bad rate or burst in dst-limit= is refused naming dst-limit,
// not limit (the rate is read by limit='s parser).
func TestDstLimitErrorName(t *testing.T) {
	for _, v := range []string{"x/1m,1,src-address", "10,y,src-address", "0,1,src-address", "10,1,nosuch"} {
		err := rule(1, "filter", "chain", "forward", "dst-limit", v).Check(false)
		if err == nil || err.Error() != "invalid value for argument dst-limit" {
			t.Errorf("dst-limit=%s: %v, want invalid value for argument dst-limit", v, err)
		}
	}
}
