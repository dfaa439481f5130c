package firewall

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestIfListErrorFailsPass: members of an interface list that cannot be resolved (the
// link engine cannot dump the links) fail the pass with the reason, and the kernel
// keeps the rules it has (issue 10: the link engine logged the error and returned no
// members, so in-interface-list=LAN compiled to a rule matching nothing, and
// !in-interface-list to one matching everything). Once the members resolve again, the
// rule is applied.
func TestIfListErrorFailsPass(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/interface list add name=LAN`)
	r.run(t, `/ip firewall filter add chain=forward action=accept comment=first`)
	before := ruleset(t, tp)
	r.e.passMu.Lock()
	r.e.opts.IfLists = func(name string) ([]string, error) { return nil, unix.ENOBUFS }
	r.e.passMu.Unlock()
	_, err := r.try(`/ip firewall filter add chain=forward in-interface-list=!LAN action=drop comment=notlan`)
	if err == nil || !strings.Contains(err.Error(), "interface list LAN: no buffer space available") {
		t.Fatalf("pass with the list's members unknown: %v", err)
	}
	if after := ruleset(t, tp); after != before {
		t.Errorf("the kernel's rules changed without the list's members:\n%s\nwas\n%s", after, before)
	}
	r.e.passMu.Lock()
	r.e.opts.IfLists = func(name string) ([]string, error) { return []string{"r1"}, nil }
	r.e.passMu.Unlock()
	if _, err := r.try(`:put ok`); err != nil {
		t.Fatal(err)
	}
	if rs := ruleset(t, tp); !strings.Contains(rs, `iifname != "r1"`) {
		t.Errorf("rule not applied once the members resolve:\n%s", rs)
	}
}
