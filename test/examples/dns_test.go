package examples

import (
	"strconv"
	"strings"
	"testing"
)

// TestDNSServerDig: the 6to4 page's `/ip dns set allow-remote-requests=yes servers=...`
// with the servers mapped to a second routerd (the upstream, with a static entry) in its
// own namespace; dig from a client namespace gets statics, forwarded and cached answers
// over UDP and TCP, and the cache's TTL bound.
func TestDNSServerDig(t *testing.T) {
	need(t, "dig")
	rn, un, cn := netns(t, "dr"), netns(t, "du"), netns(t, "dc")
	veth(t, rn, "ether1", cn, "c0")
	veth(t, rn, "ether2", un, "u0")
	run(t, "ip", "-n", cn, "addr", "add", "198.18.2.2/24", "dev", "c0")
	run(t, "ip", "-n", un, "addr", "add", "198.18.3.2/24", "dev", "u0")
	up := startRouter(t, un)
	up.must("/ip dns set allow-remote-requests=yes")
	up.must("/ip dns static add name=upstream.example address=198.18.9.9 ttl=1d")
	r := startRouter(t, rn)
	r.must("/ip address add address=198.18.2.1/24 interface=ether1")
	r.must("/ip address add address=198.18.3.1/24 interface=ether2")
	// The manual: /ip dns set allow-remote-requests=yes servers=2001:4860:4860::8888,...
	r.must("/ip dns set allow-remote-requests=yes servers=198.18.3.2 cache-max-ttl=1h")
	r.must("/ip dns static add name=router.lan address=198.18.2.1")
	dig := func(args ...string) string {
		return strings.TrimSpace(runIn(t, cn, append([]string{"dig", "@198.18.2.1", "+time=2", "+tries=2"}, args...)...))
	}
	eventually(t, "DNS server answers", func() (bool, string) {
		out, err := in(cn, "dig", "@198.18.2.1", "+time=1", "+tries=1", "+short", "router.lan").CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "198.18.2.1", string(out)
	})
	// The engines apply ether2's address after the command returns, and the upstream
	// starts on its own: the forwarding checks below need both, so wait for the upstream
	// to answer from the router's namespace (asked directly, so the router caches nothing).
	eventually(t, "upstream reachable from the router", func() (bool, string) {
		out, err := in(rn, "dig", "@198.18.3.2", "+time=1", "+tries=1", "+short", "upstream.example").CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "198.18.9.9", string(out)
	})
	if out := dig("+tcp", "+short", "router.lan"); out != "198.18.2.1" {
		t.Errorf("static over TCP: %q", out)
	}
	if out := dig("+noall", "+answer", "upstream.example"); !strings.Contains(out, "198.18.9.9") || !strings.Contains(out, "86400") {
		t.Errorf("forwarded: %q", out)
	}
	// The cached copy carries at most cache-max-ttl.
	out := dig("+noall", "+answer", "upstream.example")
	if f := strings.Fields(out); len(f) < 2 || atoiOr(f[1], 1<<30) > 3600 {
		t.Errorf("cached: %q", out)
	}
	if out := r.must("/ip dns cache print"); !strings.Contains(out, "upstream.example") {
		t.Errorf("cache print:\n%s", out)
	}
	r.must("/ip dns cache flush")
	if out := r.must("/ip dns cache print"); strings.Contains(out, "upstream.example") {
		t.Errorf("cache after flush:\n%s", out)
	}
	// :resolve in the daemon goes through /ip dns static, then the servers.
	if out := r.must(":put [:resolve router.lan]"); strings.TrimSpace(out) != "198.18.2.1" {
		t.Errorf(":resolve static: %q", out)
	}
	if out := r.must(":put [:resolve upstream.example]"); strings.TrimSpace(out) != "198.18.9.9" {
		t.Errorf(":resolve through servers: %q", out)
	}
	r.must("/ip dns static add name=www.lan type=CNAME cname=router.lan")
	r.must("/ip dns static add name=_sip._udp.lan type=SRV srv-target=router.lan srv-port=5060 srv-priority=1 srv-weight=5")
	r.must(`/ip dns static add name=lan type=TXT text="v=spf1 -all"`)
	if out := dig("+short", "www.lan"); out != "router.lan.\n198.18.2.1" {
		t.Errorf("CNAME: %q", out)
	}
	if out := dig("+short", "_sip._udp.lan", "SRV"); out != "1 5 5060 router.lan." {
		t.Errorf("SRV: %q", out)
	}
	if out := dig("+short", "lan", "TXT"); out != `"v=spf1 -all"` {
		t.Errorf("TXT: %q", out)
	}
	if out := dig("+short", "nosuch.invalid"); out != "" {
		t.Errorf("unknown name: %q", out)
	}
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
