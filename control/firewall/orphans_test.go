package firewall

import (
	"regexp"
	"strings"
	"testing"
)

// TestDynamicListsOutliveRules: the manual's port knocking fills a list from a rule;
// disabling, enabling and removing the rules that fill and use the list leaves its
// dynamic entry until its timeout, as RouterOS keeps address lists apart from rules (the
// knocker is not locked out).
func TestDynamicListsOutliveRules(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=input protocol=icmp dst-address=198.19.2.1 action=add-src-to-address-list address-list=secured address-list-timeout=1h comment=knock
/ip firewall filter add chain=input protocol=icmp dst-address=198.18.1.1 src-address-list=!secured action=drop comment=gate`)
	if tp.ping(tp.c, "198.18.1.1") {
		t.Fatal("the gate let an unknown client through")
	}
	if !tp.ping(tp.c, "198.19.2.1") {
		t.Fatal("knock not answered")
	}
	listed := regexp.MustCompile(`(?m)^\s*\d+\s+D\s+secured\s+198\.18\.1\.2\b`)
	check := func(step string, gate bool) {
		t.Helper()
		if out := r.run(t, `/ip firewall address-list print where list=secured`); !listed.MatchString(out) {
			t.Fatalf("%s: the knocker's entry is gone:\n%s\n%s", step, out, ruleset(t, tp))
		}
		if !strings.Contains(ruleset(t, tp), "198.18.1.2 ") {
			t.Fatalf("%s: the kernel's set lost the entry:\n%s", step, ruleset(t, tp))
		}
		if gate && !tp.ping(tp.c, "198.18.1.1") {
			t.Fatalf("%s: the knocker is locked out", step)
		}
	}
	check("knocked", true)
	r.run(t, `/ip firewall filter disable [find where comment=knock or comment=gate]`)
	check("rules disabled", false)
	r.run(t, `/ip firewall filter enable [find where comment=knock or comment=gate]`)
	check("rules enabled again", true)
	r.run(t, `/ip firewall filter remove [find]`)
	check("rules removed", false)
	r.run(t, `/ip firewall filter add chain=input protocol=icmp dst-address=198.18.1.1 src-address-list=!secured action=drop comment=gate`)
	check("gate added again", true)
	// Restarted with no rule naming the list: the entry is still there.
	r.run(t, `/ip firewall filter remove [find]`)
	r.stop()
	r = newRigEx(t, tp, r.ex)
	check("engine restarted", false)
}
