package firewall

import (
	"regexp"
	"strings"
	"testing"
)

// TestLoopRefusedAtEnable: enabling a disabled jump that closes a loop is refused with
// the words add and set use, as is enabling two jumps that close one together; a jump
// to a chain with no rules yet is accepted whatever its chain is called (exports add
// jumps before the target's rules).
func TestLoopRefusedAtEnable(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/ip firewall filter add chain=forward action=jump jump-target=la
/ip firewall filter add chain=la action=jump jump-target=lb
/ip firewall filter add chain=lb action=accept
/ip firewall filter add chain=lb action=jump jump-target=la disabled=yes comment=L8
/ip firewall filter add chain=lc action=jump jump-target=ld disabled=yes comment=P1
/ip firewall filter add chain=ld action=jump jump-target=lc disabled=yes comment=P2`)
	before := ruleset(t, tp)
	for _, src := range []string{
		`/ip firewall filter enable [find comment=L8]`,
		`/ip firewall filter set [find comment=L8] disabled=no`,
	} {
		if _, err := r.try(src); err == nil || !strings.Contains(err.Error(), "failure: jump to la makes a loop") {
			t.Errorf("%s: err %v, want failure: jump to la makes a loop", src, err)
		}
	}
	if _, err := r.try(`/ip firewall filter enable [find comment~"^P"]`); err == nil || !strings.Contains(err.Error(), "makes a loop") {
		t.Errorf("enabling two jumps that close a loop together: err %v", err)
	}
	if n := strings.TrimSpace(r.run(t, `:put [/ip firewall filter print count-only where disabled]`)); n != "3" {
		t.Errorf("%s rules disabled after the refused enables, want 3", n)
	}
	if got := ruleset(t, tp); got != before {
		t.Errorf("the kernel's ruleset changed:\n%s\nwas\n%s", got, before)
	}
	// Enabling one of the pair is fine; a jump to a chain not there yet is accepted from
	// any chain, whatever the names spell.
	r.run(t, `/ip firewall filter enable [find comment=P1]
/ip firewall filter add chain=forward action=jump jump-target=nochain2
/ip firewall filter add chain=loopa action=jump jump-target=loopb comment=LA`)
	out := r.run(t, `/ip firewall filter print detail where comment=LA`)
	if !strings.Contains(out, "no such chain loopb") {
		t.Errorf("the jump to a chain with no rules does not say so:\n%s", out)
	}
	r.run(t, `/ip firewall filter add chain=loopb action=return`)
	if out := r.run(t, `/ip firewall filter print detail where comment=LA`); strings.Contains(out, "no such chain") {
		t.Errorf("the jump stays invalid once its chain has rules:\n%s", out)
	}
}

// TestInterfaceListNames: a rule naming an interface list with no members is a valid
// rule that never matches (no I flag, as RouterOS); a list that does not exist is refused
// at add and set with RouterOS's words.
func TestInterfaceListNames(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	r.run(t, `/interface list add name=EMPTY
/ip firewall filter add chain=forward in-interface-list=EMPTY action=drop comment=E
/ip firewall filter add chain=forward in-interface-list=!EMPTY protocol=udp action=drop comment=N`)
	if out := r.run(t, `/ip firewall filter print detail where comment=E`); regexp.MustCompile(`(?m)^\s*\d+\s+I`).MatchString(out) || strings.Contains(out, "no interfaces") {
		t.Errorf("a rule on an empty list is shown invalid:\n%s", out)
	}
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Errorf("a rule on an empty list dropped traffic\n%s", ruleset(t, tp))
	}
	for _, src := range []string{
		`/ip firewall filter add chain=forward in-interface-list=nosuch action=drop`,
		`/ip firewall filter set [find comment=E] out-interface-list=!nosuch`,
	} {
		if _, err := r.try(src); err == nil || !strings.Contains(err.Error(), "input does not match any value of") {
			t.Errorf("%s: err %v", src, err)
		}
	}
}
