package api

import (
	"reflect"
	"testing"

	"github.com/routerd/routerd/control"
)

// TestPrintStats: =stats= gives the id, the name and the menu's counters in its order,
// as the console's print stats does; a plain print carries the counters among the
// other properties, as RouterOS's API does.
func TestPrintStats(t *testing.T) {
	ex := newExecutor(t)
	m, _ := ex.Tree.Get("/interface/gre")
	call(t, ex, "/interface/gre/add", "=name=gre1", "=remote-address=10.0.0.2")
	props := map[string]string{}
	for _, k := range m.Stats {
		props[k] = "7"
	}
	props["rx-byte"] = "1500"
	ex.State.Set("/interface/gre", 1, control.ItemState{Running: true, Props: props})

	got := call(t, ex, "/interface/gre/print", "=stats=")
	want := []string{"!re", "=.id=*1", "=name=gre1", "=rx-byte=1500"}
	for _, k := range m.Stats[1:] {
		want = append(want, "="+k+"=7")
	}
	if len(got) != 2 || !reflect.DeepEqual(got[0], want) {
		t.Fatalf("print =stats=:\n got %q\nwant %q", got, want)
	}
	// librouteros sends flags with a value.
	if got2 := call(t, ex, "/interface/gre/print", "=stats=yes"); !reflect.DeepEqual(got2, got) {
		t.Fatalf("print =stats=yes: %q", got2)
	}
	got = call(t, ex, "/interface/gre/print", "=stats=", "?rx-byte=1500", "=.proplist=name,rx-byte")
	if w := [][]string{{"!re", "=name=gre1", "=rx-byte=1500"}, {"!done"}}; !reflect.DeepEqual(got, w) {
		t.Fatalf("print =stats= with .proplist: %q", got)
	}
	got = call(t, ex, "/interface/gre/print")
	has := map[string]bool{}
	for _, w := range got[0] {
		has[w] = true
	}
	for _, w := range []string{"=rx-byte=1500", "=remote-address=10.0.0.2", "=running=true"} {
		if !has[w] {
			t.Errorf("plain print lacks %s: %q", w, got[0])
		}
	}
}
