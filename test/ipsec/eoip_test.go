package ipsec_test

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// wire captures IPv4 on an interface of a namespace with tshark; protos stops the capture
// and counts the packets by IP protocol.
type wire struct {
	t       *testing.T
	pcap    string
	cmd     *exec.Cmd
	stopped bool
}

func captureWire(t *testing.T, ns, ifname string) *wire {
	t.Helper()
	return captureWireFilter(t, ns, ifname, "ip")
}

// captureWireFilter is captureWire with a capture filter of the caller's ("ip6").
func captureWireFilter(t *testing.T, ns, ifname, filter string) *wire {
	t.Helper()
	w := &wire{t: t, pcap: filepath.Join(t.TempDir(), "wire.pcap")}
	w.cmd = iketest.In(ns, "tshark", "-i", ifname, "-f", filter, "-w", w.pcap)
	errs := &lockedBuf{}
	w.cmd.Stderr = errs
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.stop)
	// tshark takes long to start on a loaded machine (20 s were seen not to be enough).
	if !iketest.WaitFor(60*time.Second, func() bool { return strings.Contains(errs.String(), "Capturing on") }) {
		t.Fatalf("tshark did not start: %s", errs)
	}
	return w
}

func (w *wire) stop() {
	if !w.stopped {
		w.stopped = true
		w.cmd.Process.Signal(syscall.SIGINT)
		w.cmd.Wait()
	}
}

func (w *wire) protos() map[string]int {
	w.t.Helper()
	time.Sleep(500 * time.Millisecond) // let tshark write the last packets
	w.stop()
	out, err := exec.Command("tshark", "-r", w.pcap, "-T", "fields", "-e", "ip.proto").Output()
	if err != nil {
		w.t.Fatalf("tshark -r: %v", err)
	}
	protos := map[string]int{}
	for _, l := range strings.Fields(string(out)) {
		protos[strings.SplitN(l, ",", 2)[0]]++
	}
	return protos
}

// show prints the captured packets that match a display filter, bytes included (after
// protos: what leaked, to tell a keepalive from a ping or a reflection).
func (w *wire) show(filter string) string {
	out, _ := exec.Command("tshark", "-r", w.pcap, "-Y", filter, "-t", "r", "-x").CombinedOutput()
	return string(out)
}

// eoipPair starts two routerd joined by a veth (R 198.18.61.1, S 198.18.61.2 on ether1),
// the QA's rig.
func eoipPair(t testing.TB, tag string) (r, s *daemon, nsR, nsS string) {
	nsR, nsS = iketest.NS(t, tag+"r"), iketest.NS(t, tag+"s")
	iketest.Veth(t, nsR, "ether1", "", nsS, "ether1", "")
	r, s = startDaemon(t, nsR), startDaemon(t, nsS)
	r.script("/ip address add address=198.18.61.1/24 interface=ether1\n")
	s.script("/ip address add address=198.18.61.2/24 interface=ether1\n")
	return r, s, nsR, nsS
}

// TestEoIPIPsecSecret: the reference's EoIP with ipsec-secret between two routerd. EoIP
// carries Ethernet frames of any kind: ARP must resolve across it (the first frame is
// not IP), IPv4 and IPv6 pings cross, and the wire carries only IKE and ESP.
func TestEoIPIPsecSecret(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	r, s, nsR, nsS := eoipPair(t, "eos")
	w := captureWire(t, nsR, "ether1")
	// Keepalives every second (EoIP: each end sends its own): they are GRE between the
	// endpoints too, and must ride the SA rather than leave in the clear.
	r.script(`/interface eoip add name=eo1 local-address=198.18.61.1 remote-address=198.18.61.2 tunnel-id=7 ipsec-secret=eoipsecret1 keepalive=1s,4
/ip address add address=198.19.218.1/30 interface=eo1
/ipv6 address add address=fd00:218::1/64 interface=eo1 advertise=no
`)
	s.script(`/interface eoip add name=eo1 local-address=198.18.61.2 remote-address=198.18.61.1 tunnel-id=7 ipsec-secret=eoipsecret1 keepalive=1s,4
/ip address add address=198.19.218.2/30 interface=eo1
/ipv6 address add address=fd00:218::2/64 interface=eo1 advertise=no
`)
	if !iketest.WaitFor(30*time.Second, func() bool {
		return iketest.In(nsR, "ping", "-c", "1", "-W", "1", "198.19.218.2").Run() == nil
	}) {
		t.Fatalf("no traffic across EoIP over IPsec:\n%s\nR:\n%s\nS:\n%s", iketest.Sh(t, "ls", "-R", "/sys/fs/bpf/"+nsR)+iketest.Sh(t, "ip", "-n", nsR, "-d", "link")+r.script("/interface eoip print detail\n"),
			r.script("/ip ipsec active-peers print detail\n/ip ipsec statistics print\n/interface eoip print stats detail\n/ip arp print\n"),
			s.script("/ip ipsec active-peers print detail\n/ip ipsec statistics print\n/interface eoip print stats detail\n/ip arp print\n"))
	}
	// Each end's keepalives reach the other through the SA (issue 12: they go through
	// the encapsulator, which hands an EoIP keepalive on as eoip_resend does).
	for _, d := range []*daemon{r, s} {
		if !iketest.WaitFor(30*time.Second, func() bool { return keepaliveRx(d, "eo1") >= 2 }) {
			t.Errorf("%s: no EoIP keepalives received (keepalive rx %d)", d.ns, keepaliveRx(d, "eo1"))
		}
	}
	// ARP resolved across the tunnel, both ways.
	for _, d := range []*daemon{r, s} {
		if out := d.script("/ip arp print where interface=eo1\n"); !strings.Contains(out, "198.19.218.") {
			t.Errorf("no ARP entry on eo1:\n%s", out)
		}
	}
	if out, err := iketest.In(nsS, "ping", "-c", "20", "-i", "0.02", "-W", "2", "198.19.218.1").CombinedOutput(); err != nil {
		t.Fatalf("ping across EoIP over IPsec: %v\n%s", err, out)
	}
	if !iketest.WaitFor(20*time.Second, func() bool {
		return iketest.In(nsR, "ping", "-6", "-c", "1", "-W", "1", "fd00:218::2").Run() == nil
	}) {
		t.Errorf("no IPv6 across EoIP over IPsec")
	}
	// Full-size frames: what the tunnel's MTU lets in gets through.
	out := r.script(":put [/interface eoip get eo1 actual-mtu]\n")
	if o, err := iketest.In(nsR, "ping", "-c", "2", "-W", "2", "-M", "do", "-s", "1300", "198.19.218.2").CombinedOutput(); err != nil {
		t.Errorf("ping -s 1300 (actual-mtu %s): %v\n%s", strings.TrimSpace(out), err, o)
	}
	// mtu=1500 as set: a 1500-byte packet in a full frame goes through, the ESP packet
	// made of the 1542-byte outer GRE packet fragmented on the wire (after encryption,
	// as RFC 4303 has transport mode) and reassembled before decryption.
	r.script("/interface eoip set eo1 mtu=1500\n")
	s.script("/interface eoip set eo1 mtu=1500\n")
	if !iketest.WaitFor(20*time.Second, func() bool {
		return strings.TrimSpace(r.script(":put [/interface eoip get eo1 actual-mtu]\n")) == "1500" &&
			strings.TrimSpace(s.script(":put [/interface eoip get eo1 actual-mtu]\n")) == "1500"
	}) {
		t.Fatalf("mtu=1500 not applied:\n%s", r.script("/interface eoip print detail\n"))
	}
	if !iketest.WaitFor(20*time.Second, func() bool {
		return iketest.In(nsR, "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "198.19.218.2").Run() == nil
	}) {
		t.Errorf("ping -M do -s 1472 across EoIP mtu=1500 over IPsec:\nR:\n%s\nS:\n%s",
			r.script("/interface eoip print stats detail\n/ip ipsec statistics print\n"), s.script("/interface eoip print stats detail\n"))
	}
	// Four missed keepalives would clear the running flag.
	time.Sleep(6 * time.Second)
	if out := r.script(":put [/interface eoip get eo1 running]\n"); strings.TrimSpace(out) != "true" {
		t.Errorf("eo1 not running (keepalives lost):\n%s", r.script("/interface eoip print stats detail\n"))
	}
	protos := w.protos()
	if protos["47"] != 0 || protos["50"] < 2 {
		t.Fatalf("want only ESP (50) and IKE (17) on the wire, got packets by protocol %v", protos)
	}
	// The full frames' ESP packets went in fragments.
	frags, err := exec.Command("tshark", "-r", w.pcap, "-Y", "ip.proto == 50 && ip.flags.mf == 1", "-T", "fields", "-e", "ip.len").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	if n := len(strings.Fields(string(frags))); n < 2 {
		t.Errorf("want ESP fragments on the wire (the 1472-byte pings), saw %d", n)
	}
}

// TestEoIPBesideIPsecGRE: a plain EoIP (no secret) between the same endpoints as a GRE
// with an ipsec-secret. Its packets are GRE (protocol 47) between the two addresses, so
// the GRE tunnel's transport policy selects them, as XFRM does on RouterOS: they ride
// the ESP SA, and traffic flows; nothing is swallowed and nothing is sent in the clear.
func TestEoIPBesideIPsecGRE(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	r, s, nsR, _ := eoipPair(t, "eog")
	r.script(`/interface gre add name=gs local-address=198.18.61.1 remote-address=198.18.61.2 ipsec-secret=gresecret1
/ip address add address=198.19.217.1/30 interface=gs
`)
	s.script(`/interface gre add name=gs local-address=198.18.61.2 remote-address=198.18.61.1 ipsec-secret=gresecret1
/ip address add address=198.19.217.2/30 interface=gs
`)
	stats := func() string {
		q := "/ip ipsec statistics print\n/interface eoip print stats detail\n/interface gre print stats detail\n"
		return "R:\n" + r.script(q) + "S:\n" + s.script(q)
	}
	if !iketest.WaitFor(30*time.Second, func() bool {
		return iketest.In(nsR, "ping", "-c", "1", "-W", "1", "198.19.217.2").Run() == nil
	}) {
		t.Fatalf("no traffic across the GRE with ipsec-secret:\n%s", stats())
	}
	// The policy is in place: from here on, nothing of the two tunnels in the clear.
	w := captureWire(t, nsR, "ether1")
	r.script(`/interface eoip add name=eo2 local-address=198.18.61.1 remote-address=198.18.61.2 tunnel-id=8
/ip address add address=198.19.219.1/30 interface=eo2
`)
	s.script(`/interface eoip add name=eo2 local-address=198.18.61.2 remote-address=198.18.61.1 tunnel-id=8
/ip address add address=198.19.219.2/30 interface=eo2
`)
	if !iketest.WaitFor(30*time.Second, func() bool {
		return iketest.In(nsR, "ping", "-c", "1", "-W", "1", "198.19.219.2").Run() == nil
	}) {
		t.Fatalf("no traffic across the plain EoIP beside the GRE with ipsec-secret:\n%s", stats())
	}
	if out, err := iketest.In(nsR, "ping", "-c", "10", "-i", "0.02", "-W", "2", "198.19.219.2").CombinedOutput(); err != nil {
		t.Fatalf("ping across the plain EoIP: %v\n%s", err, out)
	}
	if protos := w.protos(); protos["47"] != 0 || protos["50"] < 2 {
		t.Fatalf("want only ESP (50) and IKE (17) on the wire, got packets by protocol %v", protos)
	}
}

// TestGREAndEoIPIPsecSecretSameRemote: a GRE and an EoIP tunnel with the same
// ipsec-secret to one remote both send GRE between the same endpoints, so they share one
// dynamic transport policy (and CHILD SA) instead of getting two identical ones, of which
// the responder bound both SAs to the first and dropped everything on the second as
// in-template-mismatches (issue 12, leak12's s31 finding: both tunnels dead). Both carry
// traffic, the policy print has one row naming both tunnels, the wire carries only IKE
// and ESP, and disabling the GRE leaves the EoIP working on a policy of its own.
func TestGREAndEoIPIPsecSecretSameRemote(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	r, s, nsR, nsS := eoipPair(t, "ges")
	w := captureWire(t, nsR, "ether1")
	greAndEoIP(r, s, "same-secret", "198.19.229")
	stats := func() string {
		q := "/ip ipsec policy print detail\n/ip ipsec statistics print\n/ip ipsec installed-sa print\n"
		return "R:\n" + r.script(q) + "S:\n" + s.script(q)
	}
	for _, dst := range []string{"198.19.229.2", "198.19.229.10"} {
		if !iketest.WaitFor(30*time.Second, func() bool {
			return iketest.In(nsR, "ping", "-c", "1", "-W", "1", dst).Run() == nil
		}) {
			t.Fatalf("no traffic to %s across its tunnel:\n%s", dst, stats())
		}
	}
	mism := func(d *daemon) int {
		m := regexp.MustCompile(`in-template-mismatches: (\d+)`).FindStringSubmatch(d.script("/ip ipsec statistics print\n"))
		if m == nil {
			t.Fatalf("no in-template-mismatches in the statistics")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	m0 := mism(s)
	for _, dst := range []string{"198.19.229.2", "198.19.229.10"} {
		if out, err := iketest.In(nsR, "ping", "-c", "10", "-i", "0.02", "-W", "2", dst).CombinedOutput(); err != nil {
			t.Fatalf("ping %s: %v\n%s\n%s", dst, err, out, stats())
		}
	}
	if out, err := iketest.In(nsS, "ping", "-c", "10", "-i", "0.02", "-W", "2", "198.19.229.9").CombinedOutput(); err != nil {
		t.Fatalf("ping from S across the EoIP: %v\n%s\n%s", err, out, stats())
	}
	if m := mism(s); m != m0 {
		t.Errorf("S: in-template-mismatches %d -> %d", m0, m)
	}
	pol := r.script("/ip ipsec policy print detail where dynamic\n")
	if n := strings.Count(pol, "protocol=gre"); n != 1 || !strings.Contains(pol, ";;; gre2,eoip1") {
		t.Errorf("want one dynamic gre policy naming both tunnels, got %d:\n%s", n, pol)
	}
	// The GRE gone, the EoIP keeps a policy of its own (renegotiated).
	r.script("/interface gre disable gre2\n")
	s.script("/interface gre disable gre2\n")
	if !iketest.WaitFor(30*time.Second, func() bool {
		return iketest.In(nsR, "ping", "-c", "1", "-W", "1", "198.19.229.10").Run() == nil &&
			strings.Contains(r.script("/ip ipsec policy print detail where dynamic\n"), "eoip1")
	}) {
		t.Fatalf("the EoIP alone does not carry traffic:\n%s", stats())
	}
	if protos := w.protos(); protos["47"] != 0 || protos["50"] < 2 {
		t.Fatalf("want only ESP (50) and IKE (17) on the wire, got packets by protocol %v", protos)
	}
}

// greAndEoIP configures gre2 (net.1 and .2/30) and eoip1 (net.9 and .10/30) between the
// routers of eoipPair, both with ipsec-secret secret.
func greAndEoIP(r, s *daemon, secret, net string) {
	for _, d := range []struct {
		d           *daemon
		local, peer string
		me          int
	}{{r, "198.18.61.1", "198.18.61.2", 1}, {s, "198.18.61.2", "198.18.61.1", 2}} {
		d.d.script(fmt.Sprintf(`/interface gre add name=gre2 local-address=%[1]s remote-address=%[2]s ipsec-secret=%[5]s
/ip address add address=%[6]s.%[3]d/30 interface=gre2
/interface eoip add name=eoip1 local-address=%[1]s remote-address=%[2]s tunnel-id=7 ipsec-secret=%[5]s
/ip address add address=%[6]s.%[4]d/30 interface=eoip1
`, d.local, d.peer, d.me, 8+d.me, secret, net))
	}
}

// TestIPsecSecretRouteViaPeer is the QA's case: while a 6to4 tunnel with an ipsec-secret
// runs between R and S, a static route whose gateway is S must resolve through the real
// interface and carry traffic (in the clear: the tunnel's policy selects protocol ipv6
// only), and the tunnel keeps working.
func TestIPsecSecretRouteViaPeer(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping")
	r, s, nsR, nsS := eoipPair(t, "rvp")
	r.script(`/interface 6to4 add name=s1 local-address=198.18.61.1 remote-address=198.18.61.2 ipsec-secret=sitsecret1
/ipv6 address add address=fd00:61::1/64 interface=s1 advertise=no
`)
	s.script(`/interface 6to4 add name=s1 local-address=198.18.61.2 remote-address=198.18.61.1 ipsec-secret=sitsecret1
/ipv6 address add address=fd00:61::2/64 interface=s1 advertise=no
/interface bridge add name=lan
/ip address add address=198.19.244.1/24 interface=lan
/ip route add dst-address=198.19.245.0/24 gateway=198.18.61.1
`)
	if !iketest.WaitFor(30*time.Second, func() bool {
		return iketest.In(nsR, "ping", "-6", "-c", "1", "-W", "1", "fd00:61::2").Run() == nil
	}) {
		q := "/ip ipsec active-peers print detail\n/ip ipsec installed-sa print detail\n/ip ipsec policy print detail\n/ip ipsec statistics print\n/interface 6to4 print stats detail\n"
		t.Fatalf("no traffic across the 6to4 tunnel:\nR:\n%s\nS:\n%s\n%s%s", r.script(q), s.script(q),
			iketest.Sh(t, "ip", "-n", nsR, "rule"), iketest.Sh(t, "ip", "-n", nsR, "route", "show", "table", "all"))
	}
	r.script(`/interface bridge add name=lan
/ip address add address=198.19.245.1/24 interface=lan
/ip route add dst-address=198.19.244.0/24 gateway=198.18.61.2
`)
	var route string
	if !iketest.WaitFor(20*time.Second, func() bool {
		route = iketest.Sh(t, "ip", "-n", nsR, "route", "show", "198.19.244.0/24")
		return strings.Contains(route, "via 198.18.61.2")
	}) {
		t.Fatalf("static route not installed: %q", route)
	}
	if !strings.Contains(route, "dev ether1") {
		t.Errorf("route via the IPsec peer resolved off the real interface: %q", route)
	}
	if out, err := iketest.In(nsR, "ping", "-c", "3", "-W", "2", "-I", "198.19.245.1", "198.19.244.1").CombinedOutput(); err != nil {
		t.Errorf("ping through the route via the IPsec peer: %v\n%s", err, out)
	}
	if out, err := iketest.In(nsR, "ping", "-c", "3", "-W", "2", "198.19.244.1").CombinedOutput(); err != nil {
		t.Errorf("ping through the route via the IPsec peer: %v\n%s", err, out)
	}
	if out, err := iketest.In(nsR, "ping", "-6", "-c", "3", "-W", "2", "fd00:61::2").CombinedOutput(); err != nil {
		t.Errorf("6to4 over IPsec after the route: %v\n%s", err, out)
	}
	_ = nsS
}

// TestEoIPIPsecBridgedFullFrames: EoIP with ipsec-secret and mtu=1500 as a bridge port,
// as the manual recommends for bridging: hosts behind the two bridges exchange full
// 1500-byte packets with DF set (1514-byte frames), each frame's 1542-byte outer packet
// made into an ESP packet the kernel fragments on the wire and the far end reassembles
// before decryption. An earlier QA finding (frames above actual-mtu dropped, mtu=1500
// not honoured) no longer holds; this keeps it so with ipsec0's MTU sized from the
// underlay, below the 1542-byte outer packets the tunnel passes to it whole.
func TestEoIPIPsecBridgedFullFrames(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "tshark")
	nsR, nsS := iketest.NS(t, "ebr"), iketest.NS(t, "ebs")
	hR, hS := iketest.NS(t, "ebhr"), iketest.NS(t, "ebhs")
	iketest.Veth(t, nsR, "ether1", "", nsS, "ether1", "")
	iketest.Veth(t, hR, "lan", "198.19.219.1/24", nsR, "ether2", "")
	iketest.Veth(t, hS, "lan", "198.19.219.2/24", nsS, "ether2", "")
	w := captureWire(t, nsR, "ether1")
	r, s := startDaemon(t, nsR), startDaemon(t, nsS)
	for i, d := range []*daemon{r, s} {
		local, remote := []string{"1", "2"}[i], []string{"2", "1"}[i]
		d.script(`/ip address add address=198.18.62.` + local + `/24 interface=ether1
/interface eoip add name=eo1 local-address=198.18.62.` + local + ` remote-address=198.18.62.` + remote + ` tunnel-id=9 mtu=1500 ipsec-secret=eoipbridge1
/interface bridge add name=bridge1 protocol-mode=none
/interface bridge port add bridge=bridge1 interface=ether2
/interface bridge port add bridge=bridge1 interface=eo1
`)
	}
	if !iketest.WaitFor(60*time.Second, func() bool {
		return iketest.In(hR, "ping", "-c", "1", "-W", "1", "198.19.219.2").Run() == nil
	}) {
		t.Fatalf("no traffic across the bridged EoIP over IPsec:\nR:\n%s\nS:\n%s",
			r.script("/ip ipsec active-peers print detail\n/interface eoip print stats detail\n/interface bridge port print\n"),
			s.script("/ip ipsec active-peers print detail\n/interface eoip print stats detail\n"))
	}
	for _, d := range []*daemon{r, s} {
		if out := strings.TrimSpace(d.script(":put [/interface eoip get eo1 actual-mtu]\n")); out != "1500" {
			t.Errorf("actual-mtu %q, want 1500", out)
		}
	}
	if out, err := iketest.In(hR, "ping", "-c", "5", "-i", "0.1", "-W", "2", "-M", "do", "-s", "1472", "198.19.219.2").CombinedOutput(); err != nil {
		t.Fatalf("1472-byte DF pings between hosts behind the bridges: %v\n%s\nR:\n%s\nS:\n%s", err, out,
			r.script("/interface eoip print stats detail\n/ip ipsec statistics print\n"), s.script("/interface eoip print stats detail\n/ip ipsec statistics print\n"))
	}
	protos := w.protos()
	if protos["47"] != 0 || protos["50"] < 10 {
		t.Fatalf("want only ESP (50) and IKE (17) on the wire, got packets by protocol %v", protos)
	}
	frags, err := exec.Command("tshark", "-r", w.pcap, "-Y", "ip.proto == 50 && ip.flags.mf == 1", "-T", "fields", "-e", "ip.len").Output()
	if err != nil {
		t.Fatalf("tshark -r: %v", err)
	}
	if n := len(strings.Fields(string(frags))); n < 10 {
		t.Errorf("want the full frames' ESP packets in fragments on the wire (5 requests, 5 replies), saw %d first fragments", n)
	}
}
