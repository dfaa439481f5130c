package firewall

import (
	"errors"
	"maps"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// decodeReflect is decodeItem as engine.Decode alone gives it: the struct decoded, its
// non-empty fields read back by property name.
func decodeReflect(m *menu.Menu, v6 bool, table string, it store.Item) (map[string]string, error) {
	dst := ruleExample(v6, table)
	if err := engine.Decode(m, it, dst); err != nil {
		return nil, err
	}
	rv := reflect.ValueOf(dst).Elem()
	out := map[string]string{}
	for _, f := range stringFields(rv.Type()) {
		if s := rv.FieldByIndex(f.index).String(); s != "" {
			out[f.prop] = s
		}
	}
	return out, nil
}

// TestDecodeItemSchema: decodeItem's schema table decodes every rule menu's items as
// engine.Decode does: defaults filled in, the item's own values over them, properties
// set empty left out, properties the struct does not name (read-only counters, ones
// of other tables) ignored, the schema's unsupported properties refused with its error.
func TestDecodeItemSchema(t *testing.T) {
	tree := menu.Default()
	rnd := rand.New(rand.NewPCG(1, 2))
	for _, v6 := range []bool{false, true} {
		for _, table := range menu.FirewallTables {
			m, ok := tree.Get(rulePath(v6, table))
			if !ok {
				t.Fatalf("no menu %s", rulePath(v6, table))
			}
			var names []string
			unsupported := 0
			for _, p := range m.Props {
				names = append(names, p.Name)
				if p.Unsupported != "" {
					unsupported++
				}
			}
			names = append(names, "no-such-property", "bytes", "packets")
			values := []string{"", "yes", "no", "accept", "10.0.0.0/8", "!tcp", "forward", "0"}
			refusals := 0
			for i := 0; i < 3000; i++ {
				props := map[string]string{}
				for n := rnd.IntN(8); n > 0; n-- {
					props[names[rnd.IntN(len(names))]] = values[rnd.IntN(len(values))]
				}
				it := store.Item{ID: uint64(i + 1), Props: props}
				got, gerr := decodeItem(m, v6, table, it)
				want, werr := decodeReflect(m, v6, table, it)
				if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
					t.Fatalf("%s %v: error %v, engine.Decode's %v", m.Path, props, gerr, werr)
				}
				if gerr != nil {
					if !errors.Is(gerr, engine.ErrUnsupported) {
						t.Fatalf("%s %v: %v is not ErrUnsupported", m.Path, props, gerr)
					}
					refusals++
					continue
				}
				if !maps.Equal(got, want) {
					t.Fatalf("%s %v:\n got %v\nwant %v", m.Path, props, got, want)
				}
			}
			if unsupported > 0 && refusals == 0 {
				t.Errorf("%s: no item set an unsupported property", m.Path)
			}
		}
	}
}
