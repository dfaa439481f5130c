// Package menu declares the configuration model: the tree of menus, each with the schema of
// its properties. A menu is one declaration (this package) plus, where it acts on the
// system, a reconciler elsewhere; nothing parses a property by hand.
//
// The declarations follow the RouterOS manual excerpts in shared/reference: property names,
// defaults, enums, ranges, read-only fields and flags.
package menu

import (
	"sort"
	"strings"

	"github.com/routerd/routerd/control/value"
)

// Kind says how a menu holds items.
type Kind int

const (
	// List menus hold items that are added and removed (/interface/gre).
	List Kind = iota
	// Single menus are one object with set/get/print and no item argument
	// (/system/identity, /ip/tftp/settings).
	Single
	// Fixed menus hold built-in items that can be set but not added or removed
	// (/ip/service). Their items are declared in Menu.Builtin.
	Fixed
	// Dir menus hold no items; they only group sub-menus (/interface, /ip).
	Dir
	// Status menus are read-only lists filled by an engine (/log, /ip/ipsec/active-peers).
	Status
)

// Prop declares one property.
type Prop struct {
	Name string
	Type value.Type
	// Default is the canonical value an item has when the property is not given; "" means
	// the property is unset by default.
	Default string
	// Auto: the word "auto" is accepted besides Type's values.
	Auto bool
	// Negatable: unset (`!keepalive` in add and set, RouterOS's export spelling, or the
	// unset command) turns the property off although its default is not empty (a
	// tunnel's keepalive is 10s,10 unless negated): it is stored empty, which engines read
	// as off, and export writes it back as `!name`.
	Negatable bool
	// Required properties must be given on add.
	Required bool
	// RequiredEnabled properties must be given unless the item is disabled (RouterOS
	// keeps a disabled /ip address with no interface; enabling it asks for one).
	RequiredEnabled bool
	// ReadOnly properties are written by engines only (counters, run-count, actual-mtu).
	ReadOnly bool
	// Sensitive properties (secrets) are hidden from print and export unless the user asks
	// with show-sensitive.
	Sensitive bool
	// NoteHidden: an export without show-sensitive says this property was left out
	// (where import cannot restore an item fully without it, e.g. a password).
	NoteHidden bool
	// Secret properties (password hashes) never leave routerd except inside a backup:
	// no print, get or export shows them, show-sensitive or not, as RouterOS never
	// exports user passwords.
	Secret bool
	// Ref names the menu whose items' names are the valid values ("/ip/ipsec/profile");
	// with RefList the value is a comma list of such names.
	Ref     string
	RefList bool
	// RefExtra lists words accepted besides item names (e.g. "none", "default").
	RefExtra []string
	// LooseRef names a menu whose item the value names without being checked at add or
	// set (RouterOS's own exports name it before it exists: mode-config's address-pool
	// comes before /ip pool); removing that item is still refused while it is named,
	// and renaming it is followed, as with Ref.
	LooseRef string
	// Unique properties may not repeat within the menu ("failure: already have such name").
	Unique bool
	// Hidden properties are kept for engines and get (runtime flags, monitor fields) but
	// neither shown by print nor accepted as command arguments.
	Hidden bool
	// Code: the value is script source (source=, on-event=): kept as written, exported
	// quoted.
	Code bool
	// NoEffect marks a property RouterOS has (and writes in /export) that has no
	// equivalent on this system: its value is accepted with RouterOS's syntax, stored,
	// exported and printed, and print's status says it has no effect here. The text says
	// why ("no MVRP in the Linux bridge"). Empty: the property is applied (or read-only).
	NoEffect string
	// Unsupported marks a property RouterOS has (and writes in /export) whose meaning
	// this system cannot carry out and cannot leave out either (a firewall matcher: a
	// rule without it would match more): the value is accepted, stored and exported,
	// and an item that sets it is not applied but shows invalid with this reason
	// (engine.Decode refuses it for every engine). Empty: applied, stored only or
	// read-only.
	Unsupported string
	// Bytes: the value is a size in bytes, a plain number over the API, REST and in
	// scripts as RouterOS sends it; the console prints it as 22.6GiB.
	Bytes bool
	// Count: a counter, a plain number over the API, REST and in scripts; the console
	// prints its digits in groups of three ("6 213 070 707"), unquoted, as RouterOS.
	Count bool
	// Hex: an integer RouterOS prints and exports in hex (a bridge's priority=0x8000);
	// stored, and sent over the API and REST, as decimal; either is accepted.
	Hex bool
	// BitRate: bits per second, a plain number over the API, REST and in scripts; the
	// console prints it as RouterOS does ("0bps", "155.3kbps", "5.1Mbps").
	BitRate bool
	// V6 marks a RouterOS 6 property that RouterOS 7 moved elsewhere (peer secret= went
	// to /ip ipsec identity, route routing-mark= became routing-table=): it is accepted
	// in add and set so that v6 configurations load, rewritten as RouterOS's upgrade does
	// (package compat), and never stored, printed or exported. The text names the v7
	// place.
	V6 string
	// Desc is the manual's description, used by help.
	Desc string
}

// Effect is the state of a property in the properties table (docs/properties.md).
func (p *Prop) Effect() string {
	switch {
	case p.V6 != "":
		return "RouterOS 6, mapped to " + p.V6
	case p.ReadOnly:
		return "read-only"
	case p.Unsupported != "":
		return "not supported: " + p.Unsupported + " (an item setting it is not applied)"
	case p.NoEffect != "":
		return "stored only: " + p.NoEffect
	}
	return "applied"
}

// Flag is one flag letter of print output.
type Flag struct {
	Letter byte
	Name   string // "disabled", "running", "invalid", "dynamic", "active"...
}

// Standard flags.
var (
	FlagDisabled = Flag{'X', "disabled"}
	FlagRunning  = Flag{'R', "running"}
	FlagInvalid  = Flag{'I', "invalid"}
	FlagDynamic  = Flag{'D', "dynamic"}
	FlagActive   = Flag{'A', "active"}
)

// Menu declares one menu.
type Menu struct {
	// Path in slash form without trailing slash: "/interface/gre". Root is "".
	Path string
	Kind Kind
	// Props in the manual's order; print uses this order.
	Props []Prop
	// Flags shown in print, in order. Menus with a disabled property get X automatically.
	Flags []Flag
	// Commands beyond the generic ones of the kind (e.g. "run", "monitor", "save").
	Commands []string
	// PrintKeys, when set, lists the properties the console's print shows of an item
	// (given its properties), in order, where RouterOS shows fewer than all (an IPsec
	// policy template). get, the API and proplist= still see every property.
	PrintKeys func(props map[string]string) []string
	// Columns are the properties of the table form of print; empty means detail form.
	Columns []string
	// Dynamic, when set, tells the stored items RouterOS holds as dynamic (address-list
	// entries with a timeout): export leaves them out, as RouterOS does (a backup keeps
	// them).
	Dynamic func(props map[string]string) bool
	// Brief are the columns of `print brief` where print's own form is the detail form
	// (firewall rules): the first two always, the others when a row shown has them, as
	// RouterOS leaves out columns no rule uses.
	Brief []string
	// Stats are the counters `print stats` shows after the name, as a table (RouterOS
	// keeps counters apart from configuration); the other forms of print leave them out.
	// Empty: the menu has no stats form.
	Stats []string
	// StatsLead are the properties print stats shows before the counters when the items
	// have no name (firewall rules: chain, action).
	StatsLead []string
	// Builtin items of Fixed menus, by property; each must set the naming property.
	Builtin []map[string]string
	// UniqueKey are properties whose values together may name one item only (an address
	// list's list and address): add and set refuse a second with "failure: already have
	// such entry", disabled items included. The store keeps an index of them
	// (store.Tx.Lookup), so the check costs the same whatever the menu holds.
	UniqueKey []string
	// Reserved names stand for something built in that is not an item here (/routing
	// table's main, the kernel's table 254): an item may not take one.
	Reserved []string
	// Engine names what applies this menu when the declaration itself knows it ("" =
	// whatever engine registers with Executor.SetEngine, else stored only). Never written
	// after the tree is built: engines record themselves under the executor's lock.
	Engine string
	// StatusPage menus are shown on the www status page after the interface menus.
	StatusPage bool
	// Ordered menus keep a user order (place-before, move), e.g. policies.
	Ordered bool
	// NoExport menus are runtime state and never exported (logs, active peers).
	NoExport bool
	// BackupOnly menus are left out of /export but carried by backups (certificates:
	// RouterOS does not export them, yet a backup must restore them).
	BackupOnly bool
	// Selector is the property export finds the items of a Fixed menu by, when it is not
	// the name: "default-name" writes `set [ find default-name=ether1 ] name=...`, so a
	// renamed port is found again.
	Selector string
	// NoDefaultName: items added without a name keep none (RouterOS names /ip dns static
	// entries only when told: a regexp entry has no name).
	NoDefaultName bool
	Desc          string
}

// Prop returns the named property.
func (m *Menu) Prop(name string) (*Prop, bool) {
	for i := range m.Props {
		if m.Props[i].Name == name {
			return &m.Props[i], true
		}
	}
	return nil, false
}

// NameProp returns the property that names items ("name", or "" when items are unnamed).
func (m *Menu) NameProp() string {
	if _, ok := m.Prop("name"); ok {
		return "name"
	}
	return ""
}

// NamesInterface reports whether the menu's items are interfaces (bridges, tunnels,
// VLANs, ethernet ports): their names share one namespace, /interface's, across menus.
func (m *Menu) NamesInterface() bool {
	return strings.HasPrefix(m.Path, "/interface/") && m.NameProp() == "name" && !strings.HasPrefix(m.Path, InterfaceListPath)
}

// HasDisabled reports whether items can be disabled.
func (m *Menu) HasDisabled() bool { _, ok := m.Prop("disabled"); return ok }

// Tree is the set of all menus, addressed by path.
type Tree struct {
	menus map[string]*Menu
	order []string // declaration order: export and import follow it, so references resolve
	// implicit marks parents created only because a child was declared first; declaring
	// them later moves them to that later place (/user after /user/group).
	implicit map[string]bool
}

// NewTree builds a tree from declarations; parent directories are created as Dir menus.
func NewTree(ms ...*Menu) *Tree {
	t := &Tree{menus: map[string]*Menu{"": {Path: "", Kind: Dir}}, implicit: map[string]bool{}}
	for _, m := range ms {
		t.Add(m)
	}
	return t
}

// Add declares m (replacing a previous declaration of the same path) and its parents.
func (t *Tree) Add(m *Menu) {
	var parents []string
	for p := parent(m.Path); p != ""; p = parent(p) {
		if _, ok := t.menus[p]; !ok {
			t.menus[p] = &Menu{Path: p, Kind: Dir}
			t.implicit[p] = true
			parents = append([]string{p}, parents...)
		}
	}
	t.order = append(t.order, parents...)
	if t.implicit[m.Path] {
		delete(t.implicit, m.Path)
		for i, p := range t.order {
			if p == m.Path {
				t.order = append(t.order[:i], t.order[i+1:]...)
				break
			}
		}
		t.order = append(t.order, m.Path)
	} else if _, ok := t.menus[m.Path]; !ok {
		t.order = append(t.order, m.Path)
	}
	t.menus[m.Path] = m
}

// Get returns the menu at path (slash form).
func (t *Tree) Get(path string) (*Menu, bool) {
	m, ok := t.menus[path]
	return m, ok
}

// Children returns the names of the sub-menus of path, sorted.
func (t *Tree) Children(path string) []string {
	var out []string
	for p := range t.menus {
		if p != "" && parent(p) == path {
			out = append(out, p[len(path)+1:])
		}
	}
	sort.Strings(out)
	return out
}

// All returns every menu in declaration order (parents before children), the order in
// which export writes them so that references resolve on import.
func (t *Tree) All() []*Menu {
	out := make([]*Menu, 0, len(t.order))
	for _, p := range t.order {
		out = append(out, t.menus[p])
	}
	return out
}

func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// Console is a menu path as the console writes it ("/ip ipsec identity"), followed by
// words if any ("/ip ipsec profile lifetime"): hints and log lines that name a menu build
// it from the path's constant (paths.go), so a renamed menu leaves none naming the old one.
func Console(path string, words ...string) string {
	return strings.Join(append([]string{"/" + strings.ReplaceAll(strings.TrimPrefix(path, "/"), "/", " ")}, words...), " ")
}
