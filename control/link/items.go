package link

import (
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// The typed items of the engine's menus, decoded once per pass through the menu schema
// (engine.Decode: defaults filled in). The rows of /interface and /interface ethernet
// merge the stored items (configuration kept by link name) with the kernel's links, so
// those read the stored items too.

// itemID is the store id every typed item carries.
type itemID struct{ ID uint64 }

func (i *itemID) setID(id uint64) { i.ID = id }

// ifaceItem is the configuration routerd keeps for a link it did not create.
type ifaceItem struct {
	itemID
	Name     string `prop:"name"`
	MTU      string `prop:"mtu"` // empty: the link's own
	Disabled bool   `prop:"disabled"`
}

// etherItem is one /interface ethernet item: a port, renamed from its default-name.
type etherItem struct {
	itemID
	Name        string `prop:"name"`
	DefaultName string `prop:"default-name"`
	OrigMAC     string `prop:"orig-mac-address"`
	MAC         string `prop:"mac-address"`
	MTU         string `prop:"mtu"`
	ARP         string `prop:"arp"`
	ARPTimeout  string `prop:"arp-timeout"`
	Disabled    bool   `prop:"disabled"`
}

type bridgeItem struct {
	itemID
	Name            string `prop:"name"`
	MTU             string `prop:"mtu"` // auto or a number
	AutoMAC         bool   `prop:"auto-mac"`
	AdminMAC        string `prop:"admin-mac"`
	VlanFiltering   bool   `prop:"vlan-filtering"`
	PVID            int    `prop:"pvid"`
	IGMPSnooping    bool   `prop:"igmp-snooping"`
	MulticastRouter string `prop:"multicast-router"`
	ProtocolMode    string `prop:"protocol-mode"`
	ForwardDelay    string `prop:"forward-delay"`
	MaxMessageAge   string `prop:"max-message-age"`
	Priority        int    `prop:"priority"`
	ARP             string `prop:"arp"`
	ARPTimeout      string `prop:"arp-timeout"`
	// the options of bridgeOpts
	AgeingTime            string `prop:"ageing-time"`
	ForwardReserved       bool   `prop:"forward-reserved-addresses"`
	MulticastQuerier      bool   `prop:"multicast-querier"`
	LastMemberQueryCount  string `prop:"last-member-query-count"`
	StartupQueryCount     string `prop:"startup-query-count"`
	LastMemberInterval    string `prop:"last-member-interval"`
	MembershipInterval    string `prop:"membership-interval"`
	QuerierInterval       string `prop:"querier-interval"`
	QueryInterval         string `prop:"query-interval"`
	QueryResponseInterval string `prop:"query-response-interval"`
	StartupQueryInterval  string `prop:"startup-query-interval"`
	IGMPVersion           string `prop:"igmp-version"`
	MLDVersion            string `prop:"mld-version"`
	MaxLearned            string `prop:"max-learned-entries"`
	Disabled              bool   `prop:"disabled"`
}

type vlanItem struct {
	itemID
	Name       string `prop:"name"`
	MTU        int    `prop:"mtu"`
	VlanID     int    `prop:"vlan-id"`
	Interface  string `prop:"interface"`
	ARP        string `prop:"arp"`
	ARPTimeout string `prop:"arp-timeout"`
	Disabled   bool   `prop:"disabled"`
}

type portItem struct {
	itemID
	Interface  string `prop:"interface"`
	Bridge     string `prop:"bridge"`
	PVID       int    `prop:"pvid"`
	FrameTypes string `prop:"frame-types"`
	Horizon    string `prop:"horizon"` // none or a number
	PathCost   int    `prop:"path-cost"`
	Priority   int    `prop:"priority"`
	Disabled   bool   `prop:"disabled"`
	// list is the interface list a port item names whose member this port is (expandPorts);
	// "" for an item that names a link.
	list string
}

type bridgeVlanItem struct {
	itemID
	Bridge   string   `prop:"bridge"`
	VlanIDs  string   `prop:"vlan-ids"` // ids and ranges, parseVids
	Tagged   []string `prop:"tagged"`
	Untagged []string `prop:"untagged"`
	Disabled bool     `prop:"disabled"`
}

type mdbItem struct {
	itemID
	Group    string   `prop:"group"`
	Bridge   string   `prop:"bridge"`
	Ports    []string `prop:"ports"`
	VID      string   `prop:"vid"`
	Disabled bool     `prop:"disabled"`
}

type listItem struct {
	itemID
	Name    string   `prop:"name"`
	Include []string `prop:"include"`
	Exclude []string `prop:"exclude"`
}

type memberItem struct {
	itemID
	List      string `prop:"list"`
	Interface string `prop:"interface"`
	Disabled  bool   `prop:"disabled"`
}

// TypedItems names the structs the menus' items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{IfacePath: ifaceItem{}, etherPath: etherItem{}, bridgePath: bridgeItem{}, vlanPath: vlanItem{}, portPath: portItem{},
		bridgeVlanPath: bridgeVlanItem{}, mdbPath: mdbItem{}, listPath: listItem{}, listMemberPath: memberItem{}}
}

// decodeAll decodes items of menu m; an item that does not decode is left out with the
// reason in bad (a store written by an older routerd).
func decodeAll[T any, PT interface {
	*T
	setID(uint64)
}](m *menu.Menu, items []store.Item, bad map[uint64]string) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		var v T
		if err := engine.Decode(m, it, &v); err != nil {
			bad[it.ID] = err.Error()
			continue
		}
		PT(&v).setID(it.ID)
		out = append(out, v)
	}
	return out
}

// decodeMenu decodes the stored items of the menu at path (raw, by path); those that do
// not decode go to undecodable[path].
func decodeMenu[T any, PT interface {
	*T
	setID(uint64)
}](tree *menu.Tree, path string, raw map[string][]store.Item, undecodable map[string]map[uint64]string) []T {
	m, _ := tree.Get(path)
	undecodable[path] = map[uint64]string{}
	return decodeAll[T, PT](m, raw[path], undecodable[path])
}
