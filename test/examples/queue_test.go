package examples

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// shaped builds client C - router R - server S: R's ether1 faces the client network
// 198.18.1.0/24, ether2 the server network 198.18.0.0/24; routerd runs in R.
func shaped(t *testing.T) (r *router, c, s string) {
	t.Helper()
	return shapedVia(t, "ether1")
}

// shapedVia is shaped with the client network's address on the interface lan, which the
// commands setup (run first) make.
func shapedVia(t *testing.T, lan string, setup ...string) (r *router, c, s string) {
	t.Helper()
	need(t, "iperf3", "tc")
	rn, c, s := netns(t, "qr"), netns(t, "qc"), netns(t, "qs")
	veth(t, rn, "ether1", c, "c0")
	veth(t, rn, "ether2", s, "s0")
	runIn(t, rn, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	run(t, "ip", "-n", c, "addr", "add", "198.18.1.2/24", "dev", "c0")
	run(t, "ip", "-n", c, "route", "add", "default", "via", "198.18.1.1")
	run(t, "ip", "-n", s, "addr", "add", "198.18.0.2/24", "dev", "s0")
	run(t, "ip", "-n", s, "route", "add", "default", "via", "198.18.0.1")
	r = startRouter(t, rn)
	for _, cmd := range setup {
		r.must(cmd)
	}
	r.must("/ip address add address=198.18.1.1/24 interface=" + lan)
	r.must("/ip address add address=198.18.0.1/24 interface=ether2")
	eventually(t, "forwarding", func() (bool, string) {
		out, err := in(s, "ping", "-c1", "-W1", "198.18.1.2").CombinedOutput()
		return err == nil, string(out)
	})
	return r, c, s
}

// iperf measures from the server namespace: download (server to client) or, with
// reverse, upload (client to server). udp offers rate bits/s; TCP otherwise. It returns
// the receiver's bits/s.
func iperf(t *testing.T, c, s string, reverse bool, udpRate string, secs int) float64 {
	t.Helper()
	return iperfTo(t, c, "198.18.1.2", 5201, s, reverse, udpRate, secs)
}

// iperfTo is iperf with the iperf3 server in namespace srvNs on address srv and port,
// and the client (which opens the connection and, without reverse, sends) in cliNs.
func iperfTo(t *testing.T, srvNs, srv string, port int, cliNs string, reverse bool, udpRate string, secs int) float64 {
	t.Helper()
	// A one-test server per measurement: a flow cut by a class change leaves no busy
	// server behind.
	server := in(srvNs, "iperf3", "-s", "-1", "-B", srv, "-p", itoa(port))
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	eventually(t, "iperf3 server", func() (bool, string) {
		out, err := in(srvNs, "ss", "-Hltn", "sport = :"+itoa(port)).CombinedOutput()
		return err == nil && strings.Contains(string(out), ":"+itoa(port)), string(out)
	})
	args := []string{"iperf3", "-c", srv, "-p", itoa(port), "-J", "-t", itoa(secs), "-O", "1"}
	if reverse {
		args = append(args, "-R")
	}
	if udpRate != "" {
		args = append(args, "-u", "-b", udpRate, "-l", "1000")
	}
	var out []byte
	var err error
	out, err = in(cliNs, args...).Output()
	if err != nil || strings.Contains(string(out), `"error":`) {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	var v struct {
		End struct {
			SumReceived struct {
				BPS float64 `json:"bits_per_second"`
			} `json:"sum_received"`
			Sum struct {
				BPS  float64 `json:"bits_per_second"`
				Lost float64 `json:"lost_percent"`
			} `json:"sum"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("iperf3 JSON: %v\n%s", err, out)
	}
	if udpRate != "" {
		// Debian 12's iperf3 reports the sender's rate and the loss the receiver saw.
		return v.End.Sum.BPS * (1 - v.End.Sum.Lost/100)
	}
	return v.End.SumReceived.BPS
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func within(got, want, frac float64) bool { return math.Abs(got-want) <= want*frac }

// heldTo says whether a TCP flow through a queue of max-limit limit was held to it: at
// most 10 % over, and not strangled (at least 60 %). Under the limit is what CPU
// starvation does to iperf3 on two loaded cores (6.7 Mbit/s of 8M at load 40): the
// sender is not scheduled when HTB has tokens; a shaper that does not hold or a rate off
// by a unit shows either way.
func heldTo(got, limit float64) bool { return got <= limit*1.10 && got >= limit*0.60 }

// TestSimpleQueueHoldsMaxLimit: an iperf3 TCP flow through a simple queue is held to its
// max-limit within 10 % in both directions (download on ether1's egress, upload through
// the IFB behind ether1's ingress); removing the queue lifts the limit.
func TestSimpleQueueHoldsMaxLimit(t *testing.T) {
	r, c, s := shaped(t)
	free := iperf(t, c, s, false, "", 2)
	r.must("/queue simple add name=q1 target=198.18.1.2/32 max-limit=4M/8M")
	eventually(t, "HTB on ether1", func() (bool, string) {
		out, _ := in(r.ns, "tc", "class", "show", "dev", "ether1").CombinedOutput()
		return strings.Contains(string(out), "htb"), string(out)
	})
	r.Settle() // the whole pass: the IFB and ether1's filters too, not only the root
	down := iperf(t, c, s, false, "", 4)
	up := iperf(t, c, s, true, "", 4)
	t.Logf("unshaped %.1f Mbit/s; download %.2f Mbit/s (max 8M), upload %.2f Mbit/s (max 4M)", free/1e6, down/1e6, up/1e6)
	if !heldTo(down, 8e6) {
		t.Errorf("download %.0f bit/s; want 8M (at most 10%% over, at least 60%%)", down)
	}
	if !heldTo(up, 4e6) {
		t.Errorf("upload %.0f bit/s; want 4M (at most 10%% over, at least 60%%)", up)
	}
	// Counters: bytes and packets moved in both directions.
	out := r.must("/queue simple print stats")
	if !strings.Contains(out, "q1") {
		t.Errorf("print stats:\n%s", out)
	}
	b := strings.TrimSpace(r.must(":put [/queue simple get q1 bytes]"))
	var u, d int64
	if n, _ := fmtSscanf(b, &u, &d); n != 2 || u < 1e6 || d < 1e6 {
		t.Errorf("bytes %q", b)
	}
	// reset-counters and reset-counters-all zero what the queue shows (the kernel's class
	// keeps counting); nothing flows now, so it stays near 0.
	for _, cmd := range []string{"/queue simple reset-counters q1", "/queue simple reset-counters-all"} {
		r.must(cmd)
		b := strings.TrimSpace(r.must(":put [/queue simple get q1 bytes]"))
		if n, _ := fmtSscanf(b, &u, &d); n != 2 || u > 1e5 || d > 1e5 {
			t.Errorf("after %s: bytes %q", cmd, b)
		}
		if pk := strings.TrimSpace(r.must(":put [/queue simple get q1 packets]")); pk == "" {
			t.Errorf("after %s: no packets", cmd)
		}
	}
	if up := iperf(t, c, s, true, "", 1); up == 0 {
		t.Errorf("no upload after reset")
	}
	eventually(t, "counting again after reset", func() (bool, string) {
		b := strings.TrimSpace(r.must(":put [/queue simple get q1 bytes]"))
		n, _ := fmtSscanf(b, &u, &d)
		return n == 2 && u > 1e5, b
	})
	// A queue the kernel refuses (a 1 bit/s rate) is invalid with the kernel's reason,
	// and only it: q1 keeps its class and its filters.
	r.must("/queue simple add name=qbad target=198.18.1.5/32 max-limit=1/1")
	eventually(t, "qbad invalid", func() (bool, string) {
		out := r.must("/queue simple print detail where name=qbad")
		return strings.Contains(out, "HTB class"), out
	})
	if out := r.must("/queue simple print detail where name=q1"); strings.Contains(out, "status=") {
		t.Errorf("q1 marked by qbad's refusal:\n%s", out)
	}
	for _, dev := range []string{"ether1", "rq-" + ifindex(t, r.ns, "ether1")} {
		if out, _ := in(r.ns, "tc", "filter", "show", "dev", dev).CombinedOutput(); !strings.Contains(string(out), "flowid") {
			t.Errorf("%s lost q1's filters beside the refused queue:\n%s", dev, out)
		}
	}
	r.must("/queue simple remove qbad")
	// The IFB is how upload shaping works here, not an interface RouterOS has.
	for _, cmd := range []string{"/interface print", "/ipv6 address print"} {
		if out := r.must(cmd); strings.Contains(out, "rq-") {
			t.Errorf("%s lists the shaping IFB:\n%s", cmd, out)
		}
	}

	r.must("/queue simple remove q1")
	eventually(t, "HTB removed", func() (bool, string) {
		out, _ := in(r.ns, "tc", "qdisc", "show", "dev", "ether1").CombinedOutput()
		return !strings.Contains(string(out), "htb"), string(out)
	})
	if after := iperf(t, c, s, false, "", 2); after < 3*8e6 {
		t.Errorf("after remove %.0f bit/s; the limit stayed", after)
	}
	_ = free
}

func fmtSscanf(s string, u, d *int64) (int, error) {
	a, b, ok := strings.Cut(s, "/")
	if !ok {
		return 0, nil
	}
	var err error
	if *u, err = parseInt(a); err != nil {
		return 0, err
	}
	if *d, err = parseInt(b); err != nil {
		return 1, err
	}
	return 2, nil
}

func parseInt(s string) (int64, error) {
	var n int64
	err := json.Unmarshal([]byte(s), &n)
	return n, err
}

// TestSchedulerQueueExample runs the scheduler page's queue example as written (the
// client network mapped to 198.18.1.0/24 behind ether1): start_limit and stop_limit switch
// Cust0 between 64 and 128 kbit/s, and the measured download rate follows.
func TestSchedulerQueueExample(t *testing.T) {
	r, c, s := shaped(t)
	for _, src := range []string{
		"/queue simple\nadd name=Cust0 interface=ether1 \\\ndst-address=198.18.1.0/24 limit-at=64000",
		"/system script\nadd name=start_limit source={/queue simple set \\\nCust0 limit-at=64000}",
		"/system script\nadd name=stop_limit source={/queue simple set \\\nCust0 limit-at=128000}",
		"/system scheduler\nadd interval=24h name=\"set-64k\" \\\nstart-time=9:00:00 on-event=start_limit",
		"/system scheduler\nadd interval=24h name=\"set-128k\" \\\nstart-time=17:00:00 on-event=stop_limit",
	} {
		if out, err := r.script(src); err != nil {
			t.Fatalf("%s: %v\n%s", src, err, out)
		}
	}
	// measure waits for the class at the script's rate (not a moment after the run),
	// then measures.
	measure := func(rate string) float64 {
		eventually(t, rate+" applied", func() (bool, string) {
			out, _ := in(r.ns, "tc", "class", "show", "dev", "ether1").CombinedOutput()
			return strings.Contains(string(out), "htb") && strings.Contains(string(out), "rate "+rate), string(out)
		})
		return iperf(t, c, s, false, "", 6)
	}
	r.must("/system script run start_limit")
	slow := measure("64Kbit")
	r.must("/system script run stop_limit")
	fast := measure("128Kbit")
	t.Logf("Cust0 at 64k: %.1f kbit/s; at 128k: %.1f kbit/s", slow/1e3, fast/1e3)
	if !within(slow, 64e3, 0.15) || !within(fast, 128e3, 0.15) {
		t.Errorf("rates %.0f and %.0f bit/s; want 64k and 128k within 15%%", slow, fast)
	}
}

// TestQueuePacketMarks: a queue with packet-marks holds only the traffic the firewall's
// mangle marked with one of them (classified by an eBPF filter, this kernel having no
// cls_fw): with a mark nobody sets the flow runs free, with mangle's mark it is held to
// max-limit.
func TestQueuePacketMarks(t *testing.T) {
	r, c, s := shaped(t)
	r.must("/ip firewall mangle add chain=forward dst-address=198.18.1.2 action=mark-packet new-packet-mark=slow passthrough=no")
	r.must("/queue simple add name=m target=198.18.1.2/32 packet-marks=other max-limit=2M/2M")
	eventually(t, "bpf filter", func() (bool, string) {
		out, _ := in(r.ns, "tc", "filter", "show", "dev", "ether1").CombinedOutput()
		return strings.Contains(string(out), "routerd_qmark"), string(out)
	})
	free := iperf(t, c, s, false, "", 2)
	r.must("/queue simple set m packet-marks=slow")
	// The filter is there from the first mark: what says the new mark is in force is
	// the queue engine's pass after the set.
	r.Settle()
	held := iperf(t, c, s, false, "", 4)
	t.Logf("unmarked queue: %.1f Mbit/s; marked: %.2f Mbit/s (max 2M)", free/1e6, held/1e6)
	if free < 10e6 {
		t.Errorf("a queue for mark other held unmarked traffic: %.0f bit/s", free)
	}
	if !heldTo(held, 2e6) {
		t.Errorf("marked traffic %.0f bit/s; want 2M (at most 10%% over, at least 60%%)", held)
	}
}

// TestQueuePacketMarksUpload: a queue with packet-marks shapes upload too (issue 15: the
// upload classifier ran at the target interface's ingress, before mangle set the mark,
// and a marked upload ran at 544 Mbit/s against max-limit 5M). Mangle marks what the
// client sends; upload is held to max-limit, download (unmarked) is not, and the
// redirect that feeds the upload IFB sits on the server side's egress.
func TestQueuePacketMarksUpload(t *testing.T) {
	r, c, s := shaped(t)
	r.must("/ip firewall mangle add chain=forward src-address=198.18.1.2 action=mark-packet new-packet-mark=up passthrough=no")
	r.must("/queue simple add name=m target=198.18.1.2/32 packet-marks=up max-limit=2M/2M")
	r.Settle()
	held := iperf(t, c, s, true, "", 4)
	down := iperf(t, c, s, false, "", 2)
	t.Logf("marked upload: %.2f Mbit/s (max 2M); unmarked download %.1f Mbit/s", held/1e6, down/1e6)
	if !heldTo(held, 2e6) {
		t.Errorf("marked upload %.0f bit/s; want 2M (at most 10%% over, at least 60%%)", held)
	}
	if down < 10e6 {
		t.Errorf("unmarked download held: %.0f bit/s", down)
	}
	up := "rq-u" + ifindex(t, r.ns, "ether1")
	for _, w := range [][]string{
		{"input dev ether1", "ether2", "egress"}, {"to device " + up + ")", "ether2", "egress"},
	} {
		out, _ := in(r.ns, append([]string{"tc", "filter", "show", "dev"}, w[1:]...)...).CombinedOutput()
		if !strings.Contains(string(out), w[0]) {
			t.Errorf("no %q in the filters of %q:\n%s", w[0], w[1:], out)
		}
	}
	// The upload classifier (after mangle, before src-nat) names the class by priority.
	if out, _ := in(r.ns, "nft", "list", "table", "ip", "routerd_queue").CombinedOutput(); !strings.Contains(string(out), `iifname "ether1"`) ||
		!strings.Contains(string(out), "meta priority set 1:") {
		t.Errorf("no upload classifier for ether1:\n%s", out)
	}
	// The queue removed: the redirects and the IFB go.
	r.must("/queue simple remove m")
	eventually(t, "ether2's egress redirect removed", func() (bool, string) {
		out, _ := in(r.ns, "tc", "filter", "show", "dev", "ether2", "egress").CombinedOutput()
		_, err := in(r.ns, "ip", "link", "show", up).CombinedOutput()
		_, nftErr := in(r.ns, "nft", "list", "table", "ip", "routerd_queue").CombinedOutput()
		return !strings.Contains(string(out), "input dev") && err != nil && nftErr != nil, string(out)
	})
}

// TestQueuePacketMarksUploadNAT: behind masquerade, a queue for a host with packet-marks
// holds the host's marked upload (QA, issue 15: the upload was classified after src-nat
// had put the router's address in place of the target's, and ran at 848 Mbit/s
// against max-limit 5M). The client opens the connection, so the router masquerades it.
func TestQueuePacketMarksUploadNAT(t *testing.T) {
	r, c, s := shaped(t)
	r.must("/ip firewall nat add chain=srcnat out-interface=ether2 action=masquerade")
	r.must("/ip firewall mangle add chain=forward src-address=198.18.1.2 action=mark-packet new-packet-mark=up passthrough=no")
	r.must("/queue simple add name=m target=198.18.1.2/32 packet-marks=up max-limit=5M/5M")
	r.Settle()
	uploadHeldTo(t, c, s, 5201, 5e6, "marked upload behind masquerade")
	// The server saw the router's address: the flow was masqueraded.
	if out, _ := in(r.ns, "conntrack", "-L", "-p", "tcp", "--dport", "5201").CombinedOutput(); !strings.Contains(string(out), "dst=198.18.0.1") {
		t.Errorf("the flow was not masqueraded:\n%s", out)
	}
}

// TestQueueFirstMatchWinsUpload: of two queues for one host, the first in order takes
// the upload it matches: an earlier queue with packet-marks (max-limit 20M) takes the
// marked upload, and a later one without packet-marks (max-limit 2M) the rest (QA, issue
// 15: the later queue took the marked upload at the interface's ingress, before mangle
// marked it, and held it to 2M as well).
func TestQueueFirstMatchWinsUpload(t *testing.T) {
	r, c, s := shaped(t)
	r.must("/ip firewall mangle add chain=forward src-address=198.18.1.2 protocol=tcp dst-port=5201 action=mark-packet new-packet-mark=up passthrough=no")
	r.must("/queue simple add name=marked target=198.18.1.2/32 packet-marks=up max-limit=20M/20M")
	r.must("/queue simple add name=plain target=198.18.1.2/32 max-limit=2M/2M")
	r.Settle()
	uploadHeldTo(t, c, s, 5201, 20e6, "marked upload (the first queue's)")
	// Upload the mangle rule does not mark (another port) goes to the later queue.
	uploadHeldTo(t, c, s, 5202, 2e6, "unmarked upload (the second queue's)")
}

// uploadHeldTo measures a 4 s TCP upload from the client c to the server s's port,
// through the router's queues, and fails the test unless it is held to limit bits/s.
func uploadHeldTo(t *testing.T, c, s string, port int, limit float64, what string) {
	t.Helper()
	up := iperfTo(t, s, "198.18.0.2", port, c, false, "", 4)
	t.Logf("%s: %.2f Mbit/s (max %gM)", what, up/1e6, limit/1e6)
	if !heldTo(up, limit) {
		t.Errorf("%s %.0f bit/s; want %gM (at most 10%% over, at least 60%%)", what, up, limit/1e6)
	}
}

// TestSimpleQueueKeptAcrossRestart: a routerd restart does not unshape (issue 15: the
// engine deleted its root qdiscs on stop, and the HTB classes were back ~6 s after the
// start, an iperf3 started meanwhile ran at 257 Mbit/s against 5M). The trees stay while
// routerd is stopped and shape there; the start adopts them (the class's counters go on:
// a tree installed again would start from 0), and a change after the start applies.
func TestSimpleQueueKeptAcrossRestart(t *testing.T) {
	r, c, s := shaped(t)
	r.must("/queue simple add name=q1 target=198.18.1.2/32 max-limit=4M/4M")
	devs := []string{"ether1", "rq-" + ifindex(t, r.ns, "ether1")}
	tree := func(dev string) string {
		q, _ := in(r.ns, "tc", "qdisc", "show", "dev", dev, "root").CombinedOutput()
		cl, _ := in(r.ns, "tc", "-s", "class", "show", "dev", dev).CombinedOutput()
		return string(q) + string(cl)
	}
	shaping := func(dev, rate string) (bool, string) {
		out := tree(dev)
		return strings.Contains(out, "htb 1:") && strings.Contains(out, "rate "+rate), out
	}
	for _, dev := range devs {
		eventually(t, "HTB on "+dev, func() (bool, string) { return shaping(dev, "4Mbit") })
	}
	sent := func(dev string) int64 {
		t.Helper()
		out := tree(dev)
		_, rest, ok := strings.Cut(out, "class htb 1:")
		_, rest, ok2 := strings.Cut(rest, "Sent ")
		n, err := parseInt(strings.Fields(rest + " x")[0])
		if !ok || !ok2 || err != nil {
			t.Fatalf("no class counters on %s:\n%s", dev, out)
		}
		return n
	}

	r.Stop()
	for _, dev := range devs {
		if ok, out := shaping(dev, "4Mbit"); !ok {
			t.Errorf("%s right after the stop:\n%s", dev, out)
		}
	}
	if out, _ := in(r.ns, "tc", "filter", "show", "dev", "ether1", "ingress").CombinedOutput(); !strings.Contains(string(out), "to device "+devs[1]+")") {
		t.Errorf("ether1's ingress redirect gone with routerd stopped:\n%s", out)
	}
	down := iperf(t, c, s, false, "", 3)
	up := iperf(t, c, s, true, "", 3)
	t.Logf("routerd stopped: download %.2f, upload %.2f Mbit/s (max 4M)", down/1e6, up/1e6)
	if !heldTo(down, 4e6) || !heldTo(up, 4e6) {
		t.Errorf("routerd stopped: download %.0f, upload %.0f bit/s; want 4M both", down, up)
	}
	before := [2]int64{sent(devs[0]), sent(devs[1])}

	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	for _, dev := range devs {
		if ok, out := shaping(dev, "4Mbit"); !ok {
			t.Errorf("%s right after the start:\n%s", dev, out)
		}
	}
	r.Settle()
	for i, dev := range devs {
		if ok, out := shaping(dev, "4Mbit"); !ok {
			t.Errorf("%s after the start's passes:\n%s", dev, out)
		}
		if n := sent(dev); n < before[i] {
			t.Errorf("%s's class counts %d bytes after the start, %d before: installed again, not adopted", dev, n, before[i])
		}
	}
	if out := r.must("/queue simple print detail where name=q1"); strings.Contains(out, "status=") || !strings.Contains(out, "q1") {
		t.Errorf("q1 after the start:\n%s", out)
	}
	r.must("/queue simple set q1 max-limit=2M/2M")
	for _, dev := range devs {
		eventually(t, "the new max-limit on "+dev, func() (bool, string) { return shaping(dev, "2Mbit") })
	}
}

// ifindex is the index of dev in namespace ns, as text.
func ifindex(t *testing.T, ns, dev string) string {
	t.Helper()
	out, err := in(ns, "ip", "-o", "link", "show", "dev", dev).Output()
	i, _, ok := strings.Cut(string(out), ":")
	if err != nil || !ok {
		t.Fatalf("ifindex of %s: %v %s", dev, err, out)
	}
	return i
}

// TestSimpleQueueRestored: the HTB trees of a simple queue (download on ether1, upload
// on its IFB) removed or replaced behind routerd's back, or the IFB itself deleted, come
// back within a few resync periods, and the queue stays valid (QA, issue 10: they stayed
// gone for minutes); so do a leaf queue's qdisc and its u32 filter deleted alone, while
// a device where nothing changed is not installed again.
func TestSimpleQueueRestored(t *testing.T) {
	need(t, "tc")
	rn, c := netns(t, "qr"), netns(t, "qc")
	veth(t, rn, "ether1", c, "c0")
	r := startRouter(t, rn)
	r.must("/ip address add address=198.18.1.1/24 interface=ether1")
	r.must("/queue simple add name=q1 target=198.18.1.0/24 max-limit=10M/10M")
	devs := []string{"ether1", "rq-" + ifindex(t, rn, "ether1")}
	shaping := func(what string) {
		t.Helper()
		for _, dev := range devs {
			testbin.Eventually(t, "HTB on "+dev+" "+what, 30*time.Second, func() (bool, string) {
				q, _ := in(rn, "tc", "qdisc", "show", "dev", dev, "root").CombinedOutput()
				cl, _ := in(rn, "tc", "class", "show", "dev", dev).CombinedOutput()
				return strings.Contains(string(q), "htb 1:") && strings.Contains(string(cl), "rate 10Mbit"), string(q) + string(cl)
			})
		}
		if out := r.must("/queue simple print detail where name=q1"); strings.Contains(out, "status=") || !strings.Contains(out, "q1") {
			t.Errorf("q1 %s:\n%s", what, out)
		}
	}
	shaping("installed")
	for _, dev := range devs {
		run(t, "tc", "-n", rn, "qdisc", "del", "dev", dev, "root")
	}
	shaping("after its root was deleted")
	// A root put in HTB's place goes too.
	run(t, "tc", "-n", rn, "qdisc", "replace", "dev", devs[0], "root", "handle", "2:", "pfifo")
	shaping("after its root was replaced")
	// The IFB deleted: made again, and ether1's ingress redirects to the new one (the
	// kernel leaves the old filter redirecting to no device).
	run(t, "ip", "-n", rn, "link", "del", devs[1])
	shaping("after its IFB was deleted")
	testbin.Eventually(t, "ether1's ingress redirected to "+devs[1], 30*time.Second, func() (bool, string) {
		out, _ := in(rn, "tc", "filter", "show", "dev", "ether1", "ingress").CombinedOutput()
		return strings.Contains(string(out), "to device "+devs[1]+")"), string(out)
	})

	// A leaf queue's qdisc deleted alone comes back (the kernel puts a default pfifo of
	// its own in its place), and so does the u32 filter that classifies into the class.
	show := func(dev string, what ...string) string {
		t.Helper()
		out, _ := in(rn, append([]string{"tc", what[0], "show", "dev", dev}, what[1:]...)...).CombinedOutput()
		return string(out)
	}
	leafOf := func(dev string) (line, parent string) {
		t.Helper()
		for _, l := range strings.Split(show(dev, "qdisc"), "\n") {
			if f := strings.Fields(l); len(f) > 4 && f[3] == "parent" && strings.HasPrefix(f[4], "1:") {
				return l, f[4]
			}
		}
		t.Fatalf("no leaf qdisc on %s:\n%s", dev, show(dev, "qdisc"))
		return "", ""
	}
	leaf, parent := leafOf(devs[0])
	run(t, "tc", "-n", rn, "qdisc", "del", "dev", devs[0], "parent", parent)
	testbin.Eventually(t, "the leaf qdisc of "+devs[0]+" back: "+leaf, 30*time.Second, func() (bool, string) {
		out := show(devs[0], "qdisc")
		return strings.Contains(out, leaf+"\n"), out
	})
	filters := func(dev string) string { return show(dev, "filter", "parent", "1:") }
	flowid := "flowid " + parent
	if !strings.Contains(filters(devs[0]), flowid) {
		t.Fatalf("no filter to %s on %s:\n%s", parent, devs[0], filters(devs[0]))
	}
	run(t, "tc", "-n", rn, "filter", "del", "dev", devs[0], "parent", "1:", "prio", "10")
	testbin.Eventually(t, "the u32 filter of "+devs[0]+" to "+parent+" back", 30*time.Second, func() (bool, string) {
		out := filters(devs[0])
		return strings.Contains(out, flowid), out
	})
	shaping("after its leaf qdisc and filter were deleted")

	// Nothing changed, nothing installed: a filter of someone else's under ether1's root,
	// which the checks do not look at, survives the pass that repairs the IFB's leaf
	// (an install would delete the root and the filter with it).
	run(t, "tc", "-n", rn, "filter", "add", "dev", devs[0], "parent", "1:", "prio", "99", "protocol", "all",
		"u32", "match", "u32", "0", "0")
	leaf, parent = leafOf(devs[1])
	run(t, "tc", "-n", rn, "qdisc", "del", "dev", devs[1], "parent", parent)
	testbin.Eventually(t, "the leaf qdisc of "+devs[1]+" back: "+leaf, 30*time.Second, func() (bool, string) {
		out := show(devs[1], "qdisc")
		return strings.Contains(out, leaf+"\n"), out
	})
	if out := filters(devs[0]); !strings.Contains(out, "pref 99 u32") {
		t.Errorf("%s's tree was installed again with nothing changed on it:\n%s", devs[0], out)
	}
}

// TestQueueTargetBridgeRenamed: a queue whose target is a bridge follows the bridge's
// rename, as the firewall's interface references do (QA, issue 15: target= kept the old
// name, the queue went invalid and the download ran free). The client's network is on
// bridge brA (port ether1); after `set brA name=brB` the queue's target is brB and the
// download is still held to max-limit.
func TestQueueTargetBridgeRenamed(t *testing.T) {
	r, c, s := shapedVia(t, "brA", "/interface bridge add name=brA protocol-mode=none",
		"/interface bridge port add bridge=brA interface=ether1")
	r.must("/queue simple add name=qb target=brA max-limit=5M/5M")
	r.Settle()
	before := iperf(t, c, s, false, "", 3)
	r.must("/interface bridge set brA name=brB")
	if got := strings.TrimSpace(r.must(":put [/queue simple get qb target]")); got != "brB" {
		t.Errorf("target after the rename: %q, want brB", got)
	}
	r.Settle()
	after := iperf(t, c, s, false, "", 3)
	if out, _ := in(r.ns, "tc", "class", "show", "dev", "brB").CombinedOutput(); !strings.Contains(string(out), "rate 5Mbit") {
		t.Errorf("no 5M class on brB:\n%s", out)
	}
	t.Logf("download through brA %.2f Mbit/s, through brB after the rename %.2f Mbit/s (max 5M)", before/1e6, after/1e6)
	if !heldTo(before, 5e6) || !heldTo(after, 5e6) {
		t.Errorf("download %.0f bit/s before the rename, %.0f after; want 5M (at most 10%% over, at least 60%%)", before, after)
	}
	if out := r.must("/queue simple print detail where name=qb"); strings.Contains(out, "status=") {
		t.Errorf("qb after the rename:\n%s", out)
	}
}

// TestQueueShapesFromStart: a start that finds no queue trees in the kernel (the first
// start after an upgrade from a routerd whose stop removed them) shapes before any engine
// runs (QA, issue 15: the queue engine is late in the start order, and the traffic ran
// unshaped for ~8 s until its first pass; 1.2 s here on a quiet rig). The trees are
// removed while routerd is stopped, as the older stop did, and so is ether2's address,
// which the address engine (second in the order) puts back at its first pass: when it is
// back, ether1 must have its HTB tree. A download right then is held to max-limit.
func TestQueueShapesFromStart(t *testing.T) {
	r, c, s := shaped(t)
	r.must("/queue simple add name=q1 target=198.18.1.2/32 max-limit=4M/4M")
	r.Settle()
	r.Stop()
	run(t, "tc", "-n", r.ns, "qdisc", "del", "dev", "ether1", "root")
	run(t, "tc", "-n", r.ns, "qdisc", "del", "dev", "ether1", "clsact")
	run(t, "ip", "-n", r.ns, "link", "del", "rq-"+ifindex(t, r.ns, "ether1"))
	run(t, "ip", "-n", r.ns, "addr", "del", "198.18.0.1/24", "dev", "ether2")
	htb := func() (bool, string) {
		out, _ := in(r.ns, "tc", "class", "show", "dev", "ether1").CombinedOutput()
		return strings.Contains(string(out), "rate 4Mbit"), string(out)
	}
	started := time.Now()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	testbin.Eventually(t, "ether2's address back", 30*time.Second, func() (bool, string) {
		out, _ := in(r.ns, "ip", "-4", "addr", "show", "dev", "ether2").CombinedOutput()
		return strings.Contains(string(out), "198.18.0.1/24"), string(out)
	})
	addr := time.Since(started)
	if ok, out := htb(); !ok {
		for !ok && time.Since(started) < 30*time.Second {
			time.Sleep(20 * time.Millisecond)
			ok, _ = htb()
		}
		t.Errorf("no 4M class on ether1 when ether2's address was back (%s after the start; the class came %s after it):\n%s",
			addr.Round(10*time.Millisecond), time.Since(started).Round(10*time.Millisecond), out)
	}
	down := iperf(t, c, s, false, "", 3)
	t.Logf("address back %s after the start; download right then: %.2f Mbit/s (max 4M)", addr.Round(10*time.Millisecond), down/1e6)
	if !heldTo(down, 4e6) {
		t.Errorf("download right after the start %.0f bit/s; want 4M (at most 10%% over, at least 60%%)", down)
	}
}
