package netlink

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/link"
)

// TestLongInterfaceNames runs RouterOS 6-style configurations whose interface names are
// longer than a Linux link name (15 bytes): a renamed port, a bridge and an EoIP tunnel
// on a head-office router, the renamed port and a tunnel on a branch router (a second
// routerd), and a host behind the bridge. Addresses, a route with gateway=addr%iface, a
// bridge port, an interface list and firewall rules name the long names; traffic flows
// and the rules' counters move (nftables matches the kernel name), `ip link show` finds
// the links by their RouterOS names (altnames), and a restart finds the same links again
// with the same configuration.
func TestLongInterfaceNames(t *testing.T) {
	need(t)
	hq, br, host := netns(t, "nhq"), netns(t, "nbr"), netns(t, "nho")
	veth(t, hq, "ether2", br, "ether1")
	veth(t, hq, "ether3", host, "eth0")
	run(t, "ip", "-n", host, "addr", "add", "198.18.2.2/24", "dev", "eth0")
	run(t, "ip", "-n", host, "link", "set", "eth0", "up")
	run(t, "ip", "-n", host, "route", "add", "default", "via", "198.18.2.1")

	dir := t.TempDir()
	r := startRouter(t, hq, filepath.Join(dir, "hq"))
	b := startRouter(t, br, filepath.Join(dir, "br"))
	// The bridge runs STP (rstp, the default) with RouterOS's shortest forward-delay: its
	// port forwards 8 s after it comes up. With the default 15 s the port forwarded after
	// 30 s, as long as Eventually's whole wait for the host behind it, which then timed out
	// on a loaded machine.
	r.Script(`/interface ethernet set [ find default-name=ether2 ] name=ether2-master-local
/interface ethernet set [ find default-name=ether3 ] name=ether3-slave-local-port
/interface bridge add name=bridge-local-very-long forward-delay=4s
/interface bridge port add bridge=bridge-local-very-long interface=ether3-slave-local-port
/ip address add address=198.18.1.1/24 interface=ether2-master-local
/ip address add address=198.18.2.1/24 interface=bridge-local-very-long
/ip route add dst-address=198.18.77.0/24 gateway=198.18.1.2%ether2-master-local
/interface list add name=towards-branches
/interface list member add list=towards-branches interface=ether2-master-local
/ip firewall filter add chain=input in-interface=ether2-master-local protocol=icmp comment=long-in
/ip firewall filter add chain=forward in-interface-list=towards-branches comment=long-list
/ip firewall filter add chain=forward out-interface=ether2-master-local comment=long-out
/interface eoip add name=eoip-to-branch-office-1 remote-address=198.18.1.2 tunnel-id=7
/ip address add address=198.18.9.1/30 interface=eoip-to-branch-office-1
`)
	b.Script(`/interface ethernet set [ find default-name=ether1 ] name=ether1-uplink-to-head-office
/interface bridge add name=loopback-bridge-services
/ip address add address=198.18.1.2/24 interface=ether1-uplink-to-head-office
/ip address add address=198.18.77.1/24 interface=loopback-bridge-services
/ip route add dst-address=198.18.2.0/24 gateway=198.18.1.1
/interface eoip add name=eoip-to-head-office-main remote-address=198.18.1.1 tunnel-id=7
/ip address add address=198.18.9.2/30 interface=eoip-to-head-office-main
`)

	// The kernel finds every long name (its altname) on a link with a short name.
	for ns, names := range map[string][]string{
		hq: {"ether2-master-local", "ether3-slave-local-port", "bridge-local-very-long", "eoip-to-branch-office-1"},
		br: {"ether1-uplink-to-head-office", "loopback-bridge-services", "eoip-to-head-office-main"}} {
		for _, n := range names {
			eventually(t, "link "+n, func() (bool, string) {
				out, err := exec.Command("ip", "-n", ns, "link", "show", n).CombinedOutput()
				return err == nil && strings.Contains(string(out), "altname "+n), string(out)
			})
		}
	}
	idx := ifindex(t, hq, "ether2-master-local")

	check := func(when string) {
		t.Helper()
		eventually(t, when+": branch reaches the head office's long-named port", func() (bool, string) {
			return pings(br, "198.18.1.1"), "no answer from 198.18.1.1"
		})
		eventually(t, when+": host behind the long-named bridge reaches the branch through the route", func() (bool, string) {
			return pings(host, "198.18.77.1"), "no answer from 198.18.77.1"
		})
		eventually(t, when+": EoIP tunnels with long names carry traffic", func() (bool, string) {
			return pings(hq, "198.18.9.2"), "no answer through the tunnel"
		})
		for _, c := range []string{"long-in", "long-list", "long-out"} {
			eventually(t, when+": counters of "+c, func() (bool, string) {
				out := r.must(`:put [/ip firewall filter get [find comment=` + c + `] packets]`)
				n, _ := strconv.Atoi(strings.TrimSpace(out))
				if n == 0 {
					pings(host, "198.18.77.1")
					pings(br, "198.18.1.1")
				}
				return n > 0, c + " packets=" + out
			})
		}
		// Print shows the RouterOS names only; nothing is invalid.
		for _, cmd := range []string{"/interface print", "/ip address print", "/ip route print", "/interface bridge port print"} {
			out := r.must(cmd)
			if regexp.MustCompile(`~[0-9a-f]{4}`).MatchString(out) {
				t.Errorf("%s: %s shows a kernel name:\n%s", when, cmd, out)
			}
		}
		for _, cmd := range []string{"/ip address print where invalid", "/ip route print where inactive",
			"/interface bridge port print where invalid", "/interface bridge print where invalid"} {
			if out := r.must(cmd + " count-only"); strings.TrimSpace(out) != "0" {
				t.Errorf("%s: %s: %s\n%s", when, cmd, out, r.must(cmd+" detail"))
			}
		}
		// Menus without an invalid flag show a problem as status=.
		for _, cmd := range []string{"/interface ethernet print detail", "/interface eoip print detail"} {
			if out := r.must(cmd); regexp.MustCompile(`\sstatus=`).MatchString(out) {
				t.Errorf("%s: %s:\n%s", when, cmd, out)
			}
		}
		if out := r.must("/ip route print where dst-address=198.18.77.0/24"); !strings.Contains(out, "198.18.1.2%ether2-master-local") {
			t.Errorf("%s: route gateway:\n%s", when, out)
		}
		if out := r.must("/interface print where name=eoip-to-branch-office-1"); !strings.Contains(out, "eoip-tunnel") {
			t.Errorf("%s: tunnel row:\n%s", when, out)
		}
	}
	check("first start")
	export := r.must("/export")
	for _, want := range []string{"name=ether2-master-local", "interface=ether2-master-local", "in-interface=ether2-master-local",
		"name=bridge-local-very-long", "name=eoip-to-branch-office-1"} {
		if !strings.Contains(export, want) {
			t.Errorf("export lacks %s:\n%s", want, export)
		}
	}

	// A restart finds the renamed port (same link, not recreated) and the rest by the
	// same derived kernel names.
	r.stop()
	r.start()
	check("after restart")
	if got := ifindex(t, hq, "ether2-master-local"); got != idx {
		t.Errorf("the renamed port is another link after the restart: ifindex %d, was %d", got, idx)
	}
	if again := r.must("/export"); stripHeader(again) != stripHeader(export) {
		t.Errorf("export changed across the restart:\nbefore:\n%s\nafter:\n%s", export, again)
	}

	// Renaming a long name to another keeps the link and drops the old altname.
	r.must("/interface ethernet set [find default-name=ether2] name=ether2-towards-all-branches")
	eventually(t, "renamed again", func() (bool, string) {
		out, err := exec.Command("ip", "-n", hq, "link", "show", "ether2-towards-all-branches").CombinedOutput()
		return err == nil && !strings.Contains(string(out), "ether2-master-local"), string(out)
	})
	if got := ifindex(t, hq, "ether2-towards-all-branches"); got != idx {
		t.Errorf("rename recreated the link: ifindex %d, was %d", got, idx)
	}
	if out := r.must("/ip address print where address=198.18.1.1/24"); !strings.Contains(out, "ether2-towards-all-branches") {
		t.Errorf("address does not follow the rename:\n%s", out)
	}
	eventually(t, "traffic after the second rename", func() (bool, string) {
		return pings(host, "198.18.77.1"), "no answer from 198.18.77.1"
	})
	noFastPathWarnings(t, r)

	// orig-mac-address as `export verbose` writes it: read-only, so the port's own
	// address loads with the rest of the line, and another box's (a migration) is
	// logged and kept as the port's while the rest of the line still applies.
	own := strings.TrimSpace(r.must(`:put [/interface ethernet get [find default-name=ether3] orig-mac-address]`))
	r.must("/interface ethernet set [ find default-name=ether3 ] orig-mac-address=" + own + " comment=verbose-line")
	if out := r.must("/interface ethernet print where comment=verbose-line"); !strings.Contains(out, "ether3-slave-local-port") {
		t.Errorf("a verbose line with the port's own orig-mac-address did not load:\n%s", out)
	}
	r.must("/interface ethernet set [ find default-name=ether3 ] orig-mac-address=02:00:00:00:00:01 comment=other")
	if out := r.must("/interface ethernet print where comment=other"); !strings.Contains(out, "ether3") {
		t.Errorf("a verbose line from another box did not apply its other properties:\n%s", out)
	}
	if got := strings.TrimSpace(r.must(`:put [/interface ethernet get [find default-name=ether3] orig-mac-address]`)); got != own {
		t.Errorf("orig-mac-address changed to %s, was the port's own %s", got, own)
	}
	if out := r.must(`/log print where message~"is not this port"`); !strings.Contains(out, "02:00:00:00:00:01") {
		t.Errorf("the other box's orig-mac-address was not logged:\n%s", out)
	}
}

// ifindex is the index of the link ns finds by name (a kernel or an alternative name).
func ifindex(t *testing.T, ns, name string) int {
	t.Helper()
	out := run(t, "ip", "-n", ns, "-o", "link", "show", name) // may carry warnings on stderr
	m := regexp.MustCompile(`(?m)^(\d+): `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("ifindex of %s: %q", name, out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// stripHeader drops export's first line (it carries the time).
func stripHeader(s string) string {
	if _, rest, ok := strings.Cut(s, "\n"); ok {
		return rest
	}
	return s
}

// collision constructs two RouterOS interface names with the same derived kernel name.
func collision(t *testing.T, prefix string) (string, string) {
	t.Helper()
	seen := map[string]string{}
	for i := 0; i < 1<<20; i++ {
		n := fmt.Sprintf("%s-%d", prefix, i)
		k := link.KernelName(n)
		if o, ok := seen[k]; ok {
			return o, n
		}
		seen[k] = n
	}
	t.Fatal("no collision found")
	return "", ""
}

// TestRouterOSOnlyNames runs interface names RouterOS takes and Linux refuses even as
// alternative names (a space, '/', ':'), and two long names whose derived kernel names
// collide: a renamed port `ether1 - WAN` with an address, a firewall rule and an
// interface list, a bridge `bridge/office` with a port and an address, an EoIP tunnel
// `eoip:branch`, and two bridges with colliding names. Traffic flows, counters move,
// print, export and interface lists show only RouterOS names, and a restart finds the
// same links (the collision's moved kernel name is persisted).
func TestRouterOSOnlyNames(t *testing.T) {
	need(t)
	hq, peer, host := netns(t, "uhq"), netns(t, "upe"), netns(t, "uho")
	veth(t, hq, "ether1", peer, "eth0")
	veth(t, hq, "ether2", host, "eth0")
	run(t, "ip", "-n", peer, "addr", "add", "198.18.31.2/24", "dev", "eth0")
	run(t, "ip", "-n", peer, "link", "set", "eth0", "up")
	run(t, "ip", "-n", peer, "route", "add", "198.18.32.0/24", "via", "198.18.31.1")
	run(t, "ip", "-n", host, "addr", "add", "198.18.32.2/24", "dev", "eth0")
	run(t, "ip", "-n", host, "link", "set", "eth0", "up")
	run(t, "ip", "-n", host, "route", "add", "default", "via", "198.18.32.1")
	ca, cb := collision(t, "bridge-collides")

	r := startRouter(t, hq, filepath.Join(t.TempDir(), "hq"))
	r.Script(`/interface ethernet set [ find default-name=ether1 ] name="ether1 - WAN"
/interface ethernet set [ find default-name=ether2 ] name="sfp:1"
/interface bridge add name=bridge/office protocol-mode=none
/interface bridge port add bridge=bridge/office interface="sfp:1"
/ip address add address=198.18.31.1/24 interface="ether1 - WAN"
/ip address add address=198.18.32.1/24 interface=bridge/office
/interface list add name=WAN
/interface list member add list=WAN interface="ether1 - WAN"
/ip firewall filter add chain=input in-interface="ether1 - WAN" protocol=icmp comment=space-in
/ip firewall filter add chain=forward out-interface=bridge/office action=passthrough comment=slash-out
/ip firewall filter add chain=forward in-interface-list=WAN comment=space-list
/interface eoip add name="eoip:branch" remote-address=198.18.31.2 tunnel-id=9
/interface bridge add name=` + ca + `
/interface bridge add name=` + cb + `
`)
	kernelNames := func() string { return run(t, "ip", "-n", hq, "-o", "link", "show") }
	ka := link.KernelName(ca)
	check := func(when string) {
		t.Helper()
		eventually(t, when+": peer reaches the port named with spaces", func() (bool, string) {
			return pings(peer, "198.18.31.1"), "no answer from 198.18.31.1"
		})
		eventually(t, when+": peer reaches the host behind bridge/office", func() (bool, string) {
			return pings(peer, "198.18.32.2"), "no answer from 198.18.32.2"
		})
		for _, c := range []string{"space-in", "space-list", "slash-out"} {
			eventually(t, when+": counters of "+c, func() (bool, string) {
				out := r.must(`:put [/ip firewall filter get [find comment=` + c + `] packets]`)
				n, _ := strconv.Atoi(strings.TrimSpace(out))
				if n == 0 {
					pings(peer, "198.18.32.2")
				}
				return n > 0, c + " packets=" + out
			})
		}
		// Both colliding bridges exist, each on its own kernel link.
		eventually(t, when+": both colliding bridges", func() (bool, string) {
			out := r.must("/interface bridge print where !invalid count-only")
			return strings.TrimSpace(out) == "3", out + r.must("/interface bridge print detail")
		})
		if n := strings.Count(kernelNames(), strings.Split(ka, "~")[0]+"~"); n != 2 {
			t.Errorf("%s: want two kernel links for the colliding names, have %d:\n%s", when, n, kernelNames())
		}
		for _, cmd := range []string{"/interface print", "/ip address print", "/interface bridge port print",
			"/interface list member print", "/interface bridge print", "/interface eoip print", "/ip firewall filter print"} {
			out := r.must(cmd)
			if regexp.MustCompile(`~[0-9a-f]{4}`).MatchString(out) {
				t.Errorf("%s: %s shows a kernel name:\n%s", when, cmd, out)
			}
		}
		out := r.must("/interface print")
		for _, n := range []string{"ether1 - WAN", "sfp:1", "bridge/office", "eoip:branch", ca, cb} {
			if !strings.Contains(out, n) {
				t.Errorf("%s: /interface print lacks %q:\n%s", when, n, out)
			}
		}
		for _, cmd := range []string{"/ip address print where invalid", "/interface bridge port print where invalid",
			"/interface bridge print where invalid", "/interface list member print where invalid"} {
			if out := r.must(cmd + " count-only"); strings.TrimSpace(out) != "0" {
				t.Errorf("%s: %s: %s\n%s", when, cmd, out, r.must(cmd+" detail"))
			}
		}
		if out := r.must("/interface ethernet print detail"); regexp.MustCompile(`\sstatus=`).MatchString(out) {
			t.Errorf("%s: /interface ethernet print detail:\n%s", when, out)
		}
		// The built-in lists and the operator's list name the RouterOS names.
		if out := r.must(`:put [/interface list member print as-value where list=WAN]`); !strings.Contains(out, "ether1 - WAN") {
			t.Errorf("%s: list member: %s", when, out)
		}
	}
	check("first start")
	noFastPathWarnings(t, r)
	idx := ifindex(t, hq, link.KernelName("ether1 - WAN"))
	export := r.must("/export")
	for _, want := range []string{`name="ether1 - WAN"`, `interface="ether1 - WAN"`, "name=bridge/office", `name=eoip:branch`, "name=" + cb} {
		if !strings.Contains(export, want) && !strings.Contains(export, strings.ReplaceAll(want, `"`, "")) {
			t.Errorf("export lacks %s:\n%s", want, export)
		}
	}
	before := kernelNames()
	r.stop()
	r.start()
	check("after restart")
	if got := ifindex(t, hq, link.KernelName("ether1 - WAN")); got != idx {
		t.Errorf("the renamed port is another link after the restart: ifindex %d, was %d", got, idx)
	}
	names := func(s string) []string { return regexp.MustCompile(`(?m)^\d+: ([^:@]+)`).FindAllString(s, -1) }
	if b, a := names(before), names(kernelNames()); strings.Join(b, ",") != strings.Join(a, ",") {
		t.Errorf("kernel links changed across the restart:\nbefore %v\nafter  %v", b, a)
	}
	if again := r.must("/export"); stripHeader(again) != stripHeader(export) {
		t.Errorf("export changed across the restart:\nbefore:\n%s\nafter:\n%s", export, again)
	}
}

// noFastPathWarnings: a renamed port keeps its fast path attachment (found by ifindex),
// so no pass fails re-creating it (it used to log a burst of EBUSY/EEXIST warnings).
func noFastPathWarnings(t *testing.T, r *router) {
	t.Helper()
	for _, l := range strings.Split(r.Log.String(), "\n") {
		if strings.Contains(l, "engine pass failed") && strings.Contains(l, "engine=fastpath") {
			t.Errorf("fast path pass failed around a rename: %s", l)
		}
	}
}
