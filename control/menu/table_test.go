package menu

import (
	"os"
	"testing"
)

// TestPropertiesTableFresh fails when docs/properties.md differs from what the
// declarations generate: a property added without regenerating the table.
func TestPropertiesTableFresh(t *testing.T) {
	want := PropertiesTable(Default())
	got, err := os.ReadFile("../../docs/properties.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("docs/properties.md is stale: run `go run ./tools/propdoc` from the repository root")
	}
}

// TestNoEffectNotReadOnly: a stored-only property must be writable (an export sets it).
func TestNoEffectNotReadOnly(t *testing.T) {
	for _, m := range Default().All() {
		for _, p := range m.Props {
			if p.NoEffect != "" && (p.ReadOnly || p.Hidden) {
				t.Errorf("%s %s: NoEffect on a read-only or hidden property", m.Path, p.Name)
			}
			if p.Unsupported != "" && (p.ReadOnly || p.Hidden || p.NoEffect != "") {
				t.Errorf("%s %s: Unsupported on a read-only, hidden or stored-only property", m.Path, p.Name)
			}
		}
	}
}

// TestCelsius: sfp-shutdown-temperature as RouterOS 7 (95C) and 6 (95) write it.
func TestCelsius(t *testing.T) {
	for in, want := range map[string]string{"95C": "95C", "95": "95C", "0C": "0C"} {
		if got, err := (celsius{}).Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "C", "201C", "95F", "-1C", "9 5C"} {
		if _, err := (celsius{}).Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
