package firewall

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/control/controltest"
)

// TestIPsecInterfaceNote: a rule with ipsec-policy=in,ipsec and in-interface (or out
// with out-interface) stays valid and says in its status that routerd's userspace ESP
// packets are matched without the interface (issue 15 low: the interface was dropped
// for them with no word); the same rule without the interface, or with a negated one,
// has no status. Fails without the status: both statuses are empty.
func TestIPsecInterfaceNote(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=input ipsec-policy=in,ipsec in-interface=wan action=accept comment=in
/ip firewall filter add chain=output ipsec-policy=out,ipsec out-interface=wan action=accept comment=out
/ip firewall filter add chain=input ipsec-policy=in,ipsec action=accept comment=plain
/ip firewall filter add chain=input ipsec-policy=in,ipsec in-interface=!wan action=accept comment=neg`)
	for c, prop := range map[string]string{"in": "in-interface", "out": "out-interface"} {
		st := controltest.State(t, r.ex, rulePath(false, "filter"), "comment", c)
		if st.Invalid || !strings.Contains(st.Status, prop+" is not checked for the packets of routerd's userspace ESP") {
			t.Errorf("rule %s: %+v", c, st)
		}
	}
	for _, c := range []string{"plain", "neg"} {
		if st := controltest.State(t, r.ex, rulePath(false, "filter"), "comment", c); st.Invalid || st.Status != "" {
			t.Errorf("rule %s: %+v", c, st)
		}
	}
}
