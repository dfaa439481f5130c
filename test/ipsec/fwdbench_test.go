package ipsec_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/ike/iketest"
)

// peerItem starts an item of active-peers print detail (its number and flags).
var peerItem = regexp.MustCompile(`(?m)^\s*\d+ [A-Z ]*\s`)

// fwdSecs is each iperf3 run's length.
const fwdSecs = 5

// BenchmarkForwardedESPVsCharon: LAN-to-LAN TCP forwarded by two IPsec gateways, hostA —
// rA — rB — hostB, veth everywhere with GRO at veth's default (off). The gateways are, in
// the same namespaces and the same run, alternately:
//   - routerd in rA and rB, configured through the console as an operator would
//     (profile, proposal, peer, identity, tunnel-mode policy; IKEv2 PSK, aes-128-gcm ESP),
//     over raw ESP on the direct WAN link (rA ether1 — rB ether1);
//   - the same with GRO turned on at rA's LAN port (not a setup of its own: it shows what
//     the per-packet cost of the others is, see below);
//   - the same routerd with the policy's peer set to one reached through a masquerading
//     NAT namespace (rA ether3 — M — rB ether3), so that IKE floats and ESP goes in UDP 4500;
//   - both again with routerd restarted with ROUTERD_ESP_TUNREAD=unbatched: the out
//     path before its TUN reader batched (one read and one send a packet), the baseline
//     of that change in the same run;
//   - charon (strongSwan, kernel-libipsec, which sends ESP in UDP 4500 here) in rA and rB
//     on the direct WAN link with the same proposal.
//
// routerd attaches its XDP port program to every port, and a veth whose peer has an XDP
// program gives up TSO, so hostA sends each 1.4 KB segment as a packet of its own while
// routerd runs in rA (with charon there it sends 20-60 KB TSO packets, which rA's kernel
// segments before charon's TUN). A physical port gets wire-sized frames either way and
// has GRO on by default.
//
//	go test -count=1 -timeout 20m -run XXX -bench ForwardedESPVsCharon -benchtime 1x -v ./test/ipsec
//
// Each round runs iperf3 TCP hostA → hostB for fwdSecs through each way; -benchtime Nx
// gives 2N rounds. Logged per run: Mbit/s, the sender's TCP retransmits, both gateways'
// ESP device (ipsec0) TX drops, the size of the packets rA gets from hostA and reads from
// its TUN, the CPU time of the two ESP processes (both routerd, or both charon) per Gbit
// carried, their system calls and context switches per full segment (perf stat, when
// perf is installed), how busy the machine was and the load average. Reported: the
// medians and the ratios to charon.
func BenchmarkForwardedESPVsCharon(b *testing.B) {
	r := newFwdRig(b, "ef")
	hA, rA, rB, hB, dA, dB := r.hA, r.rA, r.rB, r.hB, r.dA, r.dB
	diag, usePeer := r.diag, r.usePeer

	type run struct {
		mbit, cpuPerGbit, busy, load0, load1 float64
		retr, drops, readSize, lanSize       uint64
		// syscalls and switches per 1448 bytes of TCP payload carried, at rA (encrypting)
		// and at rB (decrypting); 0 without perf.
		sysA, sysB, swA, swB float64
	}
	runs := map[string][]run{}
	measure := func(way string, pids []int) {
		b.Helper()
		tunA0, tunB0, lan0 := statsOf(rA, "ipsec0"), statsOf(rB, "ipsec0"), statsOf(rA, "ether2")
		stop := meterProcs(pids)
		l0 := loadAvg()
		busyMachine()
		res, err := iketest.IperfTCP(b, hB, "198.19.2.2", hA, "198.19.1.2", fwdSecs)
		busy := busyMachine()
		cpu, sys, sw := stop()
		if err != nil || res.Bytes == 0 {
			b.Fatalf("%s: iperf3: %v\n%s\n%s", way, err, res.Output, diag())
		}
		tunA1, tunB1, lan1 := statsOf(rA, "ipsec0"), statsOf(rB, "ipsec0"), statsOf(rA, "ether2")
		gbit := float64(res.Bytes) * 8 / 1e9
		pkts := max(tunA1.TX.Packets-tunA0.TX.Packets, 1)
		// Per full-size segment carried, whatever the size of what the TUN gave.
		segs := max(float64(res.Bytes)/1448, 1)
		r := run{mbit: gbit * 1e3 / fwdSecs, cpuPerGbit: cpu / gbit, busy: busy, load0: l0, load1: loadAvg(),
			retr:     res.Retransmits,
			drops:    tunA1.TX.Dropped - tunA0.TX.Dropped + tunB1.TX.Dropped - tunB0.TX.Dropped,
			readSize: (tunA1.TX.Bytes - tunA0.TX.Bytes) / pkts,
			lanSize:  (lan1.RX.Bytes - lan0.RX.Bytes) / max(lan1.RX.Packets-lan0.RX.Packets, 1),
			sysA:     float64(sys[0]) / segs, sysB: float64(sys[1]) / segs,
			swA: float64(sw[0]) / segs, swB: float64(sw[1]) / segs}
		runs[way] = append(runs[way], r)
		b.Logf("%s %s: %.0f Mbit/s, %d retransmits, ipsec0 TX drops %d (rA+rB); rA: LAN RX %d bytes a packet, ipsec0 TX %d packets of %d bytes; "+
			"ESP processes %.2f CPU-s per Gbit, per 1448-byte segment carried syscalls %.2f rA %.2f rB, context switches %.2f rA %.2f rB; machine busy %.0f%%, load %.1f -> %.1f",
			time.Now().UTC().Format("15:04:05"), way, r.mbit, r.retr, r.drops, r.lanSize, pkts, r.readSize,
			r.cpuPerGbit, r.sysA, r.sysB, r.swA, r.swB, 100*r.busy, r.load0, r.load1)
	}

	const (
		raw    = "routerd raw ESP"
		rawGRO = "routerd raw ESP, GRO on rA's LAN port"
		udp    = "routerd ESP-in-UDP"
		rawUnb = "routerd raw ESP, TUN read unbatched"
		udpUnb = "routerd ESP-in-UDP, TUN read unbatched"
		ch     = "charon kernel-libipsec (ESP-in-UDP)"
	)
	startRouterd, stopRouterd := r.startRouterd, r.stopRouterd
	// unbatched is routerd's userspace ESP out path as it was before its TUN reader
	// batched (one TUN read, one send a packet); a routerd without the switch ignores it.
	unbatched := []string{"ROUTERD_ESP_TUNREAD=unbatched"}
	for i := 0; i < 2*b.N; i++ {
		if i > 0 {
			startRouterd(nil)
		}
		usePeer("raw")
		measure(raw, []int{dA.Pid(), dB.Pid()})
		// Not a way of its own but what bounds the others: rA's LAN port re-aggregating
		// hostA's segments (GRO), so that ipsec0 gets GSO packets as with TSO.
		iketest.Sh(b, "ip", "netns", "exec", rA, "ethtool", "-K", "ether2", "gro", "on")
		measure(rawGRO, []int{dA.Pid(), dB.Pid()})
		iketest.Sh(b, "ip", "netns", "exec", rA, "ethtool", "-K", "ether2", "gro", "off")
		usePeer("natt")
		measure(udp, []int{dA.Pid(), dB.Pid()})
		stopRouterd()
		startRouterd(unbatched)
		usePeer("natt")
		measure(udpUnb, []int{dA.Pid(), dB.Pid()})
		usePeer("raw")
		measure(rawUnb, []int{dA.Pid(), dB.Pid()})
		stopRouterd()
		cA, cB := r.startCharon()
		measure(ch, []int{cA.Pid(), cB.Pid()})
		r.stopCharon(cA, cB)
	}

	med := func(way string, f func(run) float64) float64 {
		var v []float64
		for _, r := range runs[way] {
			v = append(v, f(r))
		}
		return median(v)
	}
	mbit := func(r run) float64 { return r.mbit }
	cpu := func(r run) float64 { return r.cpuPerGbit }
	b.ReportMetric(med(rawGRO, mbit), "raw-langro-Mbit/s")
	b.ReportMetric(med(raw, mbit), "raw-Mbit/s")
	b.ReportMetric(med(udp, mbit), "udp-Mbit/s")
	b.ReportMetric(med(ch, mbit), "charon-Mbit/s")
	b.ReportMetric(med(raw, mbit)/med(ch, mbit), "raw/charon")
	b.ReportMetric(med(udp, mbit)/med(ch, mbit), "udp/charon")
	b.ReportMetric(med(rawGRO, mbit)/med(ch, mbit), "raw-langro/charon")
	b.ReportMetric(med(rawUnb, mbit), "raw-unbatched-Mbit/s")
	b.ReportMetric(med(udpUnb, mbit), "udp-unbatched-Mbit/s")
	b.ReportMetric(med(raw, mbit)/med(rawUnb, mbit), "raw/raw-unbatched")
	b.ReportMetric(med(udp, mbit)/med(udpUnb, mbit), "udp/udp-unbatched")
	b.ReportMetric(med(ch, cpu)/med(raw, cpu), "charon/raw-CPU-per-Gbit")
	b.ReportMetric(med(ch, cpu)/med(udp, cpu), "charon/udp-CPU-per-Gbit")
}

// fwdRig is the forwarded rig of BenchmarkForwardedESPVsCharon and
// BenchmarkForwardedUDPVsCharon: hostA — rA — rB — hostB, veth everywhere, rA and rB
// both routerd (configured through the console, IKEv2 PSK, aes-128-gcm ESP; peer raw over
// the direct WAN link, peer natt through a masquerading NAT namespace M so that ESP goes
// in UDP 4500) or both charon (kernel-libipsec) on the direct link with the same proposal.
type fwdRig struct {
	b                 testing.TB
	hA, rA, m, rB, hB string
	dA, dB            *daemon
}

// newFwdRig builds the rig in namespaces named from prefix and starts both routerd.
func newFwdRig(b testing.TB, prefix string) *fwdRig {
	iketest.NeedRoot(b, "ip", "nsenter", "ping", "iperf3", "nft", "ethtool", "/usr/sbin/charon-systemd", "swanctl")
	r := &fwdRig{b: b, hA: iketest.NS(b, prefix+"ha"), rA: iketest.NS(b, prefix+"ra"), m: iketest.NS(b, prefix+"m"),
		rB: iketest.NS(b, prefix+"rb"), hB: iketest.NS(b, prefix+"hb")}
	hA, rA, m, rB, hB := r.hA, r.rA, r.m, r.rB, r.hB
	iketest.Veth(b, hA, "eth0", "198.19.1.2/24", rA, "ether2", "")
	iketest.Veth(b, rA, "ether1", "", rB, "ether1", "")
	iketest.Veth(b, rA, "ether3", "", m, "in", "198.18.71.2/24")
	iketest.Veth(b, m, "out", "198.18.72.1/24", rB, "ether3", "")
	iketest.Veth(b, rB, "ether2", "", hB, "eth0", "198.19.2.2/24")
	iketest.Sh(b, "ip", "-n", hA, "route", "add", "default", "via", "198.19.1.1")
	iketest.Sh(b, "ip", "-n", hB, "route", "add", "default", "via", "198.19.2.1")
	masquerade(b, m, "out")

	r.dA, r.dB = startDaemon(b, rA), startDaemon(b, rB)
	const ike = `/ip ipsec profile add name=fwd enc-algorithm=aes-128 hash-algorithm=sha256 dh-group=ecp256
/ip ipsec proposal add name=fwd enc-algorithms=aes-128-gcm auth-algorithms=null pfs-group=none
`
	r.dA.script(`/ip address add address=198.18.70.1/24 interface=ether1
/ip address add address=198.18.71.1/24 interface=ether3
/ip address add address=198.19.1.1/24 interface=ether2
/ip route add dst-address=198.18.72.0/24 gateway=198.18.71.2
` + ike + `/ip ipsec peer add name=raw address=198.18.70.2/32 local-address=198.18.70.1 exchange-mode=ike2 profile=fwd
/ip ipsec peer add name=natt address=198.18.72.2/32 local-address=198.18.71.1 exchange-mode=ike2 profile=fwd
/ip ipsec identity add peer=raw secret=fwd-bench-psk-1 my-id=fqdn:a.example remote-id=fqdn:b.example
/ip ipsec identity add peer=natt secret=fwd-bench-psk-1 my-id=fqdn:a.example remote-id=fqdn:b.example
/ip ipsec policy add src-address=198.19.1.0/24 dst-address=198.19.2.0/24 tunnel=yes proposal=fwd peer=raw
`)
	// rB answers the NAT-T peer only: behind the masquerade rA cannot be reached first.
	r.dB.script(`/ip address add address=198.18.70.2/24 interface=ether1
/ip address add address=198.18.72.2/24 interface=ether3
/ip address add address=198.19.2.1/24 interface=ether2
` + ike + `/ip ipsec peer add name=raw address=198.18.70.1/32 local-address=198.18.70.2 exchange-mode=ike2 profile=fwd
/ip ipsec peer add name=natt address=198.18.72.1/32 local-address=198.18.72.2 exchange-mode=ike2 profile=fwd passive=yes
/ip ipsec identity add peer=raw secret=fwd-bench-psk-1 my-id=fqdn:b.example remote-id=fqdn:a.example
/ip ipsec identity add peer=natt secret=fwd-bench-psk-1 my-id=fqdn:b.example remote-id=fqdn:a.example
/ip ipsec policy add src-address=198.19.2.0/24 dst-address=198.19.1.0/24 tunnel=yes proposal=fwd peer=raw
`)
	return r
}

// across says whether hostA reaches hostB.
func (r *fwdRig) across() bool {
	return iketest.In(r.hA, "ping", "-c", "1", "-W", "1", "198.19.2.2").Run() == nil
}

// diag is both routerd's IPsec state, for a failure's message.
func (r *fwdRig) diag() string {
	var s strings.Builder
	for _, d := range []*daemon{r.dA, r.dB} {
		if d.Running() {
			s.WriteString(d.script("/ip ipsec active-peers print detail\n/ip ipsec installed-sa print detail\n/ip ipsec policy print detail\n"))
		}
	}
	return s.String()
}

// usePeer points both routerd's policy at their peer named p and waits until hostA
// reaches hostB over an SA with it: over UDP 4500 (NAT-T) for natt, raw ESP for raw.
func (r *fwdRig) usePeer(p string) {
	b := r.b
	b.Helper()
	for _, d := range []*daemon{r.dA, r.dB} {
		d.script("/ip ipsec policy set [find tunnel=yes] peer=" + p + "\n")
	}
	want := map[string]string{"raw": "198.18.70.2", "natt": "198.18.72.2"}[p]
	if !iketest.WaitFor(60*time.Second, func() bool {
		sa := r.dA.script("/ip ipsec installed-sa print detail\n")
		return strings.Contains(sa, want) && r.across()
	}) {
		b.Fatalf("no traffic over peer %s:\n%s", p, r.diag())
	}
	// The other peer's IKE SA may stay up (without a CHILD SA): look at this one's.
	peers := r.dA.script("/ip ipsec active-peers print detail\n")
	var entry string
	for _, e := range peerItem.Split(peers, -1) {
		if strings.Contains(e, "remote-address="+want) {
			entry = e
		}
	}
	if nat := strings.Contains(entry, "port=4500"); entry == "" || nat != (p == "natt") {
		b.Fatalf("peer %s: NAT-T %v:\n%s", p, nat, peers)
	}
}

// startRouterd (re)starts both routerd with env (their stored configuration).
func (r *fwdRig) startRouterd(env []string) {
	for _, d := range []*daemon{r.dA, r.dB} {
		d.Opts.Env = env
		if err := d.Start(); err != nil {
			r.b.Fatal(err)
		}
	}
}

// stopRouterd stops both routerd and waits for their ESP devices to go.
func (r *fwdRig) stopRouterd() {
	r.dA.Stop()
	r.dB.Stop()
	ensureGone(r.b, r.rA, r.rB)
}

// startCharon starts charon in rA and rB (routerd stopped) and waits until hostA
// reaches hostB through it.
func (r *fwdRig) startCharon() (cA, cB *iketest.Charon) {
	b := r.b
	b.Helper()
	// What charon needs of the gateways that routerd set up (it may leave them, but
	// the test does not rely on it): addresses, forwarding.
	for _, x := range [][3]string{{r.rA, "ether1", "198.18.70.1/24"}, {r.rA, "ether2", "198.19.1.1/24"},
		{r.rB, "ether1", "198.18.70.2/24"}, {r.rB, "ether2", "198.19.2.1/24"}} {
		iketest.Sh(b, "ip", "-n", x[0], "addr", "replace", x[2], "dev", x[1])
	}
	for _, n := range []string{r.rA, r.rB} {
		iketest.Sh(b, "ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	}
	conf := func(local, remote, lts, rts, id, rid string) string {
		return swanPSK{local: local, remote: remote, id: id, remoteID: rid, psk: "fwd-bench-psk-1",
			children: []swanChild{{name: "net", localTS: lts, remoteTS: rts, esp: "aes128gcm16"}}}.String()
	}
	cA = iketest.StartCharon(b, r.rA, conf("198.18.70.1", "198.18.70.2", "198.19.1.0/24", "198.19.2.0/24", "a.example", "b.example"))
	cB = iketest.StartCharon(b, r.rB, conf("198.18.70.2", "198.18.70.1", "198.19.2.0/24", "198.19.1.0/24", "b.example", "a.example"))
	if out, err := cA.Swanctl("--initiate", "--child", "net", "--timeout", "20"); err != nil {
		b.Fatalf("charon initiate: %v\n%s\n%s", err, out, tail(cA.Log(), 3000))
	}
	if !iketest.WaitFor(20*time.Second, r.across) {
		out, _ := cA.Swanctl("--list-sas")
		b.Fatalf("no traffic through charon:\n%s", out)
	}
	return cA, cB
}

// stopCharon stops both charon and waits for their TUN devices to go.
func (r *fwdRig) stopCharon(cA, cB *iketest.Charon) {
	cA.Stop()
	cB.Stop()
	ensureGone(r.b, r.rA, r.rB)
}

// ensureGone waits until the ESP device of the daemon just stopped has gone in each of
// nss and removes the policy routing that charon's kernel-libipsec leaves (rule and
// table 220), so that the next daemon starts from what it would find at a boot.
func ensureGone(t testing.TB, nss ...string) {
	t.Helper()
	for _, n := range nss {
		if !iketest.WaitFor(10*time.Second, func() bool {
			return exec.Command("ip", "-n", n, "link", "show", "ipsec0").Run() != nil
		}) {
			t.Fatalf("%s: ipsec0 still there after its daemon stopped", n)
		}
		exec.Command("ip", "-n", n, "route", "flush", "table", "220").Run()
		for exec.Command("ip", "-n", n, "rule", "del", "table", "220").Run() == nil {
		}
	}
}

// linkStats is a device's counters in ns; zero when it has no such device (charon's
// TUN before it starts).
type linkStats struct {
	RX, TX struct{ Packets, Bytes, Dropped uint64 }
}

func statsOf(ns, dev string) linkStats {
	out, err := exec.Command("ip", "-n", ns, "-s", "-j", "link", "show", dev).Output()
	var links []struct{ Stats64 linkStats }
	if err != nil || json.Unmarshal(out, &links) != nil || len(links) != 1 {
		return linkStats{}
	}
	return links[0].Stats64
}

// meterProcs starts counting the CPU time of the ESP processes pids (rA's, then rB's) and
// their system calls and context switches; the function it returns stops and reads them.
func meterProcs(pids []int) func() (cpuSecs float64, syscalls, switches [2]uint64) {
	var c0 float64
	for _, p := range pids {
		c0 += procCPU(p)
	}
	stops := make([]func() (uint64, uint64), len(pids))
	for i, p := range pids {
		stops[i] = perfStat(p)
	}
	return func() (cpuSecs float64, syscalls, switches [2]uint64) {
		for _, p := range pids {
			cpuSecs += procCPU(p)
		}
		for i, stop := range stops {
			syscalls[i], switches[i] = stop()
		}
		return cpuSecs - c0, syscalls, switches
	}
}

// perfStat counts a process's system calls and context switches (perf stat) until the
// returned function is called; it returns zeros where perf cannot count them.
func perfStat(pid int) func() (syscalls, switches uint64) {
	f, err := os.CreateTemp("", "fwdperf")
	if err != nil {
		return func() (uint64, uint64) { return 0, 0 }
	}
	f.Close()
	cmd := exec.Command("perf", "stat", "-x,", "-o", f.Name(), "-e", "raw_syscalls:sys_enter,context-switches", "-p", strconv.Itoa(pid))
	if cmd.Start() != nil {
		os.Remove(f.Name())
		return func() (uint64, uint64) { return 0, 0 }
	}
	return func() (syscalls, switches uint64) {
		defer os.Remove(f.Name())
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		out, _ := os.ReadFile(f.Name())
		for _, l := range strings.Split(string(out), "\n") {
			fs := strings.Split(l, ",")
			if len(fs) < 3 {
				continue
			}
			v, _ := strconv.ParseUint(fs[0], 10, 64)
			switch {
			case strings.Contains(fs[2], "sys_enter"):
				syscalls = v
			case strings.Contains(fs[2], "context-switches"):
				switches = v
			}
		}
		return
	}
}

// procCPU is a process's user+system CPU time in seconds (all its threads).
func procCPU(pid int) float64 {
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(s[strings.LastIndexByte(string(s), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	k, _ := strconv.ParseFloat(f[12], 64)
	return (u + k) / 100 // USER_HZ
}

// loadAvg is the one-minute load average.
func loadAvg() float64 {
	s, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(s))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

var lastBusy, lastTotal float64

// busyMachine is how busy all CPUs were (0..1) since its previous call.
func busyMachine() float64 {
	s, _ := os.ReadFile("/proc/stat")
	f := strings.Fields(strings.SplitN(string(s), "\n", 2)[0])
	var busy, total float64
	for i, x := range f[1:] {
		v, _ := strconv.ParseFloat(x, 64)
		if i < 8 {
			total += v
			if i != 3 && i != 4 { // all but idle and iowait
				busy += v
			}
		}
	}
	r := (busy - lastBusy) / max(total-lastTotal, 1)
	lastBusy, lastTotal = busy, total
	return r
}
