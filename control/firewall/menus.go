package firewall

import "github.com/routerd/routerd/control/menu"

// The menu trees the firewall engine applies (its registration in cmd/routerd/engines.go
// names them from here).
const (
	Root4 = menu.Firewall4Path
	Root6 = menu.Firewall6Path
)
