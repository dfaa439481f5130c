package tunnel

import (
	"regexp"
	"strings"
	"testing"
)

// TestRemoteHostName: GRE and EoIP tunnels whose remote-address is a name that /ip dns
// static answers carry traffic and show the address in use (actual-remote-address);
// when the record changes the tunnels follow it at once (the Resolver drops its cache
// and kicks the engine) and traffic passes to the new address; a name that does not
// resolve is accepted at add and leaves its tunnel invalid with the reason.
func TestRemoteHostName(t *testing.T) {
	need(t, "ping")
	tp := newTopo(t)
	const addrB2 = "198.18.0.3"
	run(t, "ip", "-n", tp.b, "addr", "add", addrB2+"/24", "dev", tp.ub)
	tp.ra.must("/ip", "dns", "static", "add", "name=b.example.net", "address="+tp.addrB)
	tp.ra.must("/interface", "gre", "add", "name=g", "remote-address=b.example.net")
	tp.ra.must("/interface", "eoip", "add", "name=e", "tunnel-id=7", "remote-address=B.example.net.")
	tp.rb.must("/interface", "gre", "add", "name=g", "remote-address="+tp.addrA)
	tp.rb.must("/interface", "eoip", "add", "name=e", "tunnel-id=7", "remote-address="+tp.addrA)
	for _, n := range []string{tp.a, tp.b} {
		waitLink(t, n, "g", "e")
	}
	run(t, "ip", "-n", tp.a, "addr", "add", "198.19.1.1/30", "dev", "g")
	run(t, "ip", "-n", tp.b, "addr", "add", "198.19.1.2/30", "dev", "g")
	run(t, "ip", "-n", tp.a, "addr", "add", "198.19.2.1/30", "dev", "e")
	run(t, "ip", "-n", tp.b, "addr", "add", "198.19.2.2/30", "dev", "e")
	shows := func(menu, want string) {
		t.Helper()
		waitFor(t, menu+" shows "+want, 0, func() bool { return strings.Contains(printDetail(tp.ra, menu), want) })
	}
	shows("gre", "actual-remote-address="+tp.addrB)
	shows("eoip", "actual-remote-address="+tp.addrB)
	ping(t, tp.a, "198.19.1.2")
	ping(t, tp.a, "198.19.2.2")

	// B moves to its second address; the record follows, and so do A's tunnels.
	tp.rb.must("/interface", "gre", "set", "g", "local-address="+addrB2)
	tp.rb.must("/interface", "eoip", "set", "e", "local-address="+addrB2)
	tp.ra.must("/ip", "dns", "static", "set", "[", "find", "name=b.example.net", "]", "address="+addrB2)
	shows("gre", "actual-remote-address="+addrB2)
	shows("eoip", "actual-remote-address="+addrB2)
	ping(t, tp.a, "198.19.1.2")
	ping(t, tp.a, "198.19.2.2")
	if d := printDetail(tp.ra, "gre"); !strings.Contains(d, `remote-address=b.example.net`) {
		t.Errorf("print does not show the name as configured:\n%s", d)
	}

	// A name nothing answers: accepted, the tunnel invalid with the reason.
	tp.ra.must("/interface", "gre", "add", "name=nx", "remote-address=nx.example.invalid")
	waitFor(t, "nx invalid with the reason", 0, func() bool {
		d := tp.ra.must("/interface", "gre", "print", "detail", "where", "name=nx")
		// GRE's flags are X and R: not running, and the status says why.
		return strings.Contains(d, "cannot resolve remote-address nx.example.invalid: no DNS servers") && !regexp.MustCompile(`(?m)^\s*\d+\s+R`).MatchString(d)
	})
}
