package ipsec_test

import (
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/dataplane"
	"github.com/routerd/routerd/ike/iketest"
	"github.com/routerd/routerd/test/testbin"
)

var statProp = regexp.MustCompile(`(?m)\b(datapath-receive|receive-steered-packets|receive-steered-reads|in-errors|in-no-states|in-state-sequence-errors|in-state-protocol-errors)[=:] *"?([\w-]+)`)

// ipsecStats reads the props of /ip ipsec statistics print that this test looks at.
func ipsecStats(d *daemon) map[string]string {
	out := d.script("/ip ipsec statistics print\n")
	m := map[string]string{}
	for _, s := range statProp.FindAllStringSubmatch(out, -1) {
		m[s[1]] = s[2]
	}
	return m
}

func steered(t *testing.T, d *daemon) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(ipsecStats(d)["receive-steered-packets"], 10, 64)
	if err != nil {
		t.Fatalf("receive-steered-packets: %v", err)
	}
	return n
}

// TestRawESPPortGRO: between two routerd over raw ESP, the port program hands the
// inbound ESP of the SAs to the userspace path's GRO socket (datapath-receive=port-gro,
// receive-steered-packets grows with the pings and a TCP transfer, which GRO carries in
// batches); an input rule that could see ESP takes it back to the raw socket (it counts
// the ESP, traffic goes on, nothing more is steered) and its removal brings the
// steering back. A new OpenTunnels on rB's pins (its tunnel engine started again) resets
// the steering, and rB's ESP path sets it again by itself (before: raw-socket until the
// path was opened again); UDP sent to the steering port by a local process or through
// the tunnel (in on ipsec0, where the port program does not run) is not taken for ESP
// (before: counted as steered and looked up as ESP). Fails without the steering (raw-socket, 0 steered). The steering is on
// by ROUTERD_ESP_RXSTEER=port-gro (off by default: see esp.Config.SteerRx).
func TestRawESPPortGRO(t *testing.T) {
	iketest.NeedRoot(t, "ip", "nsenter", "ping", "iperf3")
	hA, rA, rB, hB := iketest.NS(t, "erxha"), iketest.NS(t, "erxra"), iketest.NS(t, "erxrb"), iketest.NS(t, "erxhb")
	iketest.Veth(t, hA, "eth0", "198.19.1.2/24", rA, "ether2", "")
	iketest.Veth(t, rA, "ether1", "", rB, "ether1", "")
	iketest.Veth(t, rB, "ether2", "", hB, "eth0", "198.19.2.2/24")
	iketest.Sh(t, "ip", "-n", hA, "route", "add", "default", "via", "198.19.1.1")
	iketest.Sh(t, "ip", "-n", hB, "route", "add", "default", "via", "198.19.2.1")
	// The steering is opt-in (esp.Config.SteerRx).
	// rB's pins on a bpf file system of the test's, which the test opens as a tunnel
	// engine would.
	bpfB := filepath.Join(t.TempDir(), "bpf")
	if err := syscall.Mkdir(bpfB, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("bpf", bpfB, "bpf", 0, "mode=0700"); err != nil {
		t.Skipf("cannot mount bpffs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(bpfB, syscall.MNT_DETACH) })
	steer := func(ns, bpffs string) *daemon {
		r := testbin.Start(t, binDir, testbin.Options{Netns: ns, BPFFS: bpffs, Env: []string{"ROUTERD_ESP_RXSTEER=port-gro"}})
		return &daemon{Router: r, t: t, ns: ns, sock: r.Sock, log: r.Log}
	}
	dA, dB := steer(rA, ""), steer(rB, bpfB)
	const ike = `/ip ipsec profile add name=erx enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=erx enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
`
	dA.script(`/ip address add address=198.18.70.1/24 interface=ether1
/ip address add address=198.19.1.1/24 interface=ether2
` + ike + `/ip ipsec peer add name=b address=198.18.70.2/32 local-address=198.18.70.1 exchange-mode=ike2 profile=erx
/ip ipsec identity add peer=b secret=esprx-test-psk-1 my-id=fqdn:a.example remote-id=fqdn:b.example
/ip ipsec policy add src-address=198.19.1.0/24 dst-address=198.19.2.0/24 tunnel=yes proposal=erx peer=b
`)
	dB.script(`/ip address add address=198.18.70.2/24 interface=ether1
/ip address add address=198.19.2.1/24 interface=ether2
` + ike + `/ip ipsec peer add name=a address=198.18.70.1/32 local-address=198.18.70.2 exchange-mode=ike2 profile=erx
/ip ipsec identity add peer=a secret=esprx-test-psk-1 my-id=fqdn:b.example remote-id=fqdn:a.example
/ip ipsec policy add src-address=198.19.2.0/24 dst-address=198.19.1.0/24 tunnel=yes proposal=erx peer=a
`)
	ping := func(n int) bool {
		return iketest.In(hA, "ping", "-q", "-c", strconv.Itoa(n), "-i", "0.05", "-W", "1", "198.19.2.2").Run() == nil
	}
	diag := func() string {
		return dA.script("/ip ipsec installed-sa print detail\n/ip ipsec statistics print\n") +
			dB.script("/ip ipsec installed-sa print detail\n/ip ipsec statistics print\n")
	}
	if !iketest.WaitFor(60*time.Second, func() bool { return ping(1) }) {
		t.Fatalf("no traffic across:\n%s", diag())
	}
	for _, d := range []*daemon{dA, dB} {
		if !iketest.WaitFor(10*time.Second, func() bool { return ipsecStats(d)["datapath-receive"] == "port-gro" }) {
			t.Fatalf("%s: datapath-receive not port-gro:\n%s", d.ns, diag())
		}
	}
	// installed-sa says it of the inbound SA, not of the outbound one.
	saPath := func(want string) {
		t.Helper()
		if sa := dB.script("/ip ipsec installed-sa print detail\n"); strings.Count(sa, "datapath-receive=") != 1 ||
			!regexp.MustCompile(`datapath-receive="?`+want).MatchString(sa) {
			t.Errorf("rB's installed-sa: want datapath-receive=%s on its one inbound SA:\n%s", want, sa)
		}
	}
	saPath("port-gro")
	a0, b0 := steered(t, dA), steered(t, dB)
	if !ping(20) {
		t.Fatalf("pings lost over port-gro:\n%s", diag())
	}
	a1, b1 := steered(t, dA), steered(t, dB)
	if a1-a0 < 20 || b1-b0 < 20 {
		t.Fatalf("steered %d at rA, %d at rB for 20 pings, want each >= 20:\n%s", a1-a0, b1-b0, diag())
	}
	res, err := iketest.IperfTCP(t, hB, "198.19.2.2", hA, "198.19.1.2", 2)
	if err != nil || res.Bytes == 0 {
		t.Fatalf("iperf3 over port-gro: %v\n%s\n%s", err, res.Output, diag())
	}
	reads1 := ipsecStats(dB)["receive-steered-reads"]
	b2 := steered(t, dB)
	if segs := res.Bytes / 1448; b2-b1 < segs/2 {
		t.Fatalf("rB steered %d ESP packets for %d bytes of TCP (%d segments): the ESP went elsewhere:\n%s", b2-b1, res.Bytes, segs, diag())
	}
	// How well GRO merged them (on veth: not at all, one packet a read; docs/perf.md).
	if r, err := strconv.ParseUint(reads1, 10, 64); err == nil && r > 0 {
		t.Logf("rB: %.1f ESP packets a read", float64(b2)/float64(r))
	}
	if st := ipsecStats(dB); st["in-no-states"] != "0" || st["in-state-protocol-errors"] != "0" {
		t.Errorf("rB statistics over port-gro: %v", st)
	}
	t.Logf("port-gro: %.0f Mbit/s, rB steered %d ESP packets", float64(res.Bytes)*8/2e6, b2-b1)

	// An input rule that sees the ESP: the raw socket takes it again, the rule counts it.
	dB.script("/ip firewall filter add chain=input protocol=ipsec-esp action=accept comment=esprx\n")
	if !iketest.WaitFor(10*time.Second, func() bool { return ipsecStats(dB)["datapath-receive"] == "raw-socket" }) {
		t.Fatalf("rB: datapath-receive not raw-socket with an input rule:\n%s", diag())
	}
	saPath("raw-socket")
	b3 := steered(t, dB)
	if !ping(20) {
		t.Fatalf("pings lost on the raw socket:\n%s", diag())
	}
	if b4 := steered(t, dB); b4 != b3 {
		t.Errorf("rB steered %d ESP packets with an input rule in place", b4-b3)
	}
	rule := dB.script("/ip firewall filter print stats where comment=esprx\n")
	if m := regexp.MustCompile(`input\s+accept\s+(\d+)\s+(\d+)`).FindStringSubmatch(rule); m == nil {
		t.Errorf("no counters in the rule's stats:\n%s", rule)
	} else if n, _ := strconv.Atoi(m[2]); n < 20 {
		t.Errorf("the input rule counted %d packets for 20 pings:\n%s", n, rule)
	}
	dB.script("/ip firewall filter remove [find comment=esprx]\n")
	if !iketest.WaitFor(10*time.Second, func() bool { return ipsecStats(dB)["datapath-receive"] == "port-gro" }) {
		t.Fatalf("rB: datapath-receive not port-gro again after the rule went:\n%s\n%s", diag(),
			dB.script("/ip firewall filter print detail\n/ip firewall nat print detail\n/ip firewall mangle print detail\n/ip firewall raw print detail\n/ip settings print\n"))
	}
	if !ping(5) || steered(t, dB) < b3+5 {
		t.Fatalf("no steering after the rule went:\n%s", diag())
	}

	// The tunnel objects loaded again on rB's pins, as a tunnel engine that starts does:
	// the steering is reset (port 0, no SA), and rB's ESP path sets it again.
	tp, err := dataplane.OpenTunnels(filepath.Join(bpfB, "tunnel"))
	if err != nil {
		t.Fatalf("opening rB's tunnel objects: %v", err)
	}
	defer tp.Close()
	start := time.Now()
	if !iketest.WaitFor(10*time.Second, func() bool { return tp.ESPRxPort() != 0 && ipsecStats(dB)["datapath-receive"] == "port-gro" }) {
		t.Fatalf("rB: steering not set again after OpenTunnels reset it (port %d):\n%s", tp.ESPRxPort(), diag())
	}
	t.Logf("rB set the steering again %v after the reset", time.Since(start).Round(time.Millisecond))
	b5 := steered(t, dB)
	if !ping(20) {
		t.Fatalf("pings lost after the steering was set again:\n%s", diag())
	}
	if b6 := steered(t, dB); b6-b5 < 20 {
		t.Fatalf("rB steered %d ESP packets for 20 pings after the steering was set again:\n%s", b6-b5, diag())
	}

	// UDP to the steering port that the port program did not make is not ESP: from a
	// process on rB (over lo) it is dropped by the socket's filter; from hA through the
	// tunnel, so in on ipsec0 (an interface the program does not run on), it is dropped
	// and counted in in-errors; neither is looked up as an SA's. (The ESP that carried
	// hA's datagrams was steered: one packet each.)
	port := tp.ESPRxPort()
	num := func(m map[string]string, k string) uint64 { n, _ := strconv.ParseUint(m[k], 10, 64); return n }
	junk := make([]byte, 64)
	copy(junk, "\x01\x02\x03\x04\x00\x00\x00\x01") // an SPI and a sequence number
	const sent = 20
	for _, c := range []struct {
		name, from, to    string
		steered, inErrors uint64
	}{
		{"a process on rB", rB, "198.18.70.2", 0, 0},
		{"hA through the tunnel", hA, "198.19.2.1", sent, sent},
	} {
		conn, err := iketest.ListenIn(c.from)("udp4", nil)
		if err != nil {
			t.Fatal(err)
		}
		before := ipsecStats(dB)
		for range sent {
			if _, err := conn.WriteTo(junk, &net.UDPAddr{IP: net.ParseIP(c.to), Port: int(port)}); err != nil {
				t.Fatal(err)
			}
		}
		conn.Close()
		var after map[string]string
		iketest.WaitFor(3*time.Second, func() bool {
			after = ipsecStats(dB)
			return c.inErrors > 0 && num(after, "in-errors")-num(before, "in-errors") >= c.inErrors
		})
		if d := num(after, "receive-steered-packets") - num(before, "receive-steered-packets"); d != c.steered {
			t.Errorf("%s: rB steered %d ESP packets for %d UDP datagrams to the steering port, want %d", c.name, d, sent, c.steered)
		}
		if d := num(after, "in-no-states") - num(before, "in-no-states"); d != 0 {
			t.Errorf("%s: rB looked %d UDP datagrams to the steering port up as ESP", c.name, d)
		}
		if d := num(after, "in-errors") - num(before, "in-errors"); d != c.inErrors {
			t.Errorf("%s: rB counted %d in-errors for %d UDP datagrams to the steering port, want %d", c.name, d, sent, c.inErrors)
		}
	}
}
