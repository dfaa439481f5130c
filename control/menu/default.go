package menu

// Default returns the tree of every menu routerd knows, in export order: a menu comes
// after the menus its references name, so an export imports back in one pass.
func Default() *Tree { return NewTree(declarations()...) }

// declarations are every menu declaration in that order.
func declarations() []*Menu {
	var all []*Menu
	// Links first (ports, bridges, tunnels), then the menus that name links: a tunnel
	// can be a VLAN's parent, a bridge port or a list member.
	links, linkUsers := splitBefore(interfaceMenus(), VLANPath)
	for _, ms := range [][]*Menu{
		links,
		tunnelMenus(),
		linkUsers,
		systemMenus(),
		serviceMenus(),
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

// splitBefore splits ms at the menu with path p.
func splitBefore(ms []*Menu, p string) ([]*Menu, []*Menu) {
	for i, m := range ms {
		if m.Path == p {
			return ms[:i], ms[i:]
		}
	}
	panic("menu: no " + p + " among the interface menus")
}
