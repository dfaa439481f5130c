package ipsec_test

import (
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// TestGRECleartextRefused: a GRE tunnel with an ipsec-secret accepts no cleartext GRE,
// neither before its peer is up (no SA, no policy route: the decapsulator sits on the
// Ethernet underlay) nor after (the decapsulator follows the route to the ESP device,
// the underlay's XDP program still runs). scapy in the peer's namespace sends GRE with
// an ICMP echo inside straight onto the wire (sendp: past its routerd's policies); the
// kernel's own receive counter of the tunnel interface shows what was delivered, the
// tunnel's cleartext-drop what the dataplane refused.
func TestGRECleartextRefused(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	if exec.Command("/usr/bin/python3", "-c", "import scapy.all").Run() != nil {
		t.Skip("needs python3-scapy (/usr/bin/python3, see .ci/run)")
	}
	nsA, nsB := iketest.NS(t, "gca"), iketest.NS(t, "gcb")
	iketest.Veth(t, nsA, "ether1", "", nsB, "ether1", "")
	a, b := startDaemon(t, nsA), startDaemon(t, nsB)
	a.script(`/ip address add address=198.18.92.1/24 interface=ether1
/interface gre add name=gre-tunnel1 local-address=198.18.92.1 remote-address=198.18.92.2 ipsec-secret=s3cret
/ip address add address=198.18.18.1/30 interface=gre-tunnel1
`)
	b.script("/ip address add address=198.18.92.2/24 interface=ether1\n")
	mac, err := exec.Command("ip", "netns", "exec", nsA, "cat", "/sys/class/net/ether1/address").Output()
	if err != nil {
		t.Fatal(err)
	}
	// What the scapy packets deliver onto the tunnel interface, counted by a table of
	// the test's own: the interface's rx counter also counts what legitimately comes
	// through ESP (the peer's keepalives, its IPv6 router solicitations).
	probe := exec.Command("ip", "netns", "exec", nsA, "nft", "-f", "-")
	probe.Stdin = strings.NewReader(`table inet cleartext_probe {
	counter delivered {}
	chain in {
		type filter hook prerouting priority -300; policy accept;
		iifname "gre-tunnel1" icmp type echo-request icmp id 4242 counter name "delivered"
	}
}
`)
	if out, err := probe.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v %s", err, out)
	}
	delivered := func() uint64 {
		out, err := exec.Command("ip", "netns", "exec", nsA, "nft", "list", "counter", "inet", "cleartext_probe", "delivered").CombinedOutput()
		i := strings.Index(string(out), "packets ")
		if err != nil || i < 0 {
			t.Fatalf("probe counter: %v\n%s", err, out)
		}
		n, _ := strconv.ParseUint(strings.Fields(string(out[i+len("packets "):]))[0], 10, 64)
		return n
	}
	// The interface comes before the tunnel is in the dataplane, whose counters print
	// shows only from then on.
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.Contains(a.script("/interface gre print stats detail\n"), "cleartext-drop=")
	}) {
		t.Fatalf("no tunnel interface:\n%s", a.script("/interface gre print stats detail\n"))
	}
	dropped := func() uint64 {
		out := a.script("/interface gre print stats detail\n")
		i := strings.Index(out, "cleartext-drop=")
		if i < 0 {
			t.Fatalf("no cleartext-drop counter:\n%s", out)
		}
		n, _ := strconv.ParseUint(strings.Fields(out[i+len("cleartext-drop="):])[0], 10, 64)
		return n
	}
	const n = 20
	send := func() {
		t.Helper()
		py := fmt.Sprintf(`from scapy.all import *
p = Ether(dst=%q)/IP(src="198.18.92.2", dst="198.18.92.1")/GRE()/IP(src="198.18.18.2", dst="198.18.18.1")/ICMP(id=4242)/b"cleartext"
sendp(p, iface="ether1", count=%d, inter=0.005, verbose=False)
`, strings.TrimSpace(string(mac)), n)
		if out, err := iketest.In(nsB, "/usr/bin/python3", "-c", py).CombinedOutput(); err != nil {
			t.Fatalf("scapy: %v\n%s", err, out)
		}
	}
	check := func(when string) {
		t.Helper()
		rx0, d0 := delivered(), dropped()
		send()
		if !iketest.WaitFor(10*time.Second, func() bool { return dropped() >= d0+n }) {
			t.Errorf("%s: cleartext-drop went from %d to %d, want +%d", when, d0, dropped(), n)
		}
		t.Logf("%s: cleartext-drop %d -> %d, delivered %d -> %d", when, d0, dropped(), rx0, delivered())
		if rx := delivered(); rx != rx0 {
			t.Errorf("%s: %d cleartext GRE packets delivered onto gre-tunnel1", when, rx-rx0)
		}
	}
	check("before the peer is up")

	b.script(`/interface gre add name=gre-tunnel1 remote-address=198.18.92.1 ipsec-secret=s3cret
/ip address add address=198.18.18.2/30 interface=gre-tunnel1
`)
	if !iketest.WaitFor(30*time.Second, func() bool {
		return iketest.In(nsB, "ping", "-c", "1", "-W", "1", "198.18.18.1").Run() == nil
	}) {
		t.Fatalf("no traffic across the GRE tunnel:\n%s", b.script("/ip ipsec active-peers print detail\n/interface gre print detail\n"))
	}
	check("with the SA up")
	// What comes through ESP still crosses, and the probe counts it (so it can see a
	// cleartext echo that got through).
	before := delivered()
	if out, err := iketest.In(nsB, "ping", "-c", "5", "-i", "0.05", "-W", "2", "-e", "4242", "198.18.18.1").CombinedOutput(); err != nil {
		t.Fatalf("ping across GRE over IPsec after the cleartext: %v\n%s", err, out)
	}
	if got := delivered() - before; got != 5 {
		t.Errorf("the probe counted %d of 5 echo requests delivered through ESP", got)
	}
}
