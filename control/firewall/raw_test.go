package firewall

import (
	"strings"
	"testing"
)

// TestRawHasNoConnectionMatchers: /ip firewall raw runs before connection tracking, so
// (as on RouterOS) its rules have no connection or routing-mark matcher. Accepted, the
// manual's "drop invalid early" rule would read every packet as ct state invalid and
// drop the whole LAN; it is refused with the console's words and nothing changes.
func TestRawHasNoConnectionMatchers(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall raw add chain=prerouting action=notrack dst-address=198.18.77.0/24`)
	before := ruleset(t, tp)
	for _, m := range []string{"connection-state=invalid", "connection-nat-state=dstnat", "connection-mark=x",
		"connection-type=ftp", "connection-bytes=0-100", "connection-limit=10,32", "routing-mark=main"} {
		for _, fam := range []string{"ip", "ipv6"} {
			src := "/" + fam + " firewall raw add chain=prerouting action=drop " + m
			if _, err := r.try(src); err == nil || !strings.Contains(err.Error(), "expected end of command") {
				t.Errorf("%s: err %v, want expected end of command", src, err)
			}
		}
	}
	if n := strings.TrimSpace(r.run(t, `:put [:len [/ip firewall raw find]]`)); n != "1" {
		t.Errorf("%s raw rules after the refusals, want 1", n)
	}
	if got := ruleset(t, tp); got != before {
		t.Errorf("the kernel's ruleset changed:\n%s\nwas\n%s", got, before)
	}
	// The same matchers stay where connection tracking has run.
	r.run(t, `/ip firewall filter add chain=forward action=drop connection-state=invalid
/ip firewall mangle add chain=prerouting action=accept connection-mark=x routing-mark=main`)
}
