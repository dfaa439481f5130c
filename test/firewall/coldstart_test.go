package firewall_test

import (
	"net"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/test/testbin"
)

// TestNoWindowAtColdStart (issue 15): on a host that boots (no routerd table in the
// kernel, routerd's bridge gone, no addresses, forwarding off), the stored firewall is in
// force before routerd applies the addresses, turns forwarding on and opens the API. The
// stored rules name the bridge (in-interface=, and through an interface list), which
// does not exist until the link engine makes it. A client pings through the router,
// over IPv4 and IPv6, and connects to the API port, continuously from before the start
// until the router has settled and what the rules let through passes: none of the
// dropped pings may be answered and no connect may succeed. QA counted 111 forwarded
// pings and 42 API connects at such a start.
func TestNoWindowAtColdStart(t *testing.T) {
	testbin.Need(t, "ip", "nft", "ping", "nsenter")
	c, r, s := testbin.Netns(t, "fwbootc", ""), testbin.Netns(t, "fwbootr", ""), testbin.Netns(t, "fwboots", "")
	testbin.Veth(t, c, "c0", r, "lan", true)
	testbin.Veth(t, s, "s0", r, "wan", true)
	for _, a := range [][]string{
		{c, "addr", "add", "198.18.1.2/24", "dev", "c0"}, {c, "route", "add", "default", "via", "198.18.1.1"},
		{c, "-6", "addr", "add", "fd00:18:1::2/64", "dev", "c0", "nodad"}, {c, "-6", "route", "add", "default", "via", "fd00:18:1::1"},
		{s, "addr", "add", "198.19.2.2/24", "dev", "s0"}, {s, "route", "add", "default", "via", "198.19.2.1"},
		{s, "-6", "addr", "add", "fd00:19:2::2/64", "dev", "s0", "nodad"}, {s, "-6", "route", "add", "default", "via", "fd00:19:2::1"},
		{s, "addr", "add", "198.19.9.9/32", "dev", "lo"}, {s, "-6", "addr", "add", "fd00:19:9::9/128", "dev", "lo"},
	} {
		testbin.Run(t, append([]string{"ip", "-n"}, a...)...)
	}
	rt := testbin.Start(t, binDir, testbin.Options{Netns: r})
	rt.Script(`/interface bridge add name=blan protocol-mode=none
/interface bridge port add bridge=blan interface=lan
/interface list add name=LAN
/interface list member add list=LAN interface=blan
/ip address add address=198.18.1.1/24 interface=blan
/ip address add address=198.19.2.1/24 interface=wan
/ip route add dst-address=198.19.9.0/24 gateway=198.19.2.2
/ipv6 route add dst-address=fd00:19:9::/64 gateway=fd00:19:2::2
/ipv6 address add address=fd00:18:1::1/64 interface=blan advertise=no no-dad=yes
/ipv6 address add address=fd00:19:2::1/64 interface=wan advertise=no no-dad=yes
/ip firewall filter add chain=forward in-interface=blan dst-address=198.19.2.2 action=drop comment=fwd4
/ip firewall filter add chain=input in-interface-list=LAN protocol=tcp dst-port=8728 action=drop comment=api
/ipv6 firewall filter add chain=forward in-interface=blan dst-address=fd00:19:2::2/128 action=drop comment=fwd6
`)
	rt.Settle()
	// The rules and the paths they leave open work before the reboot.
	controls := func() (bool, string) {
		why := ""
		switch {
		case !pingOnce(c, "198.19.9.9"):
			why = "ping 198.19.9.9 through the router"
		case !pingOnce(c, "fd00:19:9::9"):
			why = "ping fd00:19:9::9 through the router"
		case !dialIn(s, "198.19.2.1:8728"):
			why = "API from the wan side"
		default:
			return true, ""
		}
		out, _ := testbin.In(r, "sh", "-c", "ip neigh; bridge link; nft list ruleset").CombinedOutput()
		out2, _ := testbin.In(c, "sh", "-c", "ping -c1 -W1 198.18.1.1; ip neigh; ip route").CombinedOutput()
		out3, _ := testbin.In(s, "sh", "-c", "ping -c1 -W1 198.19.2.1; ip neigh; ip route").CombinedOutput()
		return false, why + "\n" + string(out) + string(out2) + string(out3)
	}
	testbin.Eventually(t, "the router to forward and answer", 0, controls)
	if pingOnce(c, "198.19.2.2") || pingOnce(c, "fd00:19:2::2") || dialIn(c, "198.18.1.1:8728") {
		t.Fatalf("a dropped ping or connect passed before the reboot:\n%s", testbin.RunIn(t, r, "nft", "list", "ruleset"))
	}
	rt.Stop()
	// What a reboot leaves of routerd: nothing in the kernel.
	for _, tbl := range strings.Split(strings.TrimSpace(testbin.RunIn(t, r, "nft", "list", "tables")), "\n") {
		if f := strings.Fields(tbl); len(f) == 3 && strings.HasPrefix(f[2], "routerd") {
			testbin.RunIn(t, r, "nft", "delete", "table", f[1], f[2])
		}
	}
	testbin.Run(t, "ip", "-n", r, "link", "del", "blan")
	testbin.Run(t, "ip", "-n", r, "addr", "flush", "dev", "wan")
	testbin.Run(t, "ip", "-n", r, "addr", "flush", "dev", "lan")
	testbin.RunIn(t, r, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0")
	exec.Command("ip", "netns", "exec", r, "conntrack", "-F").Run() // conntrack may be missing: nothing to flush then matters
	if ok, _ := controls(); ok {
		t.Fatal("the reboot left the router forwarding")
	}

	// Pings at 20/s and connects until the router has settled and the controls pass.
	p4 := startPing(t, c, "198.19.2.2")
	p6 := startPing(t, c, "fd00:19:2::2")
	connects := testbin.Repeat(20*time.Millisecond, func() bool { return dialIn(c, "198.18.1.1:8728") })
	if err := rt.Start(); err != nil {
		connects()
		t.Fatal(err)
	}
	rt.Settle()
	testbin.Eventually(t, "the router to forward and answer after the start", 0, controls)
	tries, conns := connects()
	sent4, got4 := p4()
	sent6, got6 := p6()
	t.Logf("during the start: %d IPv4 and %d IPv6 pings to dropped destinations, %d connects to the API from the LAN", sent4, sent6, tries)
	if got4 > 0 || got6 > 0 || conns > 0 {
		t.Fatalf("during the start %d of %d IPv4 and %d of %d IPv6 pings were forwarded against the drop rules, %d of %d connects reached the API against the input drop rule\n%s",
			got4, sent4, got6, sent6, conns, tries, testbin.RunIn(t, r, "nft", "list", "ruleset"))
	}
	if sent4 == 0 || sent6 == 0 || tries == 0 {
		t.Fatal("the client sent nothing during the start")
	}
}

func pingOnce(ns, dst string) bool {
	return testbin.In(ns, "ping", "-c1", "-W1", dst).Run() == nil
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// startPing pings dst from ns every 50 ms until the returned function stops it and says
// how many were sent and answered.
func startPing(t *testing.T, ns, dst string) func() (sent, got int) {
	t.Helper()
	cmd := testbin.In(ns, "ping", "-n", "-i", "0.05", "-W", "1", dst)
	out := &testbin.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return func() (int, int) {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		m := pingSummary.FindStringSubmatch(out.String())
		if m == nil {
			t.Fatalf("ping %s: no summary:\n%s", dst, out.String())
		}
		sent, _ := strconv.Atoi(m[1])
		got, _ := strconv.Atoi(m[2])
		return sent, got
	}
}

// dialIn reports whether a TCP connect from namespace ns to addr succeeds within 300 ms.
func dialIn(ns, addr string) bool {
	res := make(chan bool, 1)
	go func() {
		// The thread enters ns and is never unlocked: it ends with the goroutine.
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res <- false
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			res <- false
			return
		}
		conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err == nil {
			conn.Close()
		}
		res <- err == nil
	}()
	return <-res
}
