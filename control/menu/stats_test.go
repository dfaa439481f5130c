package menu

import "testing"

// TestStatsColumns: every column of a stats form is a read-only property of its menu
// (counters are written by engines only), and /interface and the tunnel menus have one.
func TestStatsColumns(t *testing.T) {
	tree, _ := declTree(t)
	for _, m := range tree.All() {
		seen := map[string]bool{}
		for _, k := range m.Stats {
			p, ok := m.Prop(k)
			switch {
			case !ok:
				t.Errorf("%s: stats column %s is not a property", m.Path, k)
			case !p.ReadOnly:
				t.Errorf("%s: stats column %s is settable", m.Path, k)
			case seen[k]:
				t.Errorf("%s: stats column %s twice", m.Path, k)
			}
			seen[k] = true
		}
	}
	for _, path := range []string{"/interface", "/interface/ethernet", "/interface/gre", "/interface/eoip", "/interface/ipip", "/interface/6to4"} {
		if len(declMenu(t, path).Stats) == 0 {
			t.Errorf("%s: no stats columns", path)
		}
	}
}
