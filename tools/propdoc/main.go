// Command propdoc writes docs/properties.md, the table of every menu's properties and
// their state, from the menu declarations. Run from the repository root:
//
//	go run ./tools/propdoc
package main

import (
	"fmt"
	"os"

	"github.com/routerd/routerd/control/menu"
)

func main() {
	out := "docs/properties.md"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, []byte(menu.PropertiesTable(menu.Default())), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
