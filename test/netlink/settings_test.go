package netlink

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pings reports whether one echo from ns to addr is answered.
func pings(ns, addr string) bool {
	return exec.Command("ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", addr).Run() == nil
}

// sysctl reads a sysctl in ns.
func sysctl(t *testing.T, ns, name string) string {
	t.Helper()
	return strings.TrimSpace(run(t, "ip", "netns", "exec", ns, "sysctl", "-n", name))
}

// forwards waits until a ping from client to addr through the router is answered (want)
// or lost (!want): the engine applies asynchronously.
func forwards(t *testing.T, client, addr string, want bool) {
	t.Helper()
	for i := 0; i < 20; i++ {
		if pings(client, addr) == want {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ping %s from %s: want answered=%v", addr, client, want)
}

// TestIPSettingsForwarding routes a client namespace to a server namespace through
// routerd: with RouterOS's defaults it forwards IPv4 and IPv6, ip-forward=no and
// forward=no stop it, yes brings it back, and what is changed behind routerd's back is
// put back by the resync.
func TestIPSettingsForwarding(t *testing.T) {
	need(t)
	rn, cn, sn := netns(t, "fr"), netns(t, "fc"), netns(t, "fs")
	veth(t, rn, "ether1", cn, "eth0")
	veth(t, rn, "ether2", sn, "eth0")
	for _, h := range []struct{ ns, a4, g4, a6, g6 string }{
		{cn, "198.18.40.2/24", "198.18.40.1", "2001:db8:40::2/64", "2001:db8:40::1"},
		{sn, "198.18.41.2/24", "198.18.41.1", "2001:db8:41::2/64", "2001:db8:41::1"},
	} {
		run(t, "ip", "-n", h.ns, "addr", "add", h.a4, "dev", "eth0")
		run(t, "ip", "-n", h.ns, "addr", "add", h.a6, "dev", "eth0", "nodad")
		run(t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
		run(t, "ip", "-n", h.ns, "route", "add", "default", "via", h.g4)
		run(t, "ip", "-n", h.ns, "-6", "route", "add", "default", "via", h.g6)
	}
	run(t, "ip", "-n", rn, "link", "set", "ether1", "up")
	run(t, "ip", "-n", rn, "link", "set", "ether2", "up")
	// A new namespace may inherit the machine's forwarding (devconf_inherit_init_net):
	// start from none, so that whatever forwards below is routerd's doing.
	run(t, "ip", "netns", "exec", rn, "sysctl", "-qw", "net.ipv4.ip_forward=0", "net.ipv6.conf.all.forwarding=0")
	if pings(cn, "198.18.41.2") {
		t.Fatal("the router namespace forwards before routerd runs")
	}
	r := startRouter(t, rn, t.TempDir())
	r.must("/ip address add address=198.18.40.1/24 interface=ether1")
	r.must("/ip address add address=198.18.41.1/24 interface=ether2")
	r.must("/ipv6 address add address=2001:db8:40::1/64 advertise=no interface=ether1 no-dad=yes")
	r.must("/ipv6 address add address=2001:db8:41::1/64 advertise=no interface=ether2 no-dad=yes")

	forwards(t, cn, "198.18.41.2", true)
	forwards(t, cn, "2001:db8:41::2", true)
	out := r.must("/ip settings print")
	for _, want := range []string{"ip-forward: yes", "rp-filter: no", "icmp-rate-mask: 0x1818", "ipv4-fast-path-active: no"} {
		if !strings.Contains(out, want) {
			t.Errorf("/ip settings print lacks %q:\n%s", want, out)
		}
	}
	// gc_thresh3 is the machine's, not the namespace's: left at its default it is not
	// mentioned; set to another value than the machine's, it is said, not written.
	if strings.Contains(out, "max-neighbor-entries:") && strings.Contains(out, "not applied: max-neighbor-entries") {
		t.Errorf("/ip settings print says max-neighbor-entries is not applied although it was never set:\n%s", out)
	}
	// The file exists only in the machine's namespace.
	b, err := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
	if err != nil {
		t.Fatal(err)
	}
	thresh := strings.TrimSpace(string(b))
	n, err := strconv.Atoi(thresh)
	if err != nil {
		t.Fatalf("gc_thresh3 %q: %v", thresh, err)
	}
	r.must(fmt.Sprintf("/ip settings set max-neighbor-entries=%d", n+1))
	for i := 0; !strings.Contains(r.must("/ip settings print"), "not applied: max-neighbor-entries"); i++ {
		if i == 50 {
			t.Fatalf("max-neighbor-entries=%d (the machine has %d) not said to be not applied:\n%s", n+1, n, r.must("/ip settings print"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if b, _ := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh3"); strings.TrimSpace(string(b)) != thresh {
		v := strings.TrimSpace(string(b))
		t.Errorf("gc_thresh3 written from a child namespace: %s, was %s", v, thresh)
	}
	if !strings.Contains(r.must("/ipv6 settings print"), "forward: yes") {
		t.Error("/ipv6 settings print lacks forward: yes")
	}

	r.must("/ip settings set ip-forward=no")
	forwards(t, cn, "198.18.41.2", false)
	if v := sysctl(t, rn, "net.ipv4.conf.all.forwarding"); v != "0" {
		t.Errorf("ip-forward=no: conf.all.forwarding=%s", v)
	}
	forwards(t, cn, "2001:db8:41::2", true)
	r.must("/ip settings set ip-forward=yes")
	forwards(t, cn, "198.18.41.2", true)

	r.must("/ipv6 settings set forward=no")
	forwards(t, cn, "2001:db8:41::2", false)
	forwards(t, cn, "198.18.41.2", true)
	r.must("/ipv6 settings set forward=yes")
	forwards(t, cn, "2001:db8:41::2", true)

	// Other parameters reach their sysctls; bad values change nothing.
	r.must("/ip settings set rp-filter=loose tcp-syncookies=yes send-redirects=no arp-timeout=1m icmp-rate-mask=0x1819")
	r.fails("/ip settings set rp-filter=maybe", "rp-filter")
	r.must("/ipv6 settings set accept-router-advertisements=no")
	want := map[string]string{
		"net.ipv4.conf.all.rp_filter":                  "2",
		"net.ipv4.conf.ether1.rp_filter":               "2",
		"net.ipv4.tcp_syncookies":                      "1",
		"net.ipv4.conf.all.send_redirects":             "0",
		"net.ipv4.conf.ether2.send_redirects":          "0",
		"net.ipv4.neigh.ether1.base_reachable_time_ms": "60000",
		"net.ipv4.icmp_ratemask":                       "6169",
		"net.ipv6.conf.ether1.accept_ra":               "0",
	}
	eventually(t, "sysctls", func() (bool, string) {
		for k, v := range want {
			if got := sysctl(t, rn, k); got != v {
				return false, k + "=" + got
			}
		}
		return true, ""
	})
	forwards(t, cn, "198.18.41.2", true)

	// The resync puts back forwarding turned off behind routerd's back.
	run(t, "ip", "netns", "exec", rn, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	forwards(t, cn, "198.18.41.2", true)
}

// TestIPv6SettingsNeighbours applies RouterOS 7.18's /ipv6 settings properties:
// stale-neighbor-timeout reaches gc_stale_time, disable-link-local-address keeps a new
// interface without a link-local address (and =no gives it one), the neighbour limits are
// the machine's (said, not written, from a child namespace) and
// stale-neighbor-detect-interval is stored with its reason.
func TestIPv6SettingsNeighbours(t *testing.T) {
	need(t)
	rn, pn := netns(t, "n6r"), netns(t, "n6p")
	veth(t, rn, "ether1", pn, "eth0")
	run(t, "ip", "-n", rn, "link", "set", "ether1", "up")
	r := startRouter(t, rn, t.TempDir())
	r.must("/ipv6 settings set stale-neighbor-timeout=90 disable-link-local-address=yes min-neighbor-entries=1024 " +
		"soft-max-neighbor-entries=2048 stale-neighbor-detect-interval=40")
	eventually(t, "sysctls", func() (bool, string) {
		for k, v := range map[string]string{
			"net.ipv6.neigh.ether1.gc_stale_time": "90", "net.ipv6.neigh.lo.gc_stale_time": "90",
			"net.ipv6.conf.default.addr_gen_mode": "1", "net.ipv6.conf.ether1.addr_gen_mode": "1",
		} {
			if got := sysctl(t, rn, k); got != v {
				return false, k + "=" + got
			}
		}
		return true, ""
	})
	linkLocal := func(dev string) bool {
		return strings.Contains(run(t, "ip", "-n", rn, "-6", "addr", "show", "dev", dev, "scope", "link"), "fe80::")
	}
	veth(t, rn, "ether2", pn, "eth1")
	run(t, "ip", "-n", rn, "link", "set", "ether2", "up")
	// The kernel adds the link-local address while it sets the link up, so none now is
	// none at all.
	if linkLocal("ether2") {
		t.Error("a new interface got a link-local address with disable-link-local-address=yes")
	}
	out := r.must("/ipv6 settings print")
	for _, want := range []string{"stale-neighbor-timeout: 90", "disable-link-local-address: yes",
		"stale-neighbor-detect-interval: 40", "min-neighbor-entries", "soft-max-neighbor-entries"} {
		if !strings.Contains(out, want) {
			t.Errorf("/ipv6 settings print lacks %q:\n%s", want, out)
		}
	}
	r.must("/ipv6 settings set disable-link-local-address=no")
	eventually(t, "link-local address back", func() (bool, string) {
		return linkLocal("ether2"), run(t, "ip", "-n", rn, "-6", "addr", "show", "dev", "ether2")
	})
	r.fails("/ipv6 settings set stale-neighbor-timeout=soon", "stale-neighbor-timeout")
}
