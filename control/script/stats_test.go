package script

import (
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
)

// TestPrintStats: print stats shows the name and the menu's counters as a table (also
// for a menu whose own print is the detail form), the other forms leave counters out,
// and filters and stats detail combine with it.
func TestPrintStats(t *testing.T) {
	in, c := newInterp(t)
	for _, p := range []string{"/interface/gre", "/interface/eoip"} {
		m, _ := in.Ex.Tree.Get(p)
		m.Engine = "test"
	}
	mustRun(t, in, c, `/interface gre add name=gre1 remote-address=10.0.0.2`)
	mustRun(t, in, c, `/interface gre add name=gre2 remote-address=10.0.0.3 disabled=yes`)
	mustRun(t, in, c, `/interface eoip add name=eoip-remote tunnel-id=0 remote-address=10.0.0.2`)
	// What the tunnel engine reports: counters by the menus' stats names.
	counters := func(base int) map[string]string {
		p := map[string]string{}
		m, _ := in.Ex.Tree.Get("/interface/gre")
		for i, k := range m.Stats {
			p[k] = strings.Repeat("1", base) + string(rune('0'+i%10))
		}
		p["actual-mtu"] = "1476"
		return p
	}
	in.Ex.State.Set("/interface/gre", 1, control.ItemState{Running: true, Props: counters(3)})
	in.Ex.State.Set("/interface/gre", 2, control.ItemState{Props: counters(1)})
	in.Ex.State.Set("/interface/eoip", 1, control.ItemState{Running: true, Props: counters(2)})

	out := mustRun(t, in, c, `/interface gre print stats`)
	lines := strings.Split(out, "\n")
	if len(lines) < 5 || lines[0] != "Flags: X - DISABLED; R - RUNNING" ||
		!strings.HasPrefix(lines[1], "Columns: NAME, RX-BYTE, TX-BYTE, RX-PACKET, TX-PACKET, RX-DROP, TX-DROP, PROTOCOL-DROP, NO-ROUTE-DROP") {
		t.Fatalf("print stats:\n%s", out)
	}
	if f := strings.Fields(lines[3]); len(f) < 4 || f[0] != "0" || f[1] != "R" || f[2] != "gre1" || f[3] != "1110" || f[4] != "1111" {
		t.Errorf("print stats row 0: %q\n%s", lines[3], out)
	}
	if f := strings.Fields(lines[4]); len(f) < 4 || f[1] != "X" || f[2] != "gre2" || f[3] != "10" {
		t.Errorf("print stats row 1: %q\n%s", lines[4], out)
	}
	if strings.Contains(out, "remote-address") || strings.Contains(out, "REMOTE-ADDRESS") {
		t.Errorf("print stats shows configuration:\n%s", out)
	}

	// The configuration forms leave the counters to print stats.
	for _, cmd := range []string{`/interface gre print`, `/interface gre print detail`, `/interface gre print terse`, `/interface eoip print`} {
		if out := mustRun(t, in, c, cmd); strings.Contains(out, "rx-byte") || strings.Contains(out, "RX-BYTE") || strings.Contains(out, "malformed-drop") {
			t.Errorf("%s shows counters:\n%s", cmd, out)
		}
	}
	// ... while get, where and as-value still read them.
	if got := mustRun(t, in, c, `:put [/interface gre get gre1 tx-byte]`); got != "1111\n" {
		t.Errorf("get tx-byte: %q", got)
	}
	if got := mustRun(t, in, c, `:put [/interface gre print count-only where rx-byte>1000]`); got != "1\n" {
		t.Errorf("where rx-byte: %q", got)
	}

	// EoIP prints in detail form; its stats are still a table.
	out = mustRun(t, in, c, `/interface eoip print stats where name=eoip-remote`)
	if !strings.Contains(out, "Columns: NAME, RX-BYTE,") || !strings.Contains(out, "eoip-remote 110 ") {
		t.Errorf("eoip print stats:\n%s", out)
	}
	// stats detail: the same counters, one item per block.
	out = mustRun(t, in, c, `/interface gre print stats detail where name=gre1`)
	if !strings.Contains(out, `name="gre1" rx-byte=1110 tx-byte=1111`) || strings.Contains(out, "remote-address") {
		t.Errorf("print stats detail:\n%s", out)
	}
	// A menu without counters prints as usual.
	if out := mustRun(t, in, c, `/system script print stats`); strings.Contains(out, "RX-BYTE") {
		t.Errorf("/system script print stats:\n%s", out)
	}
}
