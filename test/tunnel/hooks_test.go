package tunnel

import (
	"regexp"
	"strings"
	"testing"
)

// TestDecapHooks: the generic-XDP and TC decapsulators (forced with ROUTERD_TUNNEL_HOOK,
// as the automatic choice takes native XDP on veth) carry GRE and EoIP both ways, print
// detail names the hook, and the receive counters move. Generic XDP gets a routed
// underlay (topoOpts.routed says why).
func TestDecapHooks(t *testing.T) {
	need(t, "ping")
	for _, o := range []topoOpts{{hook: "xdp-generic", routed: true}, {hook: "tc", offload: true}} {
		t.Run(o.hook, func(t *testing.T) {
			tp := newTopoWith(t, o)
			for _, r := range []struct {
				r      *router
				remote string
			}{{tp.ra, tp.addrB}, {tp.rb, tp.addrA}} {
				r.r.must("/interface", "gre", "add", "name=g", "remote-address="+r.remote)
				r.r.must("/interface", "eoip", "add", "name=e", "tunnel-id=9", "remote-address="+r.remote)
			}
			for _, n := range []string{tp.a, tp.b} {
				waitLink(t, n, "g", "e")
			}
			run(t, "ip", "-n", tp.a, "addr", "add", "198.19.3.1/30", "dev", "g")
			run(t, "ip", "-n", tp.b, "addr", "add", "198.19.3.2/30", "dev", "g")
			run(t, "ip", "-n", tp.a, "addr", "add", "198.19.4.1/24", "dev", "e")
			run(t, "ip", "-n", tp.b, "addr", "add", "198.19.4.2/24", "dev", "e")
			ping(t, tp.a, "198.19.3.2")
			ping(t, tp.b, "198.19.4.1")
			for _, menu := range []string{"gre", "eoip"} {
				d := printDetail(tp.ra, menu)
				if !strings.Contains(d, `hook="`+o.hook+`"`) {
					t.Errorf("%s print detail lacks hook=%q:\n%s", menu, o.hook, d)
				}
				if st := printStats(tp.ra, menu); !regexp.MustCompile(`rx-packet=(\d+)`).MatchString(st) {
					t.Errorf("%s print stats lacks rx-packet:\n%s", menu, st)
				}
			}
			waitFor(t, "rx counters", 5e9, func() bool {
				m := regexp.MustCompile(`rx-packet=(\d+)`).FindAllStringSubmatch(printStats(tp.ra, "gre")+printStats(tp.ra, "eoip"), -1)
				return len(m) == 2 && m[0][1] != "0" && m[1][1] != "0"
			})
		})
	}
}
