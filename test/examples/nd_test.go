package examples

import (
	"strings"
	"testing"
)

// TestRouterAdvertisementRdisc6: the 6to4 page's commands (an address with advertise=yes,
// `/ipv6 nd set [ find default=yes ] advertise-dns=yes`, /ip dns servers) with addresses
// mapped to the benchmark range 2001:2::/48; rdisc6 in a host namespace solicits and
// sees the prefix, the RDNSS, the MTU and the flags. A static /ipv6 nd prefix joins the
// dynamic one; an nd item for an interface overrides the default's settings.
func TestRouterAdvertisementRdisc6(t *testing.T) {
	need(t, "rdisc6")
	rn, hn := netns(t, "nr"), netns(t, "nh")
	veth(t, rn, "bridge-local", hn, "h0")
	r := startRouter(t, rn)
	// The manual: /ipv6 address add address=2001:470:28:37e:: interface=bridge-local advertise=yes
	r.must("/ipv6 address add address=2001:2:0:37e::1/64 interface=bridge-local advertise=yes")
	r.must("/ipv6 nd set [ find default=yes ] advertise-dns=yes")
	// The manual: /ip dns set allow-remote-requests=yes servers=2001:4860:4860::8888,2001:4860:4860::8844
	r.must("/ip dns set allow-remote-requests=yes servers=2001:2::8888,2001:2::8844")
	var out string
	eventually(t, "rdisc6 gets an advertisement", func() (bool, string) {
		o, err := in(hn, "rdisc6", "-1", "-r", "1", "-w", "1000", "h0").CombinedOutput()
		out = squeeze(string(o))
		// The RA engine may answer from a pass before it saw /ip dns's servers: wait
		// for both the prefix and the RDNSS.
		return err == nil && strings.Contains(out, "2001:2:0:37e::/64") && strings.Contains(out, "2001:2::8844"), out
	})
	for _, want := range []string{
		"Prefix : 2001:2:0:37e::/64",
		"Recursive DNS server : 2001:2::8888",
		"Recursive DNS server : 2001:2::8844",
		"Router lifetime : 1800 (0x00000708) seconds",
		"Stateful address conf. : No",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rdisc6 lacks %q:\n%s", want, out)
		}
	}
	if out := r.must("/ipv6 nd prefix print"); !strings.Contains(out, "2001:2:0:37e::/64") {
		t.Errorf("nd prefix print lacks the dynamic prefix:\n%s", out)
	}
	// /ipv6 nd prefix default: what the dynamic prefixes carry (an export writes it).
	r.must("/ipv6 nd prefix default set valid-lifetime=1d preferred-lifetime=1h")
	eventually(t, "rdisc6 sees the default lifetimes", func() (bool, string) {
		o, _ := in(hn, "rdisc6", "-1", "-r", "1", "-w", "1000", "h0").CombinedOutput()
		out = squeeze(string(o))
		return strings.Contains(out, "Valid time : 86400 ") && strings.Contains(out, "Pref. time : 3600 "), out
	})
	if out := r.must("/ipv6 nd prefix print detail"); !strings.Contains(out, "valid-lifetime=1d") || !strings.Contains(out, "preferred-lifetime=1h") {
		t.Errorf("the dynamic prefix does not show the default lifetimes:\n%s", out)
	}
	if out := r.must("/ipv6 nd prefix default export"); !strings.Contains(out, "set preferred-lifetime=1h valid-lifetime=1d") {
		t.Errorf("export:\n%s", out)
	}
	// RouterOS 7.24 exports dhcp6-pd-preferred: RFC 9762's P flag in the prefix option
	// (rdisc6 does not show it; the advertisement's bytes do).
	r.must("/ipv6 nd prefix default set dhcp6-pd-preferred=yes")
	eventually(t, "the advertised prefix has the P flag", func() (bool, string) {
		o, _ := in(hn, "python3", "-c", raPrefixFlags, "h0").CombinedOutput()
		return strings.Contains(string(o), "2001:2:0:37e:: 64 flags=0xd0"), string(o)
	})
	if out := r.must("/ipv6 nd prefix print detail where dynamic"); !strings.Contains(out, "dhcp6-pd-preferred=yes") {
		t.Errorf("the dynamic prefix does not show dhcp6-pd-preferred:\n%s", out)
	}
	r.must("/ipv6 nd prefix default set dhcp6-pd-preferred=no")
	r.must("/ipv6 nd prefix add prefix=2001:2:0:99::/64 interface=bridge-local autonomous=no")
	r.must("/ipv6 nd add interface=bridge-local managed-address-configuration=yes mtu=1400 ra-lifetime=10m hop-limit=64 ra-preference=high")
	eventually(t, "rdisc6 sees the item's settings", func() (bool, string) {
		o, _ := in(hn, "rdisc6", "-1", "-r", "1", "-w", "1000", "h0").CombinedOutput()
		out = squeeze(string(o))
		return strings.Contains(out, "2001:2:0:99::/64") && strings.Contains(out, "Stateful address conf. : Yes"), out
	})
	for _, want := range []string{
		"MTU : 1400 bytes",
		"Router preference : high",
		"Hop limit : 64",
		"Router lifetime : 600",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rdisc6 lacks %q:\n%s", want, out)
		}
	}
	// Bad input is refused and changes nothing.
	if o, err := r.ctl("/ipv6 nd set [find interface=bridge-local] ra-preference=extreme"); err == nil {
		t.Errorf("ra-preference=extreme accepted: %s", o)
	}
}

// squeeze collapses runs of blanks, so checks do not depend on rdisc6's column widths.
func squeeze(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		b.WriteString(strings.Join(strings.Fields(l), " ") + "\n")
	}
	return b.String()
}

// raPrefixFlags solicits an advertisement on the interface argv[1] names and prints each
// prefix option of the answer with its flags byte (L 0x80, A 0x40, P 0x10).
const raPrefixFlags = `
import socket, sys, time
idx = socket.if_nametoindex(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
s.settimeout(0.5)
s.sendto(bytes([133, 0, 0, 0, 0, 0, 0, 0]), ("ff02::2", 0, 0, idx))
end = time.time() + 2
while time.time() < end:
    try:
        b = s.recv(1500)
    except socket.timeout:
        continue
    if b[0] != 134:
        continue
    o = b[16:]
    while len(o) >= 8 and o[1] > 0:
        if o[0] == 3:
            print(socket.inet_ntop(socket.AF_INET6, o[16:32]), o[2], "flags=0x%02x" % o[3])
        o = o[o[1] * 8:]
    break
`
