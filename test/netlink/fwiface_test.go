package netlink

import (
	"strings"
	"testing"
)

// TestFirewallUnknownInterface: a firewall rule naming an interface the box does not
// have is refused with RouterOS's words and nothing is added (issue 15 low: it was
// accepted silently and matched nothing); a kernel link, a negated one, an interface
// kind, an interface configured but not yet in the kernel (a disabled bridge) and an
// export's reference to a removed interface (*ID) are taken, in /ip and /ipv6.
func TestFirewallUnknownInterface(t *testing.T) {
	need(t)
	rn := netns(t, "fwi")
	h := netns(t, "fwih")
	veth(t, rn, "ether2", h, "eth0")
	r := startRouter(t, rn, t.TempDir())

	r.fails("/ip firewall filter add chain=forward in-interface=nosuch0 action=drop", "input does not match any value of interface")
	r.fails("/ip firewall nat add chain=srcnat out-interface=!nosuch0 action=masquerade", "input does not match any value of interface")
	r.fails("/ipv6 firewall filter add chain=forward out-interface=nosuch0 action=drop", "input does not match any value of interface")
	r.must("/ip firewall filter add chain=forward in-interface=ether2 action=accept comment=ok")
	r.fails("/ip firewall filter set [find comment=ok] in-interface=nosuch0", "input does not match any value of interface")
	if out := r.must("/ip firewall filter print detail"); strings.Contains(out, "nosuch0") {
		t.Errorf("a refused rule was written:\n%s", out)
	}
	r.must("/interface bridge add name=bridge1 disabled=yes")
	for _, cmd := range []string{
		"/ip firewall filter add chain=forward in-interface=!ether2 action=accept",
		"/ip firewall filter add chain=forward in-interface=all-ethernet action=accept",
		"/ip firewall filter add chain=forward out-interface=bridge1 action=accept",
		"/ip firewall filter add chain=forward out-interface=*1A action=accept",
		"/ipv6 firewall filter add chain=forward in-interface=ether2 action=accept",
	} {
		r.must(cmd)
	}
}
