package ipsec

import "github.com/routerd/routerd/control/menu"

// Root is the menu tree the IPsec engine applies (its registration in
// cmd/routerd/engines.go names it from here).
const Root = menu.IPsecPath
