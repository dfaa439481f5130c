package firewall

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/routerd/routerd/control/store"
)

// TestKernelRefusalLeftOut: a stored rule the kernel refuses (here a chain name over
// nftables' limit, as a store written before add refused it holds) is invalid with the
// kernel's reason, and every other change still applies. Before, each pass sent the
// whole table, the kernel refused it, and nothing configured later reached the kernel
// while print showed no invalid rule.
func TestKernelRefusalLeftOut(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=forward action=accept protocol=icmp comment=ping`)
	long := strings.Repeat("x", 300)
	path := rulePath(false, "filter")
	err := r.ex.Store.Update(func(tx *store.Tx) error {
		for _, p := range []map[string]string{
			{"chain": long, "action": "accept", "comment": "long"},
			{"chain": "forward", "action": "jump", "jump-target": long, "comment": "jumplong"},
		} {
			id, err := tx.NextID(path)
			if err != nil {
				return err
			}
			if err := tx.Put(path, store.Item{ID: id, Props: p}, 0); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.e.Reconcile(context.Background()); err != nil {
		t.Fatalf("pass with a rule the kernel refuses: %v", err)
	}
	r.run(t, `/ip firewall filter add chain=forward action=drop protocol=udp dst-port=9 comment=probe`)
	rs := ruleset(t, tp)
	if !strings.Contains(rs, "udp dport 9") {
		t.Fatalf("a rule added after the refused one is not in the kernel:\n%s", rs)
	}
	if strings.Contains(rs, long) {
		t.Errorf("the refused chain is in the kernel")
	}
	out := r.run(t, `/ip firewall filter print detail where invalid`)
	if !strings.Contains(out, "comment=long") && !strings.Contains(out, ";;; long") {
		t.Errorf("the refused rule is not invalid:\n%s", out)
	}
	if !strings.Contains(out, "too long") && !strings.Contains(out, "refused") {
		t.Errorf("no reason for the refused rule:\n%s", out)
	}
	if !strings.Contains(out, "jumplong") {
		t.Errorf("the jump to the refused chain is not invalid:\n%s", out)
	}
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Errorf("no ping through the router")
	}
	// Passes with nothing changed do not send the refused rule again.
	n := r.e.k.refusals()
	for range 3 {
		if err := r.e.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if m := r.e.k.refusals(); m != n {
		t.Errorf("quiet passes sent the refused rule again (%d refused transactions, were %d)", m, n)
	}
	// Changed, it is tried again: a name the kernel takes applies.
	r.run(t, `/ip firewall filter set [find comment=long] chain=short
/ip firewall filter set [find comment=jumplong] jump-target=short`)
	if out := r.run(t, `/ip firewall filter print detail where invalid`); strings.TrimSpace(out) != "" && strings.Contains(out, "long") {
		t.Errorf("rules still invalid after the fix:\n%s", out)
	}
	if rs := ruleset(t, tp); !strings.Contains(rs, "filter/short") {
		t.Errorf("the fixed chain is not in the kernel:\n%s", rs)
	}
}

// TestRefusedErrorNamesRule: a plan with a rule the kernel refuses comes back as a
// RefusedError naming that rule with the kernel's reason, and nothing applied.
func TestRefusedErrorNamesRule(t *testing.T) {
	tp := newTopo(t)
	k := &Kernel{NetNS: int(tp.rfd.Fd())}
	good := RulePlan{Key: RuleKey{"filter", 4}, Exprs: [][]expr.Any{{&expr.Verdict{Kind: expr.VerdictAccept}}}, Sum: 4}
	bad := RulePlan{Key: RuleKey{"filter", 5}, Exprs: [][]expr.Any{{&expr.Verdict{Kind: expr.VerdictJump, Chain: "filter/missing"}}}, Sum: 5}
	pl := &Plan{Chains: []*ChainPlan{{Name: "filter/custom", Rules: []RulePlan{good, bad}}}, Invalid: map[RuleKey]string{}}
	err := k.Apply(pl, nil)
	var re *RefusedError
	if !errors.As(err, &re) {
		t.Fatalf("Apply: %v, want a RefusedError", err)
	}
	if why := re.Rules[bad.Key]; !strings.Contains(why, "no such file or directory") || len(re.Rules) != 1 || len(re.Chains) != 0 {
		t.Errorf("refused %v %v, want rule %v with the kernel's reason", re.Rules, re.Chains, bad.Key)
	}
	if rs := ruleset(t, tp); strings.Contains(rs, "filter/custom") {
		t.Errorf("a refused transaction left the chain:\n%s", rs)
	}
}

// TestReservedLookingNames: a nat chain named like routerd's own hook chains is a chain
// like any other (before, chain=hook-postrouting was the postrouting hook itself and its
// accept skipped every masquerade), and chain and list names with control characters are
// refused (the kernel's names end at a NUL: "qq\00zz" was the chain qq).
func TestReservedLookingNames(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall nat add chain=hook-postrouting action=accept comment=lookalike
/ip firewall nat add chain=postrouting action=accept
/ip firewall nat add chain=srcnat action=masquerade out-interface=wan comment=masq`)
	if src := tp.udp(t, tp.c, tp.s, "198.19.2.2", 7009); !strings.HasPrefix(src, "198.19.2.1:") {
		t.Errorf("masquerade beside a chain named hook-postrouting: server saw %q\n%s", src, ruleset(t, tp))
	}
	if out := r.run(t, `/ip firewall nat print where invalid`); strings.Contains(out, "lookalike") {
		t.Errorf("the chain named hook-postrouting is not a chain like any other:\n%s", out)
	}
	for _, bad := range []string{
		`/ip firewall filter add chain="qq\00zz" action=drop`,
		`/ip firewall filter add chain=forward action=jump jump-target="a\nb"`,
		`/ip firewall filter add chain=forward src-address-list="l\01"`,
		`/ip firewall address-list add list="l\00x" address=198.18.1.9`,
	} {
		if _, err := r.try(bad); err == nil || !strings.Contains(err.Error(), "control characters") {
			t.Errorf("%s: %v, want a refusal for control characters", bad, err)
		}
	}
}
