package ipsec

// Root is the menu tree the IPsec engine applies (its registration in
// cmd/routerd/engines.go names it from here).
const Root = "/ip/ipsec"
