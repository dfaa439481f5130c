package menu

// Default returns the tree of every menu routerd knows, in export order: a menu comes
// after the menus its references name, so an export imports back in one pass.
func Default() *Tree { return NewTree(declarations()...) }

// declarations are every menu declaration in that order.
func declarations() []*Menu {
	var all []*Menu
	for _, ms := range [][]*Menu{
		interfaceMenus(),
		systemMenus(),
		serviceMenus(),
		tunnelMenus(),
		// Routes name routing tables.
		routingMenus(),
		// Addresses and routes name links, tunnels among them; IPsec refers to addresses.
		ipMenus(),
		ipSettingsMenus(),
		// Firewall rules name interfaces and lists; policy routing tables come before routes use them.
		firewallMenus(),
		// IPsec identities name certificates.
		certificateMenus(),
		ipsecMenus(),
		tftpMenus(),
		// /radius and /user-manager name no other menu.
		radiusMenus(),
		ptpMenus(),
		adminMenus(),
		loggingMenus(),
		exampleMenus(),
	} {
		all = append(all, ms...)
	}
	return all
}
