package tunnel

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestTunnelProperties: the properties that shape the outer packet and the tunnel
// interface, as captured on the wire and read from the kernel: local-address unset and
// 0.0.0.0 (the route's source), dscp fixed and inherited, dont-fragment no and inherit,
// clamp-tcp-mss yes and no, explicit mtu, l2mtu, and EoIP's arp modes and arp-timeout.
func TestTunnelProperties(t *testing.T) {
	need(t, "ping", "tshark", "bash")
	tp := newTopo(t)
	tp.greLink(t, "198.19.1")
	// A's SYNs announce MSS 1460 (advmss), more than the tunnel carries (1476 - 40).
	run(t, "ip", "-n", tp.a, "route", "add", "198.19.9.0/24", "via", "198.19.1.2", "dev", "g", "advmss", "1460")
	run(t, "ip", "-n", tp.b, "addr", "add", "198.19.9.9/32", "dev", "lo")
	ping(t, tp.a, "198.19.1.2")

	type sample struct{ src, dscp, df, mss string }
	// probe sends a ping with TOS 0x20 (DSCP 8) and DF, and a TCP SYN, and returns what
	// the outer and inner headers of A's packets carried.
	probe := func() []sample {
		lines := capture(t, tp.a, tp.ua, "ip proto 47", []string{"ip.src", "ip.dsfield.dscp", "ip.flags.df", "tcp.options.mss_val"}, func() {
			ping(t, tp.a, "198.19.1.2", "-Q", "0x20", "-M", "do", "-c", "2")
			exec.Command("ip", "netns", "exec", tp.a, "bash", "-c", "exec 3<>/dev/tcp/198.19.9.9/9").Run()
		})
		var out []sample
		for _, l := range lines {
			f := strings.Split(l, "|")
			if len(f) == 4 {
				out = append(out, sample{f[0], f[1], f[2], f[3]})
			}
		}
		return out
	}
	check := func(what string, s []sample, ok func(sample) bool) {
		t.Helper()
		for _, x := range s {
			if ok(x) {
				return
			}
		}
		t.Errorf("%s: not in the capture %v", what, s)
	}

	// Defaults: local-address 0.0.0.0 (route source), dscp inherit, dont-fragment no,
	// clamp-tcp-mss yes.
	s := probe()
	check("outer source from the route", s, func(x sample) bool { return strings.HasPrefix(x.src, tp.addrA+",") })
	check("dscp inherited (8)", s, func(x sample) bool { return x.dscp == "8,8" && x.mss == "" })
	check("dont-fragment=no clears DF", s, func(x sample) bool { return strings.HasPrefix(x.df, "0,1") || strings.HasPrefix(x.df, "False,True") })
	check("clamp-tcp-mss=yes (1436)", s, func(x sample) bool { return x.mss == "1436" })

	tp.ra.must("/interface", "gre", "set", "g", "dscp=10", "dont-fragment=inherit", "clamp-tcp-mss=no", "local-address=0.0.0.0")
	tp.rb.must("/interface", "gre", "set", "g", "clamp-tcp-mss=no")
	waitFor(t, "settings applied", 5e9, func() bool {
		return strings.Contains(strings.Join(strings.Fields(printDetail(tp.ra, "gre")), " "), "dscp=10 clamp-tcp-mss=no dont-fragment=inherit")
	})
	s = probe()
	check("local-address=0.0.0.0: source from the route", s, func(x sample) bool { return strings.HasPrefix(x.src, tp.addrA+",") })
	check("dscp=10", s, func(x sample) bool { return x.dscp == "10,8" })
	check("dont-fragment=inherit copies DF", s, func(x sample) bool { return x.df == "1,1" || x.df == "True,True" })
	check("clamp-tcp-mss=no (1460 kept)", s, func(x sample) bool { return x.mss == "1460" })

	// mtu and l2mtu.
	tp.ra.must("/interface", "gre", "set", "g", "mtu=1400", "l2mtu=1600")
	waitFor(t, "mtu 1400 on g", 5e9, func() bool {
		return strings.Contains(run(t, "ip", "-n", tp.a, "link", "show", "g"), "mtu 1400 ")
	})
	if d := strings.Join(strings.Fields(printDetail(tp.ra, "gre")), " "); !strings.Contains(d, "mtu=1400 actual-mtu=1400 l2mtu=1600") {
		t.Errorf("gre print detail after mtu=1400:\n%s", d)
	}
	if out, err := tp.ra.ctl("/interface", "eoip", "add", "name=x", "tunnel-id=1", "remote-address="+tp.addrB, "l2mtu=1600"); err == nil || !strings.Contains(out, "read-only") {
		t.Errorf("eoip l2mtu accepted: %v %s", err, out)
	}

	// EoIP arp modes and arp-timeout, as the kernel has them.
	tp.ra.must("/interface", "eoip", "add", "name=e", "tunnel-id=3", "remote-address="+tp.addrB)
	waitLink(t, tp.a, "e")
	sysctl := func(name string) string {
		return strings.TrimSpace(ns(t, tp.a, "cat", "/proc/sys/net/ipv4/"+name))
	}
	for _, c := range []struct {
		set   []string
		noarp bool
		want  map[string]string
	}{
		{[]string{"arp=disabled"}, true, map[string]string{"conf/e/proxy_arp": "0"}},
		{[]string{"arp=proxy-arp"}, false, map[string]string{"conf/e/proxy_arp": "1", "conf/e/proxy_arp_pvlan": "0"}},
		{[]string{"arp=local-proxy-arp"}, false, map[string]string{"conf/e/proxy_arp": "0", "conf/e/proxy_arp_pvlan": "1"}},
		{[]string{"arp=reply-only", "arp-timeout=1m"}, false, map[string]string{"neigh/e/mcast_solicit": "0", "neigh/e/ucast_solicit": "0",
			"conf/e/drop_gratuitous_arp": "1", "neigh/e/base_reachable_time_ms": "60000"}},
		{[]string{"arp=enabled", "arp-timeout=auto"}, false, map[string]string{"neigh/e/mcast_solicit": "3", "conf/e/proxy_arp": "0",
			"conf/e/drop_gratuitous_arp": "0", "neigh/e/base_reachable_time_ms": "30000"}},
	} {
		tp.ra.must(append([]string{"/interface", "eoip", "set", "e"}, c.set...)...)
		waitFor(t, strings.Join(c.set, " ")+" applied", 10e9, func() bool {
			noarp := regexp.MustCompile(`[<,]NOARP[,>]`).MatchString(run(t, "ip", "-n", tp.a, "link", "show", "e"))
			if noarp != c.noarp {
				return false
			}
			for k, v := range c.want {
				if sysctl(k) != v {
					return false
				}
			}
			return true
		})
	}
}
