package routing

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

const (
	TablePath = menu.RoutingTablePath
	RulePath  = menu.RoutingRulePath

	// TableBase is added to a table item's id to make its kernel table number.
	TableBase = 10000
	// MarkShift and MarkMask place the routing mark in the packet mark.
	MarkShift = 20
	MarkMask  = 0xfff00000
	// ReservedMark is the routing field no table gets (all ones): marks with it are
	// routerd's own (ike/esp's bypass mark), which no firewall rule can set or alias.
	ReservedMark = 0xfff00000
	// MarkPriority is the priority of the fwmark rules; RulePriority the first of the
	// /routing rule items.
	MarkPriority = 2000
	RulePriority = 1000
	// Proto marks routerd's ip rules (the same number as its routes and addresses).
	Proto = 0xc4
)

// Table is a configured routing table.
type Table struct {
	Name string
	ID   int    // kernel table
	Mark uint32 // routing mark bits
}

// tableItem is one /routing table item as configured, decoded through the menu schema.
type tableItem struct {
	Name     string `prop:"name"`
	Disabled bool   `prop:"disabled"`
}

// ruleItem is one /routing rule item as configured.
type ruleItem struct {
	Src         netip.Prefix `prop:"src-address"`
	Dst         netip.Prefix `prop:"dst-address"`
	RoutingMark string       `prop:"routing-mark"`
	Interface   string       `prop:"interface"`
	Action      string       `prop:"action"`
	Table       string       `prop:"table"`
	MinPrefix   string       `prop:"min-prefix"`
	Disabled    bool         `prop:"disabled"`
}

// rule is a decoded rule item with its id.
type rule struct {
	id uint64
	ruleItem
}

// Tables returns the enabled tables by name; items whose id does not fit the mark are
// left out (with the reason in the second map).
func Tables(ex *control.Executor) (map[string]Table, map[uint64]string, error) {
	items, err := ex.Items(TablePath)
	if err != nil {
		return nil, nil, err
	}
	m, _ := ex.Tree.Get(TablePath)
	ts, bad := tables(m, items)
	return ts, bad, nil
}

func tables(m *menu.Menu, items []store.Item) (map[string]Table, map[uint64]string) {
	out, bad := map[string]Table{}, map[uint64]string{}
	for _, it := range items {
		var c tableItem
		if err := engine.Decode(m, it, &c); err != nil {
			bad[it.ID] = err.Error()
			continue
		}
		if c.Disabled {
			continue
		}
		if it.ID >= ReservedMark>>MarkShift {
			bad[it.ID] = "too many routing tables"
			continue
		}
		out[c.Name] = Table{Name: c.Name, ID: TableBase + int(it.ID), Mark: uint32(it.ID) << MarkShift}
	}
	return out, bad
}

// TableID returns the kernel table of a routing-table= value ("main", a table name, or a
// number as the kernel shows other daemons' tables).
func TableID(ex *control.Executor, name string) (int, error) {
	if name == "" || name == "main" {
		return unix.RT_TABLE_MAIN, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n > 0 {
		return n, nil
	}
	ts, _, err := Tables(ex)
	if err != nil {
		return 0, err
	}
	t, ok := ts[name]
	if !ok {
		return 0, fmt.Errorf("no such routing table %s", name)
	}
	return t.ID, nil
}

// Options say where the engine applies.
type Options struct {
	// NetNS is a network namespace file descriptor (tests); 0 is the daemon's namespace.
	NetNS int
}

// Engine applies /routing table and /routing rule as ip rules.
type Engine struct {
	opts Options
	ex   *control.Executor
	h    *netlink.Handle // Start opens it, Close closes it
	k    Kernel          // kernel.go: the real one over h; a plan test sets a fake
	// names translates RouterOS interface names to kernel link names (the link engine's):
	// a rule's iif matches the kernel's name.
	names *link.Names
}

// New returns the engine, for an engine host to run.
func New(opts Options) *Engine { return &Engine{opts: opts} }

// Spec declares the menus.
func (e *Engine) Spec() engine.Spec {
	return engine.Spec{Name: "routing", Menus: []string{TablePath, RulePath}}
}

// TypedItems names the structs the menus' items decode into (engine.Typed).
func (e *Engine) TypedItems() map[string]any {
	return map[string]any{TablePath: tableItem{}, RulePath: ruleItem{}}
}

// Start opens the netlink handle and lets add and set of /routing table take fib alone.
func (e *Engine) Start(ctx context.Context, h *engine.Handle) error {
	e.names, _ = engine.Lookup[*link.Names](h)
	var err error
	if e.opts.NetNS != 0 {
		e.h, err = netlink.NewHandleAt(netns.NsHandle(e.opts.NetNS))
	} else {
		e.h, err = netlink.NewHandle()
	}
	if err != nil {
		return fmt.Errorf("routing: netlink: %w", err)
	}
	e.k = netlinkKernel{e.h}
	e.ex = h.Ex
	fibFlag(h.Ex)
	return nil
}

// Close releases the netlink handle once the host has stopped the engine.
func (e *Engine) Close() error {
	if e.h != nil {
		e.h.Close()
	}
	return nil
}

// Reconcile converges routerd's ip rules of both families with the configuration.
func (e *Engine) Reconcile(context.Context) error {
	titems, err := e.ex.Items(TablePath)
	if err != nil {
		return fmt.Errorf("read tables: %w", err)
	}
	tm, _ := e.ex.Tree.Get(TablePath)
	ts, bad := tables(tm, titems)
	for _, it := range titems {
		st := control.ItemState{Props: map[string]string{}}
		if why, ok := bad[it.ID]; ok {
			st.Invalid, st.Status = true, why
		} else if t, ok := ts[it.Props["name"]]; ok {
			st.Props["table-id"] = strconv.Itoa(t.ID)
		}
		e.ex.State.Set(TablePath, it.ID, st)
	}
	ritems, err := e.ex.Items(RulePath)
	if err != nil {
		return fmt.Errorf("read rules: %w", err)
	}
	rm, _ := e.ex.Tree.Get(RulePath)
	rules := make([]rule, 0, len(ritems))
	undecodable := map[uint64]string{}
	for _, it := range ritems {
		r := rule{id: it.ID}
		if err := engine.Decode(rm, it, &r.ruleItem); err != nil {
			undecodable[it.ID] = err.Error()
			continue
		}
		if r.Interface != "" {
			r.Interface = e.names.Kernel(r.Interface)
		}
		rules = append(rules, r)
	}
	var first error
	invalid := map[uint64]string{}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		want, refused := desired(fam, ts, rules)
		maps.Copy(invalid, refused)
		// A rule the kernel refuses marks its item; the others stay installed.
		failed, err := e.apply(fam, want)
		if err != nil && first == nil {
			first = err
		}
		for id, err := range failed {
			if id == 0 { // a table's mark rule: not an item of this menu
				if first == nil {
					first = err
				}
				continue
			}
			invalid[id] = err.Error()
		}
	}
	for _, it := range ritems {
		st := control.ItemState{}
		if why, ok := undecodable[it.ID]; ok {
			st.Invalid, st.Status = true, why
		} else if why, ok := invalid[it.ID]; ok {
			st.Invalid, st.Status = true, why
		}
		e.ex.State.Set(RulePath, it.ID, st)
	}
	return first
}

// wanted is one kernel rule and the /routing rule item it comes from (0: a table's
// mark rule).
type wanted struct {
	netlink.Rule
	id uint64
}

// desired builds the ip rules of one family.
func desired(fam int, ts map[string]Table, rules []rule) ([]wanted, map[uint64]string) {
	var out []wanted
	invalid := map[uint64]string{}
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		t := ts[n]
		r := base(fam, MarkPriority)
		mask := uint32(MarkMask)
		r.Mark, r.Mask, r.Table = t.Mark, &mask, t.ID
		out = append(out, wanted{Rule: r})
	}
	prio := RulePriority
	for _, c := range rules {
		if c.Disabled {
			continue
		}
		if c.Src.IsValid() && c.Dst.IsValid() && c.Src.Addr().Is4() != c.Dst.Addr().Is4() {
			invalid[c.id] = "src-address and dst-address are of different address families"
			continue
		}
		r := base(fam, prio)
		other := false // a rule of the other family
		for _, sel := range []struct {
			pfx netip.Prefix
			dst **net.IPNet
		}{{c.Src, &r.Src}, {c.Dst, &r.Dst}} {
			if !sel.pfx.IsValid() {
				continue
			}
			if sel.pfx.Addr().Is4() != (fam == unix.AF_INET) {
				other = true
				break
			}
			p := sel.pfx.Masked()
			if p.Bits() == 0 {
				continue // 0.0.0.0/0 is every address: the kernel keeps no selector
			}
			*sel.dst = &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		}
		if other {
			continue
		}
		if v := c.RoutingMark; v != "" {
			t, ok := ts[v]
			if !ok {
				invalid[c.id] = "no such routing table " + v
				continue
			}
			mask := uint32(MarkMask)
			r.Mark, r.Mask = t.Mark, &mask
		}
		r.IifName = c.Interface
		switch act := orDefault(c.Action, "lookup"); act {
		case "drop":
			r.Type = unix.RTN_BLACKHOLE
		case "unreachable":
			r.Type = unix.RTN_UNREACHABLE
		default:
			id := unix.RT_TABLE_MAIN
			if table := c.Table; table != "" && table != "main" {
				t, ok := ts[table]
				if !ok {
					invalid[c.id] = "no such routing table " + table
					continue
				}
				id = t.ID
			}
			r.Table = id
			if c.MinPrefix != "" && id >= 256 {
				// The netlink library sends suppress_prefixlength only with a table id
				// that fits the header (main, not routerd's 10000+): the kernel rule
				// came without it and every pass added it again ("file exists").
				invalid[c.id] = "min-prefix is applied with table=main only here"
				continue
			}
			if c.MinPrefix != "" {
				n, err := strconv.Atoi(c.MinPrefix)
				if err != nil {
					invalid[c.id] = "min-prefix: " + err.Error()
					continue
				}
				r.SuppressPrefixlen = n
			}
			if act == "lookup-only-in-table" {
				out = append(out, wanted{Rule: r, id: c.id})
				prio++
				r2 := r
				r2.Priority, r2.Table, r2.Type, r2.SuppressPrefixlen = prio, 0, unix.RTN_UNREACHABLE, -1
				r = r2
			}
		}
		out = append(out, wanted{Rule: r, id: c.id})
		prio++
	}
	return out, invalid
}

func base(fam, prio int) netlink.Rule {
	r := *netlink.NewRule()
	r.Family, r.Priority, r.Protocol = fam, prio, Proto
	if r.Type == 0 {
		r.Type = unix.RTN_UNICAST
	}
	return r
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// key identifies a rule by what the kernel compares.
func key(r netlink.Rule) string {
	m := uint32(0)
	if r.Mask != nil {
		m = *r.Mask
	}
	return fmt.Sprintf("%d/%d/%d/%x/%x/%v/%v/%s/%d/%d", r.Family, r.Priority, r.Table, r.Mark, m, r.Src, r.Dst, r.IifName, r.Type, r.SuppressPrefixlen)
}

// apply makes routerd's rules of a family exactly want: missing ones are added before
// stale ones are removed, so marked traffic always finds its table. It returns the
// kernel's refusal of each rule it could not add, by item, and any other failure.
func (e *Engine) apply(fam int, want []wanted) (map[uint64]error, error) {
	all, err := e.k.RuleList(fam)
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	// Only routerd's own rules: the list is filtered here, not by the library, since
	// removing the kernel's local/main/default rules would cut the box off.
	var have []netlink.Rule
	for _, r := range all {
		if r.Protocol == Proto {
			have = append(have, r)
		}
	}
	haveKeys := map[string]bool{}
	for _, r := range have {
		if r.Type == 0 {
			r.Type = unix.RTN_UNICAST
		}
		haveKeys[key(r)] = true
	}
	wantKeys := map[string]bool{}
	failed := map[uint64]error{}
	var first error
	for _, w := range want {
		wantKeys[key(w.Rule)] = true
		if haveKeys[key(w.Rule)] {
			continue
		}
		r := w.Rule
		if err := e.k.RuleAdd(&r); err != nil && failed[w.id] == nil {
			failed[w.id] = fmt.Errorf("kernel refused the rule: %w", err)
		}
	}
	for _, r := range have {
		k := r
		if k.Type == 0 {
			k.Type = unix.RTN_UNICAST
		}
		if wantKeys[key(k)] {
			continue
		}
		r := r
		if err := e.k.RuleDel(&r); err != nil && first == nil {
			first = fmt.Errorf("remove rule: %w", err)
		}
	}
	return failed, first
}

// fibFlag lets add and set of /routing table take fib alone, as RouterOS writes it
// ("/routing table add name=backup fib"): the word is fib=yes.
func fibFlag(ex *control.Executor) {
	for _, cmd := range []string{"add", "set"} {
		fn, spec, ok := ex.Generic(TablePath, cmd)
		if !ok {
			continue
		}
		spec.Flags = append(slices.Clone(spec.Flags), "fib")
		ex.Handle(TablePath, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			s := *c.S
			s.Args = slices.Clone(s.Args)
			for i, a := range s.Args {
				if a.Flag && a.Name == "fib" {
					s.Args[i] = control.Arg{Name: "fib", Value: "yes"}
				}
			}
			return fn(ctx, &control.Call{Ex: c.Ex, Sess: c.Sess, S: &s, Menu: c.Menu})
		})
	}
}
