package menu

import (
	"fmt"
	"strings"
)

// PropertiesTable renders docs/properties.md: every menu of t with each property, its
// value type, default and state (applied, stored only and why, read-only). It is
// generated from the declarations (tools/propdoc), so it cannot drift from them; a test
// fails when the committed file is stale.
func PropertiesTable(t *Tree) string {
	var b strings.Builder
	b.WriteString("# Properties\n\n")
	b.WriteString("Generated from the menu declarations (control/menu) by `go run ./tools/propdoc`;\n")
	b.WriteString("`go test ./control/menu` fails when this file is stale.\n\n")
	b.WriteString("State: *applied* — routerd acts on the value (through the menu's engine);\n")
	b.WriteString("*stored only* — accepted with RouterOS's syntax, stored, exported and printed, with a\n")
	b.WriteString("status saying it has no effect here, for the reason given; *not supported* — accepted,\n")
	b.WriteString("stored and exported, but an item that sets it is not applied and shows invalid with the\n")
	b.WriteString("reason given; *read-only* — set by routerd, refused in add and set as RouterOS refuses\n")
	b.WriteString("it. Menus marked *status* are runtime lists.\n")
	for _, m := range t.All() {
		if m.Path == "" || (m.Kind == Dir && len(m.Props) == 0) {
			continue
		}
		kind := map[Kind]string{List: "list", Single: "single", Fixed: "fixed", Dir: "dir", Status: "status"}[m.Kind]
		fmt.Fprintf(&b, "\n## %s (%s)\n\n", Console(m.Path), kind)
		if m.Desc != "" {
			b.WriteString(m.Desc + "\n\n")
		}
		if len(m.Props) == 0 {
			b.WriteString("No properties.\n")
			continue
		}
		b.WriteString("| Property | Type | Default | State |\n|---|---|---|---|\n")
		for i := range m.Props {
			p := &m.Props[i]
			typ := p.Type.Name()
			if p.Auto {
				typ = "auto | " + typ
			}
			state := p.Effect()
			switch {
			case p.Hidden:
				state = "internal (flag or engine state, not a command argument)"
			case p.Sensitive && !p.ReadOnly:
				state += " (sensitive)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", p.Name, cell(typ), cell(p.Default), cell(state))
		}
	}
	return b.String()
}

// cell escapes a table cell.
func cell(s string) string {
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return strings.NewReplacer("|", `\|`, "\r", `\r`, "\n", `\n`).Replace(s)
}
