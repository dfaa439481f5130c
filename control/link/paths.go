package link

// Menu paths other packages name (the RouterOS 6 migrations, the firewall's interface
// lists), spelled once in engine.go.
const (
	EtherPath = etherPath
	ListPath  = listPath
)
