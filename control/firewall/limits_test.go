package firewall

import (
	"strings"
	"testing"
)

// TestKernelNameLimits: names at the kernel's limits apply; one character more is
// refused at add and set with the reason, and the kernel's ruleset stays as it was (before,
// add accepted them and every later pass failed in the kernel).
func TestKernelNameLimits(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	chain := strings.Repeat("c", chainNameMax("filter"))
	list := strings.Repeat("l", listNameMax)
	r.run(t, `/ip firewall filter add chain=forward action=jump jump-target=`+chain+`
/ip firewall filter add chain=`+chain+` src-address-list=`+list+` action=accept comment=limits
/ip firewall address-list add list=`+list+` address=198.18.1.2`)
	room := logPrefixMax - len(ChainName("filter", chain)) - len("/ ") - idDigits
	short := strings.Repeat("c", 40)
	prefixRoom := logPrefixMax - len(ChainName("filter", short)) - len("/ ") - idDigits
	r.run(t, `/ip firewall filter add chain=`+short+` log=yes log-prefix=`+strings.Repeat("p", prefixRoom)+` comment=logged`)
	if room >= 0 {
		t.Fatalf("a %d-character chain leaves %d characters of log-prefix", len(chain), room)
	}
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("no ping through the router")
	}
	if n := r.counter(t, "/ip firewall filter", "limits"); n == 0 {
		t.Fatalf("the rule in the longest chain matched nothing\n%s", ruleset(t, tp))
	}
	before := ruleset(t, tp)
	for _, bad := range []struct{ src, want string }{
		{`/ip firewall filter add chain=c` + chain + ` action=accept`, "chain too long"},
		{`/ip firewall filter add chain=forward action=jump jump-target=c` + chain, "jump-target too long"},
		{`/ip firewall filter add chain=forward src-address-list=l` + list, "src-address-list too long"},
		{`/ip firewall filter add chain=forward dst-address-list=!l` + list, "dst-address-list too long"},
		{`/ip firewall filter add chain=forward action=add-src-to-address-list address-list=l` + list, "address-list too long"},
		{`/ip firewall filter set [find comment=limits] chain=c` + chain, "chain too long"},
		{`/ip firewall address-list add list=l` + list + ` address=198.18.1.3`, "list too long"},
		{`/ip firewall address-list set [find address=198.18.1.2] list=l` + list, "list too long"},
		{`/ip firewall filter add chain=` + short + ` log=yes log-prefix=p` + strings.Repeat("p", prefixRoom), "log-prefix too long"},
		{`/ip firewall filter add chain=` + chain + ` action=log`, "log-prefix too long"},
		{`/ipv6 firewall filter add chain=c` + strings.Repeat("c", chainNameMax("filter")) + ` action=accept`, "chain too long"},
	} {
		out, err := r.try(bad.src)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%.80s...: %v %s, want %q", bad.src, err, out, bad.want)
		}
	}
	if after := ruleset(t, tp); after != before {
		t.Errorf("refused commands changed the kernel:\n%s", after)
	}
}
