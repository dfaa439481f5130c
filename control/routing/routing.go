package routing

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

const (
	// Root is the menu tree the engine applies and watches.
	Root      = "/routing"
	TablePath = "/routing/table"
	RulePath  = "/routing/rule"

	// TableBase is added to a table item's id to make its kernel table number.
	TableBase = 10000
	// MarkShift and MarkMask place the routing mark in the packet mark.
	MarkShift = 20
	MarkMask  = 0xfff00000
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

// Tables returns the enabled tables by name; items whose id does not fit the mark are
// left out (with the reason in the second map).
func Tables(ex *control.Executor) (map[string]Table, map[uint64]string, error) {
	items, err := ex.Items(TablePath)
	if err != nil {
		return nil, nil, err
	}
	return tables(items)
}

func tables(items []store.Item) (map[string]Table, map[uint64]string, error) {
	out, bad := map[string]Table{}, map[uint64]string{}
	for _, it := range items {
		if it.Props["disabled"] == "yes" {
			continue
		}
		if it.ID >= 1<<(32-MarkShift) {
			bad[it.ID] = "too many routing tables"
			continue
		}
		n := it.Props["name"]
		out[n] = Table{Name: n, ID: TableBase + int(it.ID), Mark: uint32(it.ID) << MarkShift}
	}
	return out, bad, nil
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
	ex     *control.Executor
	h      *netlink.Handle
	wake   chan struct{}
	exited chan struct{}
}

// Start registers the engine and applies the configuration.
func Start(ctx context.Context, ex *control.Executor, opts Options) (*Engine, error) {
	var h *netlink.Handle
	var err error
	if opts.NetNS != 0 {
		h, err = netlink.NewHandleAt(netns.NsHandle(opts.NetNS))
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, fmt.Errorf("routing: netlink: %w", err)
	}
	e := &Engine{ex: ex, h: h, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	ex.SetEngine(TablePath, "routing")
	ex.SetEngine(RulePath, "routing")
	fibFlag(ex)
	ex.Watch(Root, func(control.Change) {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	})
	if err := e.Reconcile(ctx); err != nil {
		slog.Warn("routing: not applied", "err", err)
	}
	go func() {
		defer close(e.exited)
		defer h.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
				if err := e.Reconcile(ctx); err != nil {
					slog.Warn("routing: not applied", "err", err)
				}
			}
		}
	}()
	return e, nil
}

// Reconcile converges routerd's ip rules of both families with the configuration.
func (e *Engine) Reconcile(context.Context) error {
	titems, err := e.ex.Items(TablePath)
	if err != nil {
		return fmt.Errorf("routing: read tables: %w", err)
	}
	ts, bad, _ := tables(titems)
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
		return fmt.Errorf("routing: read rules: %w", err)
	}
	var first error
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		want, invalid := desired(fam, ts, ritems)
		if err := e.apply(fam, want); err != nil && first == nil {
			first = err
		}
		if fam == unix.AF_INET {
			for _, it := range ritems {
				st := control.ItemState{}
				if why, ok := invalid[it.ID]; ok {
					st.Invalid, st.Status = true, why
				}
				e.ex.State.Set(RulePath, it.ID, st)
			}
		}
	}
	return first
}

// desired builds the ip rules of one family.
func desired(fam int, ts map[string]Table, ritems []store.Item) ([]netlink.Rule, map[uint64]string) {
	var out []netlink.Rule
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
		out = append(out, r)
	}
	prio := RulePriority
	for _, it := range ritems {
		if it.Props["disabled"] == "yes" {
			continue
		}
		p := it.Props
		r := base(fam, prio)
		skip := false
		for _, k := range []string{"src-address", "dst-address"} {
			if v := p[k]; v != "" {
				pfx, err := netip.ParsePrefix(v)
				if err != nil {
					invalid[it.ID] = "invalid value for argument " + k
					skip = true
					break
				}
				if pfx.Addr().Is4() != (fam == unix.AF_INET) {
					skip = true // a rule of the other family
					break
				}
				n := &net.IPNet{IP: pfx.Masked().Addr().AsSlice(), Mask: net.CIDRMask(pfx.Bits(), pfx.Addr().BitLen())}
				if k == "src-address" {
					r.Src = n
				} else {
					r.Dst = n
				}
			}
		}
		if skip {
			continue
		}
		if v := p["routing-mark"]; v != "" {
			t, ok := ts[v]
			if !ok {
				invalid[it.ID] = "no such routing table " + v
				continue
			}
			mask := uint32(MarkMask)
			r.Mark, r.Mask = t.Mark, &mask
		}
		r.IifName = p["interface"]
		table := p["table"]
		switch act := orDefault(p["action"], "lookup"); act {
		case "drop":
			r.Type = unix.RTN_BLACKHOLE
		case "unreachable":
			r.Type = unix.RTN_UNREACHABLE
		default:
			id := unix.RT_TABLE_MAIN
			if table != "" && table != "main" {
				t, ok := ts[table]
				if !ok {
					invalid[it.ID] = "no such routing table " + table
					continue
				}
				id = t.ID
			}
			r.Table = id
			if act == "lookup-only-in-table" {
				out = append(out, r)
				prio++
				r2 := r
				r2.Priority, r2.Table, r2.Type = prio, 0, unix.RTN_UNREACHABLE
				r = r2
			}
		}
		out = append(out, r)
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
	return fmt.Sprintf("%d/%d/%d/%x/%x/%v/%v/%s/%d", r.Family, r.Priority, r.Table, r.Mark, m, r.Src, r.Dst, r.IifName, r.Type)
}

// apply makes routerd's rules of a family exactly want: missing ones are added before
// stale ones are removed, so marked traffic always finds its table.
func (e *Engine) apply(fam int, want []netlink.Rule) error {
	all, err := e.h.RuleList(fam)
	if err != nil {
		return fmt.Errorf("routing: list rules: %w", err)
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
	var first error
	for _, r := range want {
		wantKeys[key(r)] = true
		if haveKeys[key(r)] {
			continue
		}
		r := r
		if err := e.h.RuleAdd(&r); err != nil && first == nil {
			first = fmt.Errorf("routing: add rule %s: %w", key(r), err)
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
		if err := e.h.RuleDel(&r); err != nil && first == nil {
			first = fmt.Errorf("routing: remove rule: %w", err)
		}
	}
	return first
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
