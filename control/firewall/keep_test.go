package firewall

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control/controltest"
)

// TestAddressListNoneStatic: a rule's address-list-timeout=none-static adds a static
// entry, as RouterOS: print shows it without D, export writes it, a restart keeps it,
// and once applied the address is in the list's configured set, not its dynamic one (so
// removing the entry removes the address). none-dynamic adds a dynamic entry.
func TestAddressListNoneStatic(t *testing.T) {
	tp := newTopo(t)
	dir := t.TempDir()
	r := newRigEx(t, tp, controltest.NewIn(t, dir))
	r.run(t, `/ip firewall filter add chain=forward protocol=icmp action=add-src-to-address-list address-list=kept address-list-timeout=none-static
/ip firewall filter add chain=forward protocol=icmp action=add-src-to-address-list address-list=seen address-list-timeout=none-dynamic`)
	if !tp.ping(tp.c, "198.19.2.2") {
		t.Fatal("no ping through the router")
	}
	// The engine's timer saves the entry within a second or two.
	deadline := time.Now().Add(10 * time.Second)
	for strings.TrimSpace(r.run(t, `:put [:len [/ip firewall address-list find where list=kept address=198.18.1.2 dynamic=no]]`)) != "1" {
		if time.Now().After(deadline) {
			t.Fatalf("no static entry:\n%s", r.run(t, `/ip firewall address-list print`))
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := r.run(t, `/ip firewall address-list print where list=kept`)
	if strings.Count(out, "198.18.1.2") != 1 || strings.Contains(out, " D   kept 198.18.1.2") {
		t.Errorf("print shows the kept entry other than once and static:\n%s", out)
	}
	if n := strings.TrimSpace(r.run(t, `:put [:len [/ip firewall address-list find where list=seen address=198.18.1.2 dynamic=yes]]`)); n != "1" {
		t.Errorf("none-dynamic: %s dynamic entries, want 1:\n%s", n, r.run(t, `/ip firewall address-list print`))
	}
	if exp := r.run(t, `/ip firewall address-list export`); !strings.Contains(exp, "add address=198.18.1.2 list=kept") || strings.Contains(exp, "list=seen") {
		t.Errorf("export:\n%s", exp)
	}
	// Applied as configured: the dynamic set lets go of it.
	for deadline = time.Now().Add(10 * time.Second); ; {
		kept := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "set", "ip", "routerd", "dyn/kept")
		conf := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "set", "ip", "routerd", "list/kept")
		if !strings.Contains(kept, "198.18.1.2") && strings.Contains(conf, "198.18.1.2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kernel sets:\n%s\n%s", kept, conf)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.stop()
	r.ex.Store.Close() // a restart: the store is opened again
	r = newRigEx(t, tp, controltest.NewIn(t, dir))
	if n := strings.TrimSpace(r.run(t, `:put [:len [/ip firewall address-list find where list=kept address=198.18.1.2 dynamic=no]]`)); n != "1" {
		t.Fatalf("after a restart: %s static entries\n%s", n, r.run(t, `/ip firewall address-list print`))
	}
	r.run(t, `/ip firewall filter remove [find]
/ip firewall address-list remove [find list=kept]`)
	if s := sh(t, "ip", "netns", "exec", tp.r, "nft", "list", "ruleset"); strings.Contains(s, "list/kept") || strings.Contains(s, "dyn/kept") {
		t.Errorf("the removed entry's list is still in the kernel:\n%s", s)
	}
	// none-dynamic's entry has no timeout: it stays with its list, as RouterOS keeps it,
	// though no rule names the list any more.
	if n := strings.TrimSpace(r.run(t, `:put [:len [/ip firewall address-list find where list=seen address=198.18.1.2 dynamic=yes]]`)); n != "1" {
		t.Errorf("none-dynamic's entry went with the rules: %s entries", n)
	}
}

// TestDynamicCreationTimeRestart: an entry a rule added without a timeout
// (address-list-timeout=none-dynamic) and the entry a DNS name resolved to keep their
// creation-time across a restart of routerd (QA: both printed the time routerd last
// started; the DNS-named entry's D child printed none at all).
func TestDynamicCreationTimeRestart(t *testing.T) {
	tp := newTopo(t)
	dir := t.TempDir()
	r := newRigEx(t, tp, controltest.NewIn(t, dir))
	r.run(t, `/ip dns static add name=host.ct.test address=198.19.9.9
/ip firewall address-list add list=byname address=host.ct.test
/ip firewall filter add chain=input protocol=icmp action=add-src-to-address-list address-list=pingers address-list-timeout=none-dynamic
/ip firewall filter add chain=forward src-address-list=byname action=drop`)
	sh(t, "ip", "netns", "exec", tp.c, "ping", "-c1", "-W2", "198.18.1.1")
	created := func(rr *rig, addr string) string {
		t.Helper()
		var out string
		deadline := time.Now().Add(20 * time.Second)
		for {
			out = rr.run(t, `/ip firewall address-list print detail where dynamic and address=`+addr)
			if m := regexp.MustCompile(`creation-time="([^"]+)"`).FindStringSubmatch(out); m != nil {
				return m[1]
			}
			if time.Now().After(deadline) {
				t.Fatalf("no dynamic entry %s with a creation-time:\n%s", addr, out)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	rule, dns := created(r, "198.18.1.2"), created(r, "198.19.9.9")
	// Let the clock pass the printed seconds, so a time taken anew would differ (as
	// TestTimedEntriesRestart).
	time.Sleep(2100 * time.Millisecond)
	r.stop()
	r2 := newRigEx(t, tp, r.ex)
	if got := created(r2, "198.18.1.2"); got != rule {
		t.Errorf("the rule's entry was created %s, after a restart %s", rule, got)
	}
	if got := created(r2, "198.19.9.9"); got != dns {
		t.Errorf("the DNS name's entry was created %s, after a restart %s", dns, got)
	}
}
