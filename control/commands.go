package control

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

var printFlags = []string{"detail", "terse", "brief", "count-only", "as-value", "without-paging",
	"show-ids", "stats", "value-list", "show-sensitive", "follow", "follow-only", "once"}

func genericCommands() map[menu.Kind]map[string]command {
	items := CommandSpec{Positional: []string{"numbers"}}
	print := command{CommandSpec{Flags: printFlags, Args: []string{"proplist", "from", "interval", "file"}, Where: true, Policy: "read"}, cmdPrint}
	find := command{CommandSpec{Props: true, Args: []string{"default", "dynamic"}, Where: true, Policy: "read"}, cmdFind}
	export := command{CommandSpec{Flags: []string{"verbose", "terse", "compact", "show-sensitive", "hide-sensitive"},
		Args: []string{"file"}, Where: true, Policy: "read"}, cmdExport}
	get := command{CommandSpec{Positional: []string{"number", "value-name"}, Policy: "read"}, cmdGet}
	set := command{CommandSpec{Positional: []string{"numbers"}, Props: true}, cmdSet}
	unset := command{CommandSpec{Positional: []string{"numbers", "value-name"}}, cmdUnset}
	enable := command{items, cmdEnable}
	disable := command{items, cmdDisable}
	comment := command{CommandSpec{Positional: []string{"numbers", "comment"}}, cmdComment}
	return map[menu.Kind]map[string]command{
		menu.List: {
			"add":    {CommandSpec{Props: true, Args: []string{"copy-from", "place-before"}}, cmdAdd},
			"set":    set,
			"unset":  unset,
			"remove": {items, cmdRemove},
			"enable": enable, "disable": disable, "comment": comment,
			"print": print, "find": find, "get": get, "export": export,
			"move": {CommandSpec{Positional: []string{"numbers", "destination"}}, cmdMove},
		},
		menu.Fixed: {
			"set": set, "unset": unset, "enable": enable, "disable": disable, "comment": comment,
			"print": print, "find": find, "get": get, "export": export,
		},
		menu.Single: {
			"set":   {CommandSpec{Props: true}, cmdSet},
			"unset": {CommandSpec{Positional: []string{"value-name"}}, cmdUnset},
			"get":   {CommandSpec{Positional: []string{"value-name"}, Policy: "read"}, cmdGet},
			"print": print, "export": export,
		},
		menu.Status: {"print": print, "find": find, "get": get},
		menu.Dir:    {"export": export},
	}
}

// singleID is the id of the one item of a Single menu.
const singleID = 1

// writable validates the property arguments of add/set against the schema, returning the
// canonical values to write.
func (x *Executor) writable(tx *store.Tx, c *Call, skip map[string]bool) (map[string]string, []string, error) {
	vals := make(map[string]string, len(c.S.Args))
	var unset []string
	for _, a := range c.S.Args {
		if skip[a.Name] {
			continue
		}
		p, ok := c.Menu.Prop(a.Name)
		if !ok {
			return nil, nil, errf(CatArgument, "unknown parameter %s", a.Name)
		}
		if p.ReadOnly {
			return nil, nil, errf(CatArgument, "failure: %s is read-only", a.Name)
		}
		if p.V6 != "" {
			return nil, nil, errf(CatArgument, "failure: %s is a RouterOS 6 property (now %s)", a.Name, p.V6)
		}
		if a.Unset || emptyUnset(p, a.Value) {
			if p.Negatable {
				vals[a.Name] = "" // off, not the default
				continue
			}
			unset = append(unset, a.Name)
			continue
		}
		v, err := ParseValue(p, a.Value)
		if err != nil {
			return nil, nil, err
		}
		if p.Ref != "" && !(p.Auto && v == "auto") {
			if err := x.checkRef(tx, p, v); err != nil {
				return nil, nil, err
			}
		}
		vals[a.Name] = v
	}
	return vals, unset, nil
}

func (x *Executor) checkRef(tx *store.Tx, p *menu.Prop, v string) error {
	names := []string{v}
	if p.RefList {
		names = strings.Split(v, ",")
		if v == "" {
			names = nil
		}
	}
	target, ok := x.Tree.Get(p.Ref)
	if !ok {
		return nil
	}
	x.mu.RLock()
	has := x.names[target.Path]
	x.mu.RUnlock()
next:
	for _, n := range names {
		for _, e := range p.RefExtra {
			if n == e {
				continue next
			}
		}
		if _, ok := tx.ByName(target.Path, n); ok {
			continue
		}
		// Items an engine supplies (kernel links, a tunnel's dynamic peer) are valid
		// targets too, asked through ProvideNames: never by building the engine's rows
		// inside this transaction.
		if has != nil && n != "" && has(n) {
			continue
		}
		return errf(CatArgument, "input does not match any value of %s", p.Name)
	}
	return nil
}

// checkInterfaceName refuses an interface name another interface menu's item has (a
// GRE tunnel called like a bridge), in RouterOS's words: names are unique across
// /interface. The rows of a Fixed interface menu (the Ethernet ports) are the kernel's,
// not stored items: their engine answers for their names (ProvideNames), so a bridge or
// a tunnel cannot take a port's name either.
func (x *Executor) checkInterfaceName(tx *store.Tx, m *menu.Menu, name string) error {
	stored := false // an item of some interface menu has the name: its link is that item's
	var fixed []string
	for _, o := range x.Tree.All() {
		if !o.NamesInterface() {
			continue
		}
		if o.Kind == menu.Fixed {
			fixed = append(fixed, o.Path)
		}
		if _, ok := tx.ByName(o.Path, name); ok {
			if o != m {
				return errf(CatFailure, "failure: already have interface with such name")
			}
			stored = true
		}
	}
	for _, p := range fixed {
		if p != m.Path && !stored && x.HasName(p, name) {
			return errf(CatFailure, "failure: already have interface with such name")
		}
	}
	return nil
}

// checkUnique refuses a value of a Unique property that another item already has. Names
// are looked up in the store's name index; other unique properties need a scan and
// conflict only between enabled items, as RouterOS holds them (its exports carry a
// disabled bridge port beside the enabled one of the same interface): an item being
// enabled (vals sets disabled, merged is the whole item) is checked again.
func (x *Executor) checkUnique(tx *store.Tx, m *menu.Menu, self uint64, vals, merged map[string]string) error {
	if err := checkUniqueKey(tx, m, self, vals, merged); err != nil {
		return err
	}
	enabled := func(p map[string]string) bool { return !m.HasDisabled() || p["disabled"] != "yes" }
	var items []store.Item
	for _, p := range m.Props {
		if !p.Unique {
			continue // most properties: spare the lookup (an import checks every line)
		}
		v, ok := vals[p.Name]
		if p.Name == "name" {
			if !ok {
				continue
			}
			if id, ok := tx.ByName(m.Path, v); (ok && id != self) || slices.Contains(m.Reserved, v) {
				return errf(CatFailure, "failure: already have such %s", p.Name)
			}
			if m.NamesInterface() {
				if err := x.checkInterfaceName(tx, m, v); err != nil {
					return err
				}
			}
			continue
		}
		if !ok {
			if _, enabling := vals["disabled"]; !enabling {
				continue
			}
			if v, ok = merged[p.Name]; !ok {
				continue
			}
		}
		if !enabled(merged) {
			continue
		}
		if items == nil {
			var err error
			if items, err = tx.List(m.Path); err != nil {
				return err
			}
		}
		for _, it := range items {
			if it.ID != self && it.Props[p.Name] == v && enabled(it.Props) {
				return errf(CatFailure, "failure: already have such %s", p.Name)
			}
		}
	}
	return nil
}

// checkUniqueKey refuses an item whose Menu.UniqueKey values another item has, when
// they are new (add: self 0) or changed. It reads the store's index of them, never the
// whole menu: an import of a 100,000-line blocklist checks each line in constant time.
func checkUniqueKey(tx *store.Tx, m *menu.Menu, self uint64, vals, merged map[string]string) error {
	if len(m.UniqueKey) == 0 {
		return nil
	}
	changed := self == 0
	key := make([]string, len(m.UniqueKey))
	for i, p := range m.UniqueKey {
		if _, ok := vals[p]; ok {
			changed = true
		}
		key[i] = merged[p]
	}
	if !changed {
		return nil
	}
	ids, err := tx.Lookup(m.Path, m.UniqueKey, key)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id != self {
			return errf(CatFailure, "failure: already have such entry")
		}
	}
	return nil
}

// addArgs are add's own arguments, not properties (writable skips them).
var addArgs = map[string]bool{"copy-from": true, "place-before": true}

func cmdAdd(_ context.Context, c *Call) (*Reply, error) {
	var id uint64
	x := c.Ex
	err := x.Update(c.Sess, func(tx *store.Tx) ([]Change, error) {
		vals, _, err := x.writable(tx, c, addArgs)
		if err != nil {
			return nil, err
		}
		// Room for the arguments and what add fills in (a name, an owner): an import's
		// thousands of adds grow no map.
		props := make(map[string]string, len(vals)+2)
		if from, ok := c.S.Get("copy-from"); ok {
			ids, err := x.resolve(tx, c.Sess, c.Menu, from)
			if err != nil {
				return nil, err
			}
			if len(ids) != 1 {
				return nil, ErrNoSuchItem
			}
			src, err := tx.Get(c.Menu.Path, ids[0])
			if err != nil {
				return nil, err
			}
			for k, v := range src.Props {
				if k != builtinKey && k != "name" {
					props[k] = v
				}
			}
		}
		for k, v := range vals {
			props[k] = v
		}
		if np := c.Menu.NameProp(); np != "" && props[np] == "" && !c.Menu.NoDefaultName {
			props[np] = defaultName(tx, c.Menu)
		}
		if err := x.defaultRefs(tx, c.Menu, props); err != nil {
			return nil, err
		}
		if _, ok := c.Menu.Prop("owner"); ok && props["owner"] == "" && c.Sess.User != "" {
			props["owner"] = c.Sess.User
		}
		if err := x.own(tx, c, props, vals); err != nil {
			return nil, err
		}
		if err := missingRequired(c.Menu, props, true); err != nil {
			return nil, err
		}
		if err := x.checkUnique(tx, c.Menu, 0, props, props); err != nil {
			return nil, err
		}
		before, err := x.firstItem(tx, c, "place-before")
		if err != nil {
			return nil, err
		}
		if id, err = tx.NextID(c.Menu.Path); err != nil {
			return nil, err
		}
		if err := tx.Put(c.Menu.Path, store.Item{ID: id, Props: props}, before); err != nil {
			return nil, err
		}
		return []Change{{c.Menu.Path, id, "add"}}, nil
	})
	if err != nil {
		return nil, err
	}
	return &Reply{Menu: c.Menu, Ret: FormatID(id)}, nil
}

// defaultName names an item added without a name as RouterOS does: the menu's last word
// and the first free number (gre1, script1).
func defaultName(tx *store.Tx, m *menu.Menu) string {
	base := m.Path[strings.LastIndexByte(m.Path, '/')+1:]
	for n := 1; ; n++ {
		if s := base + strconv.Itoa(n); !taken(tx, m, s) {
			return s
		}
	}
}

func taken(tx *store.Tx, m *menu.Menu, name string) bool {
	_, ok := tx.ByName(m.Path, name)
	return ok
}

// firstItem resolves an item-reference argument such as place-before= or destination=
// to the first item it names; 0 when the argument is absent or empty.
func (x *Executor) firstItem(tx *store.Tx, c *Call, arg string) (uint64, error) {
	ref, ok := c.S.Get(arg)
	if !ok || ref == "" {
		return 0, nil
	}
	ids, err := x.resolve(tx, c.Sess, c.Menu, ref)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	return ids[0], nil
}

// targets resolves the numbers argument of a command (none for Single menus).
func (x *Executor) targets(tx *store.Tx, c *Call) ([]uint64, error) {
	if c.Menu.Kind == menu.Single {
		return []uint64{singleID}, nil
	}
	ref, ok := c.S.Get("numbers")
	if !ok {
		ref, ok = c.S.Get(".id")
	}
	if !ok {
		return nil, errf(CatMissing, "expected item id")
	}
	return x.resolve(tx, c.Sess, c.Menu, ref)
}

// modify applies fn to each target item and writes the results, after validating all.
func (x *Executor) modify(c *Call, skip map[string]bool, fn func(props, vals map[string]string, unset []string) error) error {
	return x.Update(c.Sess, func(tx *store.Tx) ([]Change, error) {
		vals, unset, err := x.writable(tx, c, skip)
		if err != nil {
			return nil, err
		}
		ids, err := x.targets(tx, c)
		if err != nil {
			// A number past routerd's built-in items (RouterOS has more): name= may
			// still name one.
			alt := builtinByName(tx, c, vals, []uint64{0})
			if alt[0] == 0 {
				return nil, err
			}
			ids = alt
		}
		ids = builtinByName(tx, c, vals, ids)
		var chs []Change
		var writes []store.Item
		for _, id := range ids {
			it, err := tx.Get(c.Menu.Path, id)
			if err == store.ErrNotFound && c.Menu.Kind == menu.Single {
				it, err = store.Item{ID: id, Props: map[string]string{}}, nil
			}
			if err != nil {
				return nil, err
			}
			old := it.Props[c.Menu.NameProp()]
			wasDisabled := it.Props["disabled"] == "yes"
			if err := fn(it.Props, vals, unset); err != nil {
				return nil, err
			}
			if err := x.own(tx, c, it.Props, vals); err != nil {
				return nil, err
			}
			if err := missingRequired(c.Menu, it.Props, false); err != nil {
				return nil, err // enabling an item that lacks what only a disabled one may
			}
			if len(ids) > 1 {
				if _, renamed := vals["name"]; renamed && c.Menu.NameProp() != "" {
					return nil, errf(CatFailure, "failure: already have such name")
				}
			}
			changed := vals
			if wasDisabled && it.Props["disabled"] != "yes" { // enable: its unique values count again
				changed = maps.Clone(vals)
				if changed == nil {
					changed = map[string]string{}
				}
				changed["disabled"] = "no"
			}
			if err := x.checkUnique(tx, c.Menu, id, changed, it.Props); err != nil {
				return nil, err
			}
			if err := x.defaultRefs(tx, c.Menu, it.Props); err != nil { // unset profile=...
				return nil, err
			}
			writes = append(writes, it)
			if np := c.Menu.NameProp(); np != "" && it.Props[np] != old {
				if IsBuiltin(it.Props) {
					rc, err := x.renameDefaultRefs(tx, c.Menu, old, it.Props[np])
					if err != nil {
						return nil, err
					}
					chs = append(chs, rc...)
				}
				rc, err := x.renameRefs(tx, c.Menu, old, it.Props[np])
				if err != nil {
					return nil, err
				}
				chs = append(chs, rc...)
				if c.Menu.NamesInterface() {
					rc, err := x.RenameIfaceRefs(tx, old, it.Props[np])
					if err != nil {
						return nil, err
					}
					chs = append(chs, rc...)
				}
				if c.Menu.Path == menu.InterfaceListPath {
					rc, err := renameListRefs(tx, old, it.Props[np])
					if err != nil {
						return nil, err
					}
					chs = append(chs, rc...)
				}
			}
		}
		for _, it := range writes {
			if err := tx.Put(c.Menu.Path, it, 0); err != nil {
				return nil, err
			}
			chs = append(chs, Change{c.Menu.Path, it.ID, "set"})
		}
		return chs, nil
	})
}

// referrers calls fn for every stored item that names the item called name of menu
// target in a reference property, with the position of that name in the property's
// value. fn returning stop=true ends the walk.
func (x *Executor) referrers(tx *store.Tx, target *menu.Menu, name string, fn func(m *menu.Menu, p *menu.Prop, it store.Item, parts []string, i int) (stop bool, err error)) error {
	for _, m := range x.Tree.All() {
		for pi := range m.Props {
			p := &m.Props[pi]
			if p.Ref != target.Path && p.LooseRef != target.Path {
				continue
			}
			items, err := tx.List(m.Path)
			if err != nil {
				return err
			}
			for _, it := range items {
				v, ok := it.Props[p.Name]
				if !ok {
					continue
				}
				parts := []string{v}
				if p.RefList {
					parts = strings.Split(v, ",")
				}
				for i := range parts {
					if parts[i] != name {
						continue
					}
					if stop, err := fn(m, p, it, parts, i); stop || err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// renameRefs keeps references by name pointing at an item that was renamed, as RouterOS
// (which refers by id internally) does.
func (x *Executor) renameRefs(tx *store.Tx, target *menu.Menu, from, to string) ([]Change, error) {
	var chs []Change
	err := x.referrers(tx, target, from, func(m *menu.Menu, p *menu.Prop, it store.Item, parts []string, i int) (bool, error) {
		parts[i] = to
		it.Props[p.Name] = strings.Join(parts, ",")
		chs = append(chs, Change{m.Path, it.ID, "set"})
		return false, tx.Put(m.Path, it, 0)
	})
	return chs, err
}

// builtinName is the current name of the built-in item of menu target declared as decl
// (its name when seeded; "" when target has no such built-in item or it is gone).
func builtinName(tx *store.Tx, target *menu.Menu, decl string) (string, error) {
	np := target.NameProp()
	if np == "" {
		return "", nil
	}
	for i, b := range target.Builtin {
		if b[np] != decl {
			continue
		}
		items, err := tx.List(target.Path)
		if err != nil {
			return "", err
		}
		for _, it := range items {
			if sameBuiltin(it.Props, target, i) {
				return it.Props[np], nil
			}
		}
	}
	return "", nil
}

// defaultRefs stores, in an item of m that leaves a reference property at its default,
// the current name of the built-in item that default names when that item was renamed:
// RouterOS's default profile, proposal and policy group stay the defaults whatever they
// are called (it refers by id), so a peer added without profile= after
// "/ip ipsec profile set default name=x" uses x, not a profile that no longer exists.
func (x *Executor) defaultRefs(tx *store.Tx, m *menu.Menu, props map[string]string) error {
	for _, p := range m.Props {
		if p.Ref == "" || p.RefList || p.Default == "" || props[p.Name] != "" {
			continue
		}
		target, ok := x.Tree.Get(p.Ref)
		if !ok {
			continue
		}
		if _, ok := tx.ByName(target.Path, p.Default); ok {
			continue // an item has the default's name
		}
		name, err := builtinName(tx, target, p.Default)
		if err != nil {
			return err
		}
		if name != "" && name != p.Default {
			props[p.Name] = name
		}
	}
	return nil
}

// renameDefaultRefs follows the rename of a built-in item of target (from, to) in the
// items that name it by leaving a reference property at its default, the built-in's
// declared name (defaultRefs).
func (x *Executor) renameDefaultRefs(tx *store.Tx, target *menu.Menu, from, to string) ([]Change, error) {
	var chs []Change
	for _, m := range x.Tree.All() {
		for _, p := range m.Props {
			if p.Ref != target.Path || p.RefList || p.Default != from {
				continue
			}
			items, err := tx.List(m.Path)
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if _, ok := it.Props[p.Name]; ok {
					continue
				}
				it.Props[p.Name] = to
				chs = append(chs, Change{m.Path, it.ID, "set"})
				if err := tx.Put(m.Path, it, 0); err != nil {
					return nil, err
				}
			}
		}
	}
	return chs, nil
}

func cmdSet(_ context.Context, c *Call) (*Reply, error) {
	err := c.Ex.modify(c, map[string]bool{"numbers": true, ".id": true}, func(props, vals map[string]string, unset []string) error {
		for k, v := range vals {
			props[k] = v
		}
		for _, k := range unset {
			delete(props, k)
		}
		return nil
	})
	return &Reply{Menu: c.Menu}, c.Ex.dynamicRef(c, err, "change")
}

func cmdUnset(_ context.Context, c *Call) (*Reply, error) {
	name, _ := c.S.Get("value-name")
	p, ok := c.Menu.Prop(name)
	if !ok || p.ReadOnly {
		return nil, errf(CatArgument, "input does not match any value of value-name")
	}
	if p.Required {
		return nil, errf(CatFailure, "failure: %s is required", name)
	}
	err := c.Ex.modify(c, map[string]bool{"numbers": true, ".id": true, "value-name": true}, func(props, _ map[string]string, _ []string) error {
		if p.Negatable {
			props[name] = "" // off, not the default
			return nil
		}
		delete(props, name)
		return nil
	})
	return &Reply{Menu: c.Menu}, c.Ex.dynamicRef(c, err, "change")
}

func setDisabled(c *Call, v string) (*Reply, error) {
	if !c.Menu.HasDisabled() {
		return nil, errf(CatMissing, "no such command")
	}
	err := c.Ex.modify(c, map[string]bool{"numbers": true, ".id": true}, func(props, _ map[string]string, _ []string) error {
		props["disabled"] = v
		return nil
	})
	return &Reply{Menu: c.Menu}, c.Ex.dynamicRef(c, err, "change")
}

func cmdEnable(_ context.Context, c *Call) (*Reply, error)  { return setDisabled(c, "no") }
func cmdDisable(_ context.Context, c *Call) (*Reply, error) { return setDisabled(c, "yes") }

func cmdComment(_ context.Context, c *Call) (*Reply, error) {
	text, _ := c.S.Get("comment")
	err := c.Ex.modify(c, map[string]bool{"numbers": true, ".id": true, "comment": true}, func(props, _ map[string]string, _ []string) error {
		if text == "" {
			delete(props, "comment")
		} else {
			props["comment"] = text
		}
		return nil
	})
	return &Reply{Menu: c.Menu}, err
}

func cmdRemove(_ context.Context, c *Call) (*Reply, error) {
	x := c.Ex
	err := x.Update(c.Sess, func(tx *store.Tx) ([]Change, error) {
		ids, err := x.targets(tx, c)
		if err != nil {
			return nil, err
		}
		var chs []Change
		for _, id := range ids {
			it, err := tx.Get(c.Menu.Path, id)
			if err != nil {
				return nil, err
			}
			if it.Props[builtinKey] != "" {
				return nil, errf(CatFailure, "failure: can not remove default %s", strings.TrimPrefix(c.Menu.Path, "/"))
			}
			if user, err := x.usedBy(tx, c.Menu, it); err != nil || user != "" {
				if err == nil {
					err = errf(CatFailure, "failure: %s is in use by %s", it.Props[c.Menu.NameProp()], user)
				}
				return nil, err
			}
			chs = append(chs, Change{c.Menu.Path, id, "remove"})
		}
		for _, ch := range chs {
			it, err := tx.Get(c.Menu.Path, ch.ID)
			if err != nil {
				return nil, err
			}
			if err := tx.Delete(c.Menu.Path, ch.ID); err != nil {
				return nil, err
			}
			refs := staleRefProps
			if c.Menu.Path == menu.InterfaceListPath {
				refs = staleListRefProps
			}
			if c.Menu.NamesInterface() || c.Menu.Path == menu.InterfaceListPath {
				stale, err := staleRefs(tx, it.Props["name"], ch.ID, refs)
				if err != nil {
					return nil, err
				}
				chs = append(chs, stale...)
			}
		}
		return chs, nil
	})
	return &Reply{Menu: c.Menu}, x.dynamicRef(c, err, "remove")
}

// staleRefs points the references to a removed interface (name, item id) at its id,
// `interface=*1A`, `in-interface=!*1A`, as RouterOS shows and exports them (it refers to
// interfaces by id): the addresses on it and the firewall rules matching it stay,
// invalid, and an export of them imports again (link.StaleRef), where the name of an
// interface that is gone was refused ("input does not match any value of interface")
// and a plain /import of the box's own export stopped there. A name alone would also
// follow a new interface given the old name.
//
// An interface list removed while firewall rules match it is pointed at the same way
// (in-interface-list=*2, staleListRefProps): the rule matched nothing, silently, and
// its export was refused at import.
func staleRefs(tx *store.Tx, name string, id uint64, refs []staleRef) ([]Change, error) {
	if name == "" {
		return nil, nil
	}
	var chs []Change
	ref := FormatID(id)
	for _, r := range refs {
		items, err := tx.List(r.path)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			changed := false
			for _, k := range r.props {
				v, ok := it.Props[k]
				if !ok {
					continue
				}
				neg := strings.HasPrefix(v, "!")
				if strings.TrimPrefix(v, "!") != name {
					continue
				}
				it.Props[k] = ref
				if neg {
					it.Props[k] = "!" + ref
				}
				changed = true
			}
			if !changed {
				continue
			}
			if err := tx.Put(r.path, it, 0); err != nil {
				return nil, err
			}
			chs = append(chs, Change{r.path, it.ID, "set"})
		}
	}
	return chs, nil
}

// IfaceRefProps are the properties that name interfaces (comma lists of them; the
// firewall's with an optional "!"), in any menu; gateway names one as ether1 or
// address%ether1.
var IfaceRefProps = map[string]bool{"interface": true, "tagged": true, "untagged": true, "ports": true,
	"in-interface": true, "out-interface": true, "in-bridge-port": true, "out-bridge-port": true}

// queueIfaceRefProps are the properties (by "menu prop") that name interfaces beside
// addresses in one comma list: a simple queue's target= (and dst=) by an interface.
var queueIfaceRefProps = map[string]bool{menu.SimpleQueuePath + " target": true, menu.SimpleQueuePath + " dst": true}

// RenameIfaceRefs renames interface from to to in every stored property that names it
// (IfaceRefProps, route gateways, a simple queue's target), as RouterOS, which refers
// to interfaces by id, shows them after a rename: the addresses on a renamed bridge or
// tunnel, its list memberships, the firewall rules matching it and the queues targeting
// it follow it, where they kept the old name (invalid addresses and queues, rules that
// matched nothing) and an export of them no longer imported.
func (x *Executor) RenameIfaceRefs(tx *store.Tx, from, to string) ([]Change, error) {
	if from == "" || from == to {
		return nil, nil
	}
	var chs []Change
	for _, m := range x.Tree.All() {
		if m.Path == menu.InterfacePath || m.Path == menu.EthernetPath || (m.Kind != menu.List && m.Kind != menu.Fixed) {
			continue
		}
		var props []string
		for _, p := range m.Props {
			if !p.ReadOnly && (IfaceRefProps[p.Name] || p.Name == "gateway" || queueIfaceRefProps[m.Path+" "+p.Name]) {
				props = append(props, p.Name)
			}
		}
		if len(props) == 0 {
			continue
		}
		items, err := tx.List(m.Path)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			changed := false
			for _, k := range props {
				v, ok := it.Props[k]
				if !ok {
					continue
				}
				parts := strings.Split(v, ",")
				for i, part := range parts {
					switch {
					case part == from:
						parts[i], changed = to, true
					case part == "!"+from:
						parts[i], changed = "!"+to, true
					case k == "gateway" && strings.HasSuffix(part, "%"+from):
						parts[i], changed = strings.TrimSuffix(part, from)+to, true
					}
				}
				it.Props[k] = strings.Join(parts, ",")
			}
			if changed {
				if err := tx.Put(m.Path, it, 0); err != nil {
					return nil, err
				}
				chs = append(chs, Change{m.Path, it.ID, "set"})
			}
		}
	}
	return chs, nil
}

// renameListRefs renames interface list from to to in the firewall rules matching it
// (staleListRefProps), negated ones too: they kept the old name, matched nothing and
// their export was refused at import.
func renameListRefs(tx *store.Tx, from, to string) ([]Change, error) {
	var chs []Change
	for _, r := range staleListRefProps {
		items, err := tx.List(r.path)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			changed := false
			for _, k := range r.props {
				switch it.Props[k] {
				case from:
					it.Props[k], changed = to, true
				case "!" + from:
					it.Props[k], changed = "!"+to, true
				}
			}
			if !changed {
				continue
			}
			if err := tx.Put(r.path, it, 0); err != nil {
				return nil, err
			}
			chs = append(chs, Change{r.path, it.ID, "set"})
		}
	}
	return chs, nil
}

// staleRef names the properties of one menu that staleRefs points at a removed item's
// id: each names one item (the firewall's with an optional "!").
type staleRef struct {
	path  string
	props []string
}

// staleRefProps are where an interface is named (staleRefs), staleListRefProps where
// an interface list is.
var staleRefProps, staleListRefProps = func() ([]staleRef, []staleRef) {
	ifaces := []staleRef{{menu.Address4Path, []string{"interface"}}, {menu.Address6Path, []string{"interface"}},
		{menu.BridgePortPath, []string{"interface"}}}
	var lists []staleRef
	for _, root := range []string{menu.Firewall4Path, menu.Firewall6Path} {
		for _, t := range menu.FirewallTables {
			ifaces = append(ifaces, staleRef{root + "/" + t, []string{"in-interface", "out-interface", "in-bridge-port", "out-bridge-port"}})
			lists = append(lists, staleRef{root + "/" + t, []string{"in-interface-list", "out-interface-list",
				"in-bridge-port-list", "out-bridge-port-list"}})
		}
	}
	return ifaces, lists
}()

// dynamicRef gives RouterOS's words for a command whose items include a row the menu's
// engine adds (flag D: a tunnel's ipsec-secret peer, identity and policy; the firewall's
// dynamic rules): such rows are not stored, so resolving them failed with "no such
// item", and, as in RouterOS, the whole command fails (the stored items in the list are
// not changed either). The engine's rows are read here, after the failed transaction,
// as sources must be. verb: change or remove.
func (x *Executor) dynamicRef(c *Call, err error, verb string) error {
	if !errors.Is(err, ErrNoSuchItem) || c.Menu.Kind != menu.List {
		return err
	}
	x.mu.RLock()
	src := x.sources[c.Menu.Path]
	x.mu.RUnlock()
	ref, ok := c.S.Get("numbers")
	if !ok {
		ref, ok = c.S.Get(".id")
	}
	if src == nil || !ok {
		return err
	}
	rows, rerr := src(context.Background(), c.Sess)
	if rerr != nil {
		return err
	}
	dyn, names := map[uint64]bool{}, map[string]bool{}
	np := c.Menu.NameProp()
	for _, r := range rows {
		if r.ID != 0 && strings.Contains(r.Flags, "D") {
			dyn[r.ID] = true
			if np != "" && r.Props[np] != "" {
				names[r.Props[np]] = true
			}
		}
	}
	nums := c.Sess.numbers(c.Menu.Path)
	for _, part := range strings.Split(ref, ",") {
		part = strings.TrimSpace(part)
		id, isID := ParseID(part)
		if !isID && isDigits(part) && nums != nil {
			if n, _ := strconv.Atoi(part); n < len(nums) {
				id, isID = nums[n], true
			}
		}
		if (isID && dyn[id]) || (!isID && names[part]) {
			return Failure("can not %s dynamic item", verb)
		}
	}
	return err
}

// usedBy names a menu holding an item that refers to it by name, so that removing it
// would leave a dangling reference.
func (x *Executor) usedBy(tx *store.Tx, target *menu.Menu, it store.Item) (string, error) {
	np := target.NameProp()
	if np == "" {
		return "", nil
	}
	user := ""
	err := x.referrers(tx, target, it.Props[np], func(m *menu.Menu, _ *menu.Prop, o store.Item, _ []string, _ int) (bool, error) {
		user = strings.ReplaceAll(strings.TrimPrefix(m.Path, "/"), "/", " ") + " " + FormatID(o.ID)
		return true, nil
	})
	return user, err
}

func cmdMove(_ context.Context, c *Call) (*Reply, error) {
	x := c.Ex
	err := x.Update(c.Sess, func(tx *store.Tx) ([]Change, error) {
		ids, err := x.targets(tx, c)
		if err != nil {
			return nil, err
		}
		before, err := x.firstItem(tx, c, "destination")
		if err != nil {
			return nil, err
		}
		var chs []Change
		for _, id := range ids {
			if err := tx.Move(c.Menu.Path, id, before); err != nil {
				return nil, err
			}
			chs = append(chs, Change{c.Menu.Path, id, "set"})
		}
		return chs, nil
	})
	return &Reply{Menu: c.Menu}, err
}

// Rows returns the rows of a menu (stored items, or a Status menu's source), unfiltered.
func (x *Executor) Rows(ctx context.Context, sess *Session, m *menu.Menu, showSensitive bool) ([]Row, error) {
	x.mu.RLock()
	src := x.sources[m.Path]
	x.mu.RUnlock()
	if m.Kind == menu.Status && src != nil {
		rows, err := src(ctx, sess)
		for i := range rows {
			rows[i].Menu = m
			hideSensitive(m, rows[i].Props, showSensitive)
		}
		return rows, err
	}
	// The source runs before the stored items are read: an engine may refresh the state
	// of its configured items there (counters of a configured link).
	var extra []Row
	if src != nil {
		var err error
		if extra, err = src(ctx, sess); err != nil {
			return nil, err
		}
	}
	var rows []Row
	err := x.View(sess, func(tx *store.Tx) error {
		if m.Kind == menu.Single {
			it, err := tx.Get(m.Path, singleID)
			if err == store.ErrNotFound {
				it, err = store.Item{ID: singleID, Props: map[string]string{}}, nil
			}
			if err != nil {
				return err
			}
			rows = []Row{x.Row(m, it, showSensitive)}
			return nil
		}
		// Row copies what it shows: the items need not be copies of their own.
		items, err := tx.ListShared(m.Path)
		if err != nil {
			return err
		}
		rows = make([]Row, len(items))
		for i, it := range items {
			rows[i] = x.Row(m, it, showSensitive)
		}
		return nil
	})
	if err == nil && src != nil {
		if m.Kind == menu.Single {
			// A Single menu with a source (system resource) shows the source's values.
			if len(extra) > 0 && len(rows) == 1 {
				for k, v := range extra[0].Props {
					rows[0].Props[k] = v
				}
			}
			return rows, nil
		}
		// A List menu's source adds dynamic items (flag D) after the configured ones, or
		// before them when they come first in effect (Row.First).
		var first []Row
		after := map[uint64][]Row{}
		for i := range extra {
			extra[i].Menu = m
			hideSensitive(m, extra[i].Props, showSensitive)
			switch {
			case extra[i].First:
				first = append(first, extra[i])
			case extra[i].After != 0:
				after[extra[i].After] = append(after[extra[i].After], extra[i])
			default:
				rows = append(rows, extra[i])
			}
		}
		if len(after) > 0 {
			out := make([]Row, 0, len(rows)+len(extra))
			for _, r := range rows {
				out = append(out, r)
				if r.ID != 0 {
					out = append(out, after[r.ID]...)
					delete(after, r.ID)
				}
			}
			for _, r := range extra {
				if _, gone := after[r.After]; gone && r.After != 0 {
					out = append(out, r) // its item is not listed: at the end
				}
			}
			rows = out
		}
		rows = append(first, rows...)
	}
	return rows, err
}

// hideSensitive takes from an engine's row what a stored item's row would not show: a
// source (installed-sa keys) hands over everything and print decides.
func hideSensitive(m *menu.Menu, props map[string]string, showSensitive bool) {
	for _, p := range m.Props {
		if p.Secret || (p.Sensitive && !showSensitive) {
			delete(props, p.Name)
		}
	}
}

// countOnly is print count-only of a List menu without a filter, counted without
// building a row: the stored items are counted by their keys (store.Tx.Count) and the
// engine's own rows (its Source) added, so an address list of 100,000 entries is not
// read, decoded and formatted to print one number. ok is false when c is not such a
// print (a where, an equality argument, from=): selected then builds the rows.
func (x *Executor) countOnly(ctx context.Context, c *Call) (n int, ok bool, err error) {
	if !c.S.Bool("count-only") || c.S.Filter != nil || c.Menu.Kind != menu.List {
		return 0, false, nil
	}
	for _, a := range c.S.Args {
		if a.Flag || a.Name == "proplist" {
			continue
		}
		if _, isProp := c.Menu.Prop(a.Name); !isProp && slices.Contains(printFlags, a.Name) {
			continue // a flag given a value (=count-only=)
		}
		return 0, false, nil
	}
	x.mu.RLock()
	src := x.sources[c.Menu.Path]
	x.mu.RUnlock()
	if src != nil {
		extra, err := src(ctx, c.Sess)
		if err != nil {
			return 0, true, err
		}
		n = len(extra)
	}
	err = x.View(c.Sess, func(tx *store.Tx) error {
		m, err := tx.Count(c.Menu.Path)
		n += m
		return err
	})
	// The print numbers stay those of the last print that showed them: this one shows none.
	return n, true, err
}

// selected returns the rows of c's menu that pass its filter and equality arguments. The
// filters see the sensitive properties the session may see (a where on secret= compares
// the real secret, not an empty string: a remove [find where secret=""] must not take
// every item); the rows returned carry them only with showSensitive.
func (x *Executor) selected(ctx context.Context, c *Call, showSensitive bool) ([]Row, error) {
	rows, err := x.Rows(ctx, c.Sess, c.Menu, c.Sess.ShowSensitive || showSensitive)
	if err != nil {
		return nil, err
	}

	if from, ok := c.S.Get("from"); ok && from != "" {
		var ids []uint64
		if err := x.View(c.Sess, func(tx *store.Tx) error {
			ids, err = x.resolve(tx, c.Sess, c.Menu, from)
			return err
		}); err != nil {
			return nil, err
		}
		byID := map[uint64]Row{}
		for _, r := range rows {
			byID[r.ID] = r
		}
		rows = rows[:0:0]
		for _, id := range ids {
			rows = append(rows, byID[id])
		}
	}
	out := rows[:0:0]
	for i := range rows {
		r := &rows[i]
		ok := true
		for _, a := range c.S.Args {
			if a.Flag || a.Name == "from" || a.Name == "proplist" || a.Name == "interval" || a.Name == "file" {
				continue
			}
			if _, isProp := c.Menu.Prop(a.Name); !isProp && slices.Contains(printFlags, a.Name) {
				continue // a flag given a value, as API clients send them (=stats=yes)
			}
			if effective(c.Menu, r, a.Name) != a.Value {
				ok = false
			}
			if p, isProp := c.Menu.Prop(a.Name); isProp && p.Sensitive && !c.Sess.ShowSensitive {
				ok = false // a value the session may not see selects nothing
			}
		}
		if ok && c.S.Filter != nil {
			if ok, err = c.S.Filter(r); err != nil {
				return nil, err
			}
		}
		if ok {
			out = append(out, *r)
		}
	}
	if !showSensitive {
		for i := range out {
			hideSensitive(c.Menu, out[i].Props, false)
		}
	}
	return out, nil
}

// effective is the value find and print compare an argument with: the row's, else the
// property's default, a yes/no property left unset reading as no (`find !disabled`).
func effective(m *menu.Menu, r *Row, name string) string {
	if v, _ := r.Get(name); v != "" {
		return v
	}
	p, ok := m.Prop(name)
	if !ok {
		return "no" // a flag (dynamic, default) the row does not carry
	}
	if p.Default == "" && value.IsBool(p.Type) {
		return "no"
	}
	return p.Default
}

func cmdPrint(ctx context.Context, c *Call) (*Reply, error) {
	if n, ok, err := c.Ex.countOnly(ctx, c); ok || err != nil {
		return &Reply{Menu: c.Menu, Ret: strconv.Itoa(n)}, err
	}
	rows, err := c.Ex.selected(ctx, c, c.S.Bool("show-sensitive") && c.Sess.ShowSensitive)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	if c.Menu.Kind != menu.Single {
		c.Sess.setNumbers(c.Menu.Path, ids)
	}
	if c.S.Bool("count-only") {
		return &Reply{Menu: c.Menu, Ret: strconv.Itoa(len(rows))}, nil
	}
	pl := c.S.Proplist
	if v, ok := c.S.Get("proplist"); ok {
		pl = strings.Split(v, ",")
	}
	if len(pl) == 0 && c.S.Bool("stats") && len(c.Menu.Stats) > 0 {
		pl = StatsKeys(c.Menu)
	}
	if len(pl) > 0 {
		for i := range rows {
			rows[i].Keys = pl
		}
	}
	if c.S.Emit != nil && c.S.Streaming() {
		return printStream(ctx, c, rows, pl)
	}
	return &Reply{Menu: c.Menu, Rows: rows}, nil
}

// followPoll is how often print follow looks again at rows that change without a
// configuration change (runtime state, status menus such as /log).
const followPoll = time.Second

// printStream is print follow, follow-only and interval=: with interval= the whole list
// again every interval; with follow the list (follow-only: nothing) and then each row
// that is new or changed, and a row with .dead=yes for each that went, until ctx ends.
func printStream(ctx context.Context, c *Call, rows []Row, pl []string) (*Reply, error) {
	every := followPoll
	if v, ok := c.S.Get("interval"); ok {
		d, err := value.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, errf(CatArgument, "invalid value for argument interval")
		}
		every = max(d, 100*time.Millisecond)
	}
	follow := c.S.Has("follow") || c.S.Has("follow-only")
	changed := make(chan struct{}, 1)
	if follow && c.Menu.Kind != menu.Status {
		c.Ex.WatchUntil(ctx, c.Menu.Path, func(Change) {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}
	seen := map[uint64]Row{}
	for _, r := range rows {
		seen[r.ID] = r
	}
	if !c.S.Has("follow-only") {
		if err := c.S.Emit(&Reply{Menu: c.Menu, Rows: rows}); err != nil {
			return nil, err
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return &Reply{Menu: c.Menu}, nil
		case <-t.C:
		case <-changed:
		}
		rows, err := c.Ex.selected(ctx, c, c.S.Bool("show-sensitive") && c.Sess.ShowSensitive)
		if err != nil {
			if ctx.Err() != nil {
				return &Reply{Menu: c.Menu}, nil
			}
			return nil, err
		}
		for i := range rows {
			if len(pl) > 0 {
				rows[i].Keys = pl
			}
		}
		if !follow {
			if err := c.S.Emit(&Reply{Menu: c.Menu, Rows: rows}); err != nil {
				return nil, err
			}
			continue
		}
		var out []Row
		now := map[uint64]Row{}
		for _, r := range rows {
			now[r.ID] = r
			if old, ok := seen[r.ID]; !ok || !sameRow(old, r) {
				out = append(out, r)
			}
		}
		for id := range seen {
			// Log lines that fall off the end of the buffer were not removed.
			if _, ok := now[id]; !ok && c.Menu.Path != LogPath {
				out = append(out, Row{ID: id, Menu: c.Menu, Props: map[string]string{".dead": "yes"}, Keys: []string{".dead"}})
			}
		}
		seen = now
		if len(out) > 0 {
			if err := c.S.Emit(&Reply{Menu: c.Menu, Rows: out}); err != nil {
				return nil, err
			}
		}
	}
}

func sameRow(a, b Row) bool {
	return a.Flags == b.Flags && maps.Equal(a.Props, b.Props)
}

// StatsKeys are the properties `print stats` shows: the name, then the menu's counters.
func StatsKeys(m *menu.Menu) []string {
	var out []string
	if np := m.NameProp(); np != "" {
		out = append(out, np)
	} else {
		out = append(out, m.StatsLead...)
	}
	return append(out, m.Stats...)
}

func cmdFind(ctx context.Context, c *Call) (*Reply, error) {
	rows, err := c.Ex.selected(ctx, c, false)
	if err != nil {
		return nil, err
	}
	rep := &Reply{Menu: c.Menu, List: make([]string, len(rows))}
	for i, r := range rows {
		rep.List[i] = FormatID(r.ID)
	}
	return rep, nil
}

func cmdGet(ctx context.Context, c *Call) (*Reply, error) {
	name, _ := c.S.Get("value-name")
	var row Row
	if c.Menu.Kind == menu.Single {
		rows, err := c.Ex.Rows(ctx, c.Sess, c.Menu, c.Sess.ShowSensitive)
		if err != nil {
			return nil, err
		}
		row = rows[0]
	} else {
		ref, _ := c.S.Get("number")
		var ids []uint64
		// A row an engine provides beside the stored ones (a dynamic firewall rule or
		// address-list entry) is not in the store: it is found by its id among the rows.
		resolveErr := c.Ex.View(c.Sess, func(tx *store.Tx) error {
			var err error
			ids, err = c.Ex.resolve(tx, c.Sess, c.Menu, ref)
			return err
		})
		rows, err := c.Ex.Rows(ctx, c.Sess, c.Menu, c.Sess.ShowSensitive)
		if err != nil {
			return nil, err
		}
		found := false
		for _, r := range rows {
			// Status menus' rows are not stored: match their id or name.
			if len(ids) == 1 && r.ID == ids[0] || (len(ids) == 0 && ref != "" && (FormatID(r.ID) == ref ||
				c.Menu.Kind == menu.Status && c.Menu.NameProp() != "" && r.Props[c.Menu.NameProp()] == ref)) {
				row, found = r, true
			}
		}
		if !found {
			if resolveErr != nil && c.Menu.Kind != menu.Status {
				return nil, resolveErr
			}
			return nil, ErrNoSuchItem
		}
	}
	if name == "" {
		return &Reply{Menu: c.Menu, Rows: []Row{row}}, nil
	}
	v, ok := row.Get(name)
	if !ok {
		if _, isProp := c.Menu.Prop(name); !isProp && name != "comment" && name != ".id" {
			return nil, errf(CatArgument, "input does not match any value of value-name")
		}
	}
	return &Reply{Menu: c.Menu, Ret: v}, nil
}

// Seed creates the built-in items of Fixed and List menus that do not exist yet (first
// start, or a menu added by an upgrade). Built-in items are found again by name.
func (x *Executor) Seed() error {
	return x.Store.Update(func(tx *store.Tx) error {
		for _, m := range x.Tree.All() {
			if len(m.Builtin) == 0 {
				continue
			}
			items, err := tx.List(m.Path)
			if err != nil {
				return err
			}
		next:
			for i, b := range m.Builtin {
				for _, it := range items {
					if sameBuiltin(it.Props, m, i) {
						continue next
					}
				}
				id, err := tx.NextID(m.Path)
				if err != nil {
					return err
				}
				props := map[string]string{builtinKey: strconv.Itoa(i + 1)}
				for k, v := range b {
					props[k] = v
				}
				if err := tx.Put(m.Path, store.Item{ID: id, Props: props}, 0); err != nil {
					return err
				}
			}
		}
		return goneListRefs(tx)
	})
}

// goneListRefs points the firewall rules that name an interface list no longer stored
// at an id, as removing a list has done since 2a27030 (staleRefs): rules stored before
// then kept the name, matched nothing with no status, and their export was refused at
// import. The removed list's id is gone with it, so each such name gets one id reserved
// in the list menu (NextID: no later list is given it); the rule is then invalid,
// "interface list *N not present". It runs at every start (Seed) and finds nothing to do
// once done.
func goneListRefs(tx *store.Tx) error {
	ids := map[string]string{} // a gone list's name -> the *ID its rules now name
	for _, r := range staleListRefProps {
		items, err := tx.List(r.path)
		if err != nil {
			return err
		}
		for _, it := range items {
			changed := false
			for _, k := range r.props {
				v := it.Props[k]
				name := strings.TrimPrefix(v, "!")
				if _, byID := ParseID(name); name == "" || byID {
					continue
				}
				if _, ok := tx.ByName(menu.InterfaceListPath, name); ok {
					continue
				}
				ref, ok := ids[name]
				if !ok {
					id, err := tx.NextID(menu.InterfaceListPath)
					if err != nil {
						return fmt.Errorf("reserving an id for gone interface list %s: %w", name, err)
					}
					ref = FormatID(id)
					ids[name] = ref
				}
				it.Props[k] = strings.TrimSuffix(v, name) + ref
				changed = true
			}
			if !changed {
				continue
			}
			if err := tx.Put(r.path, it, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// sortedKeys returns the keys of m in alphabetical order.
func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// sameBuiltin matches a stored built-in item to declaration i of m.Builtin by the
// declaration's number that Seed recorded in the item: any property may have been set
// since, the name too (RouterOS lets the default IPsec profile be renamed, and it stays
// the default). Items stored by older versions carry "yes" and are matched by name,
// unless the menu has one built-in item only.
func sameBuiltin(props map[string]string, m *menu.Menu, i int) bool {
	switch b := props[builtinKey]; {
	case b == "":
		return false
	case b != "yes":
		return b == strconv.Itoa(i+1)
	case len(m.Builtin) == 1:
		return true
	}
	np := m.NameProp()
	return np != "" && props[np] == m.Builtin[i][np]
}

// IsBuiltin says whether an item is one of its menu's built-in items (flag *, default=yes),
// whatever it is called now.
func IsBuiltin(props map[string]string) bool { return props[builtinKey] != "" }

// missingRequired refuses an item that lacks a required property, as RouterOS's add
// does ("failure: interface not specified"); a property required only while the item
// is enabled (Prop.RequiredEnabled) may be missing from a disabled one. always: check
// the Required ones too (add; set and unset cannot take them away).
func missingRequired(m *menu.Menu, props map[string]string, always bool) error {
	for _, p := range m.Props {
		if (always && p.Required || p.RequiredEnabled && props["disabled"] != "yes") && props[p.Name] == "" {
			return errf(CatArgument, "failure: %s not specified", p.Name)
		}
	}
	return nil
}

// emptyUnset reports whether v is the empty value RouterOS writes for an unset property
// whose type has no empty value (pref-src="" in a v7 route export): it unsets.
func emptyUnset(p *menu.Prop, v string) bool {
	if v != "" || p.Required {
		return false
	}
	_, err := ParseValue(p, "")
	return err != nil
}

// EmptyUnset is emptyUnset for engines that check arguments before the generic commands.
func EmptyUnset(p *menu.Prop, v string) bool { return emptyUnset(p, v) }

// builtinByName: verbose exports set built-in items by number and name (`/queue type
// set 6 kind=pcq name=pcq-upload-default`), and the numbers differ between RouterOS
// versions and routerd. When name= names a built-in item other than the one numbered,
// the name says which one is meant (renaming an item to a built-in item's name could
// only fail).
func builtinByName(tx *store.Tx, c *Call, vals map[string]string, ids []uint64) []uint64 {
	np := c.Menu.NameProp()
	name, ok := vals[np]
	ref, _ := c.S.Get("numbers")
	if !ok || np == "" || len(c.Menu.Builtin) == 0 || len(ids) != 1 || ref == "" || strings.Trim(ref, "0123456789") != "" {
		return ids
	}
	if ids[0] != 0 {
		cur, err := tx.Get(c.Menu.Path, ids[0])
		if err != nil || cur.Props[np] == name {
			return ids
		}
	}
	id, ok := tx.ByName(c.Menu.Path, name)
	if !ok {
		return ids
	}
	if it, err := tx.Get(c.Menu.Path, id); err != nil || it.Props[builtinKey] == "" {
		return ids
	}
	return []uint64{id}
}
