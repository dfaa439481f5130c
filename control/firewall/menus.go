package firewall

// The menu trees the firewall engine applies (its registration in cmd/routerd/engines.go
// names them from here).
const (
	Root4 = "/ip/firewall"
	Root6 = "/ipv6/firewall"
)
