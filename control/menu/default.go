package menu

// Default returns the tree of every menu routerd knows, in export order: a menu comes
// after the menus its references name, so an export imports back in one pass.
func Default() *Tree {
	var all []*Menu
	for _, ms := range [][]*Menu{
		systemMenus(),
		serviceMenus(),
		tunnelMenus(),
		ipsecMenus(),
		tftpMenus(),
		ptpMenus(),
	} {
		all = append(all, ms...)
	}
	return NewTree(all...)
}
