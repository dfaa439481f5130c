// Package link applies the layer-2 menus to the kernel through netlink: /interface (every
// link, with settings kept by link name), /interface/ethernet, /interface/bridge with its
// ports, VLAN table and static multicast database entries (bridge mdb, spoken in raw
// rtnetlink), /interface/vlan, and interface lists (Members resolves them for other
// engines). It follows the kernel's links (and multicast database) through netlink
// subscriptions, so links created or deleted outside routerd appear, disappear and get
// their settings back when they return. Bridge multicast-router is the kernel's
// mcast_router and port horizon its port isolation (one horizon group per bridge).
//
// A link is dynamic (D, list dynamic) when routerd neither created it nor has an item for
// it. `/interface set` on a link that a menu creates (a bridge, VLAN or tunnel) writes that
// menu's item, so export carries the setting on the line that creates the link.
//
// Names: RouterOS interface names may be longer than a Linux link name (15 bytes) and
// may hold characters Linux refuses (`ether1 - WAN`, `vlan10/office`, `sfp:1`). The link
// engine owns the map between the two (names.go), and the map is the source of truth:
// the kernel name is the RouterOS name when the kernel takes it, else a stable short name
// derived from it (KernelName); when two names derive the same, the later one moves to
// the next candidate, persisted in the store. Where the kernel takes it the RouterOS name
// is also the link's alternative name (IFLA_ALT_IFNAME), so `ip link show
// ether2-master-local` works. Other engines get the map as *Names (engine.Lookup) and
// use Kernel where a name goes to the kernel (nftables iifname, SO_BINDTODEVICE, sysctl
// paths, a link's name) and Of/RouterOS where a kernel name is shown.
//
// Ownership: links routerd creates (bridges, VLANs) carry the alias "routerd"; only those
// are deleted when their item goes, and a bridge port is released only from a bridge
// routerd owns. MDB port entries carry rtnetlink protocol 0xc4; host entries (ports=the
// bridge itself) carry none and are removed only when routerd added or adopted them.
//
// A bridge is created with its MAC address (bridgeMAC): admin-mac with auto-mac=no, else
// its first configured port's, else one derived from its name; so its IPv6 link-local
// address, which the kernel derives when the bridge goes up, is the same at every start.
//
// Before any engine runs (the firewall's Prearm at a cold start), Boot gives the kernel
// names and the interface lists' members from the stored configuration alone: a member
// routerd has configuration for counts as present though its link is not made yet.
package link
