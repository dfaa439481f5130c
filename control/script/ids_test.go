package script

import (
	"strconv"
	"strings"
	"testing"
)

// TestItemIDsPerMenu (issue 15): item ids are numbered per menu, so *1 is an item of
// the filter, the mangle and the nat table at once; print where .id=*1, find, set *1
// and remove *1 act on the menu's own item only. A rule pointed at a removed bridge's
// id (in-interface=*N) keeps it when another menu's item with that id (a vlan) is
// renamed or removed: references to removed items are followed by name, never
// resolved by id.
func TestItemIDsPerMenu(t *testing.T) {
	in, c := newInterp(t)
	get := func(src string) string { return strings.TrimSpace(mustRun(t, in, c, src)) }
	mustRun(t, in, c, `/ip firewall filter add chain=forward action=accept comment=f1
/ip firewall mangle add chain=prerouting action=passthrough comment=m1
/ip firewall nat add chain=srcnat action=masquerade comment=n1`)
	f, m, n := get(`:put [/ip firewall filter get [find comment=f1] .id]`), get(`:put [/ip firewall mangle get [find comment=m1] .id]`),
		get(`:put [/ip firewall nat get [find comment=n1] .id]`)
	if f != m || f != n {
		t.Fatalf("the first rules' ids %s %s %s, want one id in three menus", f, m, n)
	}
	if out := mustRun(t, in, c, `/ip firewall filter print where .id=`+f); !strings.Contains(out, "f1") || strings.Contains(out, "m1") || strings.Contains(out, "n1") {
		t.Errorf("filter print where .id=%s:\n%s", f, out)
	}
	if got := get(`:put [/ip firewall mangle find where .id=` + f + `]`); got != m {
		t.Errorf("mangle find where .id=%s: %q", f, got)
	}
	if got := get(`:put [:len [/ip firewall mangle find where comment=f1]]`); got != "0" {
		t.Errorf("mangle find comment=f1 found %s", got)
	}
	mustRun(t, in, c, `/ip firewall filter set `+f+` comment=f1x`)
	if got := get(`:put ([/ip firewall mangle get ` + m + ` comment] . "," . [/ip firewall nat get ` + n + ` comment])`); got != "m1,n1" {
		t.Errorf("filter set %s changed another menu's item: %q", f, got)
	}

	// A removed bridge's id in a rule, and a vlan with the same id.
	mustRun(t, in, c, `/interface bridge add name=brx
/ip firewall filter add chain=forward in-interface=brx action=drop comment=r`)
	ref := get(`:put [/interface bridge get [find name=brx] .id]`)
	mustRun(t, in, c, `/interface bridge remove brx`)
	rule := func() string { return get(`:put [/ip firewall filter get [find comment=r] in-interface]`) }
	if got := rule(); got != ref {
		t.Fatalf("the rule of the removed bridge: in-interface=%s, want %s", got, ref)
	}
	var vlan string
	for i := 1; i < 20 && vlan != ref; i++ {
		name := "v" + strings.Repeat("x", i)
		mustRun(t, in, c, `/interface vlan add name=`+name+` vlan-id=`+strconv.Itoa(i+1)+` interface=ether1`)
		vlan = get(`:put [/interface vlan get [find name=` + name + `] .id]`)
		if vlan == ref {
			mustRun(t, in, c, `/interface vlan set `+vlan+` name=vsame`)
		}
	}
	if vlan != ref {
		t.Fatalf("no vlan got id %s", ref)
	}
	if got := rule(); got != ref {
		t.Errorf("renaming vlan %s changed the rule: in-interface=%s", vlan, got)
	}
	mustRun(t, in, c, `/interface vlan remove `+vlan)
	if got := rule(); got != ref {
		t.Errorf("removing vlan %s changed the rule: in-interface=%s", vlan, got)
	}

	mustRun(t, in, c, `/ip firewall filter remove `+f)
	if got := get(`:put ([:len [/ip firewall filter find comment=f1x]] . "," . [:len [/ip firewall mangle find]] . "," . [:len [/ip firewall nat find]])`); got != "0,1,1" {
		t.Errorf("filter remove %s: filter f1x, mangle, nat counts %s, want 0,1,1", f, got)
	}
}
