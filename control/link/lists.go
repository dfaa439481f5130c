package link

import (
	"fmt"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// builtinLists are the lists RouterOS has on every device; their members are computed
// from the system's links, and members cannot be added to them.
var builtinLists = []string{"all", "none", "dynamic", "static"}

func isBuiltinList(name string) bool { return slices.Contains(builtinLists, name) }

// ifInfo is what list resolution needs to know of a link.
type ifInfo struct {
	name   string
	static bool
	kind   string // IfaceKind's words: ethernet, vlan (else "")
}

// IfaceKinds are the values of the firewall's in-interface and out-interface that name
// every interface of a kind, as on RouterOS; Members resolves them like lists:
// all-ethernet the ports /interface ethernet print lists (isPort: never a tunnel, whose
// link is a veth too), all-vlan the VLAN links. No link here is PPP or wireless: those
// two have no members.
var IfaceKinds = []string{"all-ethernet", "all-vlan", "all-ppp", "all-wireless"}

// lists is one consistent view of the interface lists and the system's links.
type lists struct {
	byName  map[string]listItem
	members map[string][]string // list name → interfaces of its enabled members
	links   []ifInfo
}

func newLists(listItems []listItem, memberItems []memberItem, links []ifInfo) *lists {
	l := &lists{byName: map[string]listItem{}, members: map[string][]string{}, links: links}
	for _, it := range listItems {
		l.byName[it.Name] = it
	}
	for _, it := range memberItems {
		if !it.Disabled {
			l.members[it.List] = append(l.members[it.List], it.Interface)
		}
	}
	return l
}

// resolve returns the present interfaces of list: its members, those of the lists it
// includes, less those of the lists it excludes. seen breaks include loops.
func (l *lists) resolve(list string, seen map[string]bool) map[string]bool {
	out := map[string]bool{}
	if seen[list] {
		return out
	}
	seen[list] = true
	defer delete(seen, list)
	switch list {
	case "all", "dynamic", "static":
		for _, li := range l.links {
			if list == "all" || li.static == (list == "static") {
				out[li.name] = true
			}
		}
		return out
	case "none", "all-ppp", "all-wireless":
		return out
	case "all-ethernet", "all-vlan":
		for _, li := range l.links {
			if "all-"+li.kind == list {
				out[li.name] = true
			}
		}
		return out
	}
	it, ok := l.byName[list]
	if !ok {
		return out
	}
	present := map[string]bool{}
	for _, li := range l.links {
		present[li.name] = true
	}
	for _, n := range l.members[list] {
		if present[n] {
			out[n] = true
		}
	}
	for _, inc := range it.Include {
		for n := range l.resolve(inc, seen) {
			out[n] = true
		}
	}
	for _, exc := range it.Exclude {
		for n := range l.resolve(exc, seen) {
			delete(out, n)
		}
	}
	return out
}

// ListMembers resolves an interface list to the names of its member interfaces; the link
// engine offers its Members as one (engine.Lookup[link.ListMembers]). An error (the
// configuration or the links cannot be read) leaves the members unknown: the caller
// must not act on none.
type ListMembers func(list string) ([]string, error)

// Members returns the names of the interfaces in list, sorted: the links of the system
// that are members (directly or through include=, less exclude=), for IfaceKinds the
// links of that kind, or for the built-in lists all, dynamic and static the links of that kind (dynamicLink, the rule behind the
// D flag of /interface print). A member whose link does not exist is left out, so callers
// resolve again when links come and go.
func (e *Engine) Members(list string) ([]string, error) { return e.members(list, false) }

// members is Members; with configured, an interface routerd has configuration for counts
// as present though its link does not exist yet (Boot: at a cold start routerd's bridges
// and tunnels are made after the firewall is loaded, and nftables matches them by name).
func (e *Engine) members(list string, configured bool) ([]string, error) {
	ex := e.ex
	var listItems, memberItems []store.Item
	var names map[string]bool
	err := ex.Store.View(func(tx *store.Tx) error {
		var err error
		if listItems, err = tx.List(listPath); err != nil {
			return err
		}
		if memberItems, err = tx.List(listMemberPath); err != nil {
			return err
		}
		names, err = configuredNames(ex, tx)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading interface lists: %w", err)
	}
	ls, err := e.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("interface list %s: listing links: %w", list, err)
	}
	lm, _ := ex.Tree.Get(listPath)
	mm, _ := ex.Tree.Get(listMemberPath)
	bad := map[uint64]string{} // shown by the engine's pass; a list resolves without them
	links := classify(ls, names, e.hiddenLink, e.portIn(ls), e.names)
	if configured {
		have := map[string]bool{}
		for _, li := range links {
			have[li.name] = true
		}
		for n := range names {
			if !have[n] {
				links = append(links, ifInfo{name: n, static: true})
			}
		}
	}
	set := newLists(decodeAll[listItem](lm, listItems, bad), decodeAll[memberItem](mm, memberItems, bad),
		links).resolve(list, map[string]bool{})
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// configuredNames returns the names of the links routerd has configuration for: /interface
// items (settings kept by link name) and the items of the menus under /interface that
// create links (bridges, VLANs, tunnels).
func configuredNames(ex *control.Executor, tx *store.Tx) (map[string]bool, error) {
	out := map[string]bool{}
	for _, m := range ex.Tree.All() {
		if (m.Path != IfacePath && !strings.HasPrefix(m.Path, "/interface/")) || m.NameProp() != "name" ||
			strings.HasPrefix(m.Path, listPath) {
			continue
		}
		items, err := tx.List(m.Path)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			out[it.Props["name"]] = true
		}
	}
	return out, nil
}

// dynamicLink reports whether a link is dynamic (D in /interface print, member of the
// built-in list dynamic): routerd did not create it and has no configuration for it.
// Physical devices and the loopback are the box's own ports and static, as RouterOS shows
// its ethernet ports.
func dynamicLink(l netlink.Link, configured map[string]bool, names *Names) bool {
	return l.Type() != "device" && !owned(l) && !configured[names.Of(l.Attrs())]
}

// classify names the links for list resolution by their RouterOS names (the map's, so a
// name the kernel cannot carry shows as configured, not as its kernel name); port tells
// the Ethernet ports (all-ethernet) among them.
func classify(ls []netlink.Link, configured map[string]bool, hidden func(string) bool, port func(netlink.Link) bool, names *Names) []ifInfo {
	out := make([]ifInfo, 0, len(ls))
	for _, l := range ls {
		if hidden(l.Attrs().Name) {
			continue
		}
		k := ""
		switch {
		case port(l):
			k = "ethernet"
		case l.Type() == "vlan":
			k = "vlan"
		}
		out = append(out, ifInfo{name: names.Of(l.Attrs()), static: !dynamicLink(l, configured, names), kind: k})
	}
	return out
}

// applyLists reports the state of lists and members: built-in lists are flagged, and a
// member whose link does not exist is invalid (it takes effect when the link appears).
func (e *Engine) applyLists(cfg *config) {
	for _, it := range cfg.lists {
		var props map[string]string
		if isBuiltinList(it.Name) {
			props = map[string]string{"builtin": "yes"}
		}
		e.setState(listPath, it.ID, false, "", props)
	}
	links := e.links()
	for _, it := range cfg.members {
		reason := ""
		switch n := it.Interface; {
		case it.Disabled:
		case isBuiltinList(it.List):
			reason = "list " + it.List + " is built in; its members are computed"
		case links[n] == nil:
			reason = "interface " + n + " not present"
		}
		e.setState(listMemberPath, it.ID, false, reason, nil)
	}
}

// checkMember refuses members of built-in lists.
func checkMember(a control.Arg) error {
	if a.Name == "list" && isBuiltinList(a.Value) {
		return control.ArgError("cannot add members to built-in list %s", a.Value)
	}
	return nil
}
