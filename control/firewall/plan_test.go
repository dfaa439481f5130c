package firewall

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// fakeNFT is an in-memory nftables for the plan test: tables with their chains, rules,
// sets and named objects, and the ruleset generation. A connection queues commands and
// Flush applies them as one transaction, or refuses it whole (a jump to a chain that is
// not there, a rule bad names, a missing object), naming the command as the kernel does.
// Every committed transaction moves the generation and is recorded.
type fakeNFT struct {
	mu     sync.Mutex
	gen    uint32
	tables map[string]*fakeTable // by family/name
	bad    func(r *nftables.Rule) bool
	txs    [][]string // committed transactions, each as its commands
	refuse int        // transactions refused
}

type fakeTable struct {
	t      *nftables.Table
	chains map[string]*fakeChain
	sets   map[string]*fakeSet
	objs   map[string]nftables.Obj
}

type fakeChain struct {
	c     *nftables.Chain
	rules [][]expr.Any
}

type fakeSet struct {
	s   *nftables.Set
	els []nftables.SetElement
}

func newFakeNFT() *fakeNFT { return &fakeNFT{tables: map[string]*fakeTable{}} }

func tkey(t *nftables.Table) string { return fmt.Sprintf("%d/%s", t.Family, t.Name) }

func (f *fakeNFT) clone() map[string]*fakeTable {
	out := map[string]*fakeTable{}
	for k, t := range f.tables {
		c := &fakeTable{t: t.t, chains: map[string]*fakeChain{}, sets: map[string]*fakeSet{}, objs: maps.Clone(t.objs)}
		for n, ch := range t.chains {
			c.chains[n] = &fakeChain{c: ch.c, rules: slices.Clone(ch.rules)}
		}
		for n, s := range t.sets {
			c.sets[n] = &fakeSet{s: s.s, els: slices.Clone(s.els)}
		}
		out[k] = c
	}
	return out
}

// dump is the ruleset as text, to compare states.
func (f *fakeNFT) dump() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(f.tables)) {
		t := f.tables[k]
		fmt.Fprintf(&b, "table %s\n", k)
		for _, n := range slices.Sorted(maps.Keys(t.chains)) {
			fmt.Fprintf(&b, " chain %s\n", n)
			for _, r := range t.chains[n].rules {
				fmt.Fprintf(&b, "  rule %s\n", ruleText(r))
			}
		}
		for _, n := range slices.Sorted(maps.Keys(t.sets)) {
			fmt.Fprintf(&b, " set %s %v\n", n, elemsText(t.sets[n].els))
		}
		fmt.Fprintf(&b, " objects %v\n", slices.Sorted(maps.Keys(t.objs)))
	}
	return b.String()
}

func ruleText(es []expr.Any) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%T%+v", e, e))
	}
	return strings.Join(parts, " ")
}

func elemsText(els []nftables.SetElement) []string {
	var out []string
	for _, e := range els {
		a, _ := netip.AddrFromSlice(e.Key)
		s := a.String()
		if e.IntervalEnd {
			s += "(end)"
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// behind changes the ruleset as another program would, in a transaction of its own.
func (f *fakeNFT) behind(fn func(tables map[string]*fakeTable)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.tables)
	f.gen++
}

func (f *fakeNFT) take() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.txs
	f.txs = nil
	return t
}

func (f *fakeNFT) dial() (Netfilter, error) { return &fakeConn{f: f}, nil }

// fakeConn is one connection: reads answer from the ruleset, writes queue.
type fakeConn struct {
	f     *fakeNFT
	batch []fakeCmd
}

type fakeCmd struct {
	what string
	do   func(tables map[string]*fakeTable) error
}

var _ Netfilter = (*fakeConn)(nil)

func (c *fakeConn) queue(what string, do func(map[string]*fakeTable) error) {
	c.batch = append(c.batch, fakeCmd{what, do})
}

func (c *fakeConn) Generation() (uint32, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	return c.f.gen, nil
}

func (c *fakeConn) RuleCounts(fam nftables.TableFamily) (map[string]int, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	out := map[string]int{}
	if t := c.f.tables[tkey(&nftables.Table{Family: fam, Name: TableName})]; t != nil {
		for n, ch := range t.chains {
			if len(ch.rules) > 0 {
				out[n] = len(ch.rules)
			}
		}
	}
	return out, nil
}

func (c *fakeConn) ListTableOfFamily(name string, fam nftables.TableFamily) (*nftables.Table, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if t := c.f.tables[tkey(&nftables.Table{Family: fam, Name: name})]; t != nil {
		return t.t, nil
	}
	return nil, unix.ENOENT
}

func (c *fakeConn) ListChainsOfTableFamily(fam nftables.TableFamily) ([]*nftables.Chain, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	var out []*nftables.Chain
	for _, t := range c.f.tables {
		if t.t.Family != fam {
			continue
		}
		for _, ch := range t.chains {
			out = append(out, &nftables.Chain{Name: ch.c.Name, Table: t.t, Hooknum: ch.c.Hooknum, Priority: ch.c.Priority, Type: ch.c.Type})
		}
	}
	return out, nil
}

func (c *fakeConn) table(t *nftables.Table) (*fakeTable, error) {
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if ft := c.f.tables[tkey(t)]; ft != nil {
		return ft, nil
	}
	return nil, unix.ENOENT
}

func (c *fakeConn) GetSets(t *nftables.Table) ([]*nftables.Set, error) {
	ft, err := c.table(t)
	if err != nil {
		return nil, err
	}
	var out []*nftables.Set
	for _, s := range ft.sets {
		out = append(out, s.s)
	}
	return out, nil
}

func (c *fakeConn) GetSetElements(s *nftables.Set) ([]nftables.SetElement, error) {
	ft, err := c.table(s.Table)
	if err != nil {
		return nil, err
	}
	fs := ft.sets[s.Name]
	if fs == nil {
		return nil, unix.ENOENT
	}
	return slices.Clone(fs.els), nil
}

func (c *fakeConn) GetNamedObjects(t *nftables.Table) ([]nftables.Obj, error) {
	ft, err := c.table(t)
	if err != nil {
		return nil, err
	}
	var out []nftables.Obj
	for _, o := range ft.objs {
		switch o := o.(type) {
		case *nftables.CounterObj:
			out = append(out, &nftables.NamedObj{Table: t, Name: o.Name, Type: nftables.ObjTypeCounter, Obj: &expr.Counter{}})
		default:
			out = append(out, o)
		}
	}
	return out, nil
}

func (c *fakeConn) ResetNamedObjects(t *nftables.Table) ([]nftables.Obj, error) {
	return c.GetNamedObjects(t)
}
func (c *fakeConn) ResetObject(o nftables.Obj) (nftables.Obj, error) { return o, nil }

func objKey(o nftables.Obj) string {
	switch o := o.(type) {
	case *nftables.CounterObj:
		return "counter " + o.Name
	case *nftables.NamedObj:
		return fmt.Sprintf("%d %s", o.Type, o.Name)
	}
	return fmt.Sprintf("%T", o)
}

func objTable(o nftables.Obj) *nftables.Table {
	switch o := o.(type) {
	case *nftables.CounterObj:
		return o.Table
	case *nftables.NamedObj:
		return o.Table
	}
	return nil
}

func (c *fakeConn) AddTable(t *nftables.Table) *nftables.Table {
	c.queue("add table "+tkey(t), func(ts map[string]*fakeTable) error {
		if ts[tkey(t)] == nil {
			ts[tkey(t)] = &fakeTable{t: t, chains: map[string]*fakeChain{}, sets: map[string]*fakeSet{}, objs: map[string]nftables.Obj{}}
		}
		return nil
	})
	return t
}

func (c *fakeConn) DelTable(t *nftables.Table) {
	c.queue("delete table "+tkey(t), func(ts map[string]*fakeTable) error {
		if ts[tkey(t)] == nil {
			return unix.ENOENT
		}
		delete(ts, tkey(t))
		return nil
	})
}

// in runs fn on the table of t in the transaction's ruleset.
func in(t *nftables.Table, fn func(ft *fakeTable) error) func(map[string]*fakeTable) error {
	return func(ts map[string]*fakeTable) error {
		ft := ts[tkey(t)]
		if ft == nil {
			return unix.ENOENT
		}
		return fn(ft)
	}
}

func (c *fakeConn) FlushTable(t *nftables.Table) {
	c.queue("flush table "+tkey(t), in(t, func(ft *fakeTable) error {
		for _, ch := range ft.chains {
			ch.rules = nil
		}
		return nil
	}))
}

func (c *fakeConn) AddChain(ch *nftables.Chain) *nftables.Chain {
	c.queue("add chain "+ch.Name, in(ch.Table, func(ft *fakeTable) error {
		if ft.chains[ch.Name] == nil {
			ft.chains[ch.Name] = &fakeChain{c: ch}
		}
		return nil
	}))
	return ch
}

func (c *fakeConn) DelChain(ch *nftables.Chain) {
	c.queue("delete chain "+ch.Name, in(ch.Table, func(ft *fakeTable) error {
		fc := ft.chains[ch.Name]
		if fc == nil {
			return unix.ENOENT
		}
		if len(fc.rules) > 0 {
			return unix.EBUSY
		}
		delete(ft.chains, ch.Name)
		return nil
	}))
}

func (c *fakeConn) FlushChain(ch *nftables.Chain) {
	c.queue("flush chain "+ch.Name, in(ch.Table, func(ft *fakeTable) error {
		fc := ft.chains[ch.Name]
		if fc == nil {
			return unix.ENOENT
		}
		fc.rules = nil
		return nil
	}))
}

func (c *fakeConn) AddRule(r *nftables.Rule) *nftables.Rule {
	bad := c.f.bad != nil && c.f.bad(r)
	c.queue("add rule "+r.Chain.Name, in(r.Table, func(ft *fakeTable) error {
		fc := ft.chains[r.Chain.Name]
		if fc == nil || bad {
			if bad {
				return unix.EOPNOTSUPP
			}
			return unix.ENOENT
		}
		for _, e := range r.Exprs {
			if v, ok := e.(*expr.Verdict); ok && v.Chain != "" && ft.chains[v.Chain] == nil {
				return unix.ENOENT
			}
			if o, ok := e.(*expr.Objref); ok && ft.objs["counter "+o.Name] == nil && o.Type == objCounter {
				return unix.ENOENT
			}
		}
		fc.rules = append(fc.rules, r.Exprs)
		return nil
	}))
	return r
}

func (c *fakeConn) AddSet(s *nftables.Set, vals []nftables.SetElement) error {
	c.queue("add set "+s.Name, in(s.Table, func(ft *fakeTable) error {
		if ft.sets[s.Name] == nil {
			ft.sets[s.Name] = &fakeSet{s: s}
		}
		ft.sets[s.Name].els = append(ft.sets[s.Name].els, vals...)
		return nil
	}))
	return nil
}

func (c *fakeConn) DelSet(s *nftables.Set) {
	c.queue("delete set "+s.Name, in(s.Table, func(ft *fakeTable) error {
		if ft.sets[s.Name] == nil {
			return unix.ENOENT
		}
		delete(ft.sets, s.Name)
		return nil
	}))
}

func (c *fakeConn) FlushSet(s *nftables.Set) {
	c.queue("flush set "+s.Name, in(s.Table, func(ft *fakeTable) error {
		if ft.sets[s.Name] == nil {
			return unix.ENOENT
		}
		ft.sets[s.Name].els = nil
		return nil
	}))
}

func (c *fakeConn) SetAddElements(s *nftables.Set, vals []nftables.SetElement) error {
	c.queue(fmt.Sprintf("add elements %s %v", s.Name, elemsText(vals)), in(s.Table, func(ft *fakeTable) error {
		fs := ft.sets[s.Name]
		if fs == nil {
			return unix.ENOENT
		}
		fs.els = append(fs.els, vals...)
		return nil
	}))
	return nil
}

func (c *fakeConn) SetDeleteElements(s *nftables.Set, vals []nftables.SetElement) error {
	c.queue(fmt.Sprintf("delete elements %s %v", s.Name, elemsText(vals)), in(s.Table, func(ft *fakeTable) error {
		fs := ft.sets[s.Name]
		if fs == nil {
			return unix.ENOENT
		}
		for _, v := range vals {
			fs.els = slices.DeleteFunc(fs.els, func(e nftables.SetElement) bool { return string(e.Key) == string(v.Key) })
		}
		return nil
	}))
	return nil
}

func (c *fakeConn) AddObj(o nftables.Obj) nftables.Obj {
	c.queue("add object "+objKey(o), in(objTable(o), func(ft *fakeTable) error {
		if ft.objs[objKey(o)] == nil {
			ft.objs[objKey(o)] = o
		}
		return nil
	}))
	return o
}

func (c *fakeConn) DeleteObject(o nftables.Obj) {
	c.queue("delete object "+objKey(o), in(objTable(o), func(ft *fakeTable) error {
		if ft.objs[objKey(o)] == nil {
			return unix.ENOENT
		}
		delete(ft.objs, objKey(o))
		return nil
	}))
}

func (c *fakeConn) Pending() int { return len(c.batch) }

// Flush commits the batch as one transaction, or refuses it whole.
func (c *fakeConn) Flush() error {
	batch := c.batch
	c.batch = nil
	if len(batch) == 0 {
		return nil
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	next := c.f.clone()
	var errs []error
	var cmds []string
	for i, cmd := range batch {
		if err := cmd.do(next); err != nil {
			errs = append(errs, &nftables.CommandError{Index: i, Err: err})
		}
		cmds = append(cmds, cmd.what)
	}
	if len(errs) > 0 {
		c.f.refuse++
		return joinErrs(errs)
	}
	c.f.tables = next
	c.f.gen++
	c.f.txs = append(c.f.txs, cmds)
	return nil
}

type joined []error

func (j joined) Error() string   { return fmt.Sprint([]error(j)) }
func (j joined) Unwrap() []error { return j }

func joinErrs(errs []error) error { return joined(errs) }

// TestPlan runs the firewall's kernel side (Engine.apply, Kernel.Apply) against fakeNFT:
// a pass with nothing changed sends no transaction; a rule or an address-list element
// deleted behind routerd's back is restored by the next pass; a rule the kernel refuses
// changes nothing (its transaction is refused whole, and the rest, unchanged, is not sent
// again) and is shown invalid with the kernel's reason.
func TestPlan(t *testing.T) {
	f := newFakeNFT()
	e := &Engine{k: &Kernel{dial: f.dial}, refused: map[bool]map[RuleKey]refusal{}}
	rules := []*Rule{
		rule(1, "filter", "chain", "input", "action", "accept", "src-address-list", "trusted"),
		rule(2, "filter", "chain", "input", "action", "drop", "protocol", "tcp", "dst-port", "22"),
		rule(3, "filter", "chain", "forward", "action", "drop", "connection-state", "invalid"),
	}
	lists := map[string][]Entry{"trusted": {
		{From: netip.MustParseAddr("198.18.0.5"), To: netip.MustParseAddr("198.18.0.5")},
		{From: netip.MustParseAddr("198.18.1.0"), To: netip.MustParseAddr("198.18.1.255")},
	}}
	pass := func(rs []*Rule) *Plan {
		t.Helper()
		pl, err := e.apply(Config{Rules: rs, Lists: lists})
		if err != nil {
			t.Fatalf("pass: %v", err)
		}
		return pl
	}
	pass(rules)
	if txs := f.take(); len(txs) != 1 {
		t.Fatalf("first pass sent %d transactions, want 1: %q", len(txs), txs)
	}
	applied := f.dump()
	if !strings.Contains(applied, "chain filter/input") || !strings.Contains(applied, "198.18.0.5") {
		t.Fatalf("first pass left\n%s", applied)
	}

	t.Run("a pass with nothing changed sends nothing", func(t *testing.T) {
		for range 3 {
			pass(rules)
		}
		if txs := f.take(); len(txs) != 0 {
			t.Errorf("quiet passes sent %q", txs)
		}
		if f.dump() != applied {
			t.Errorf("the ruleset changed:\n%s", f.dump())
		}
	})

	t.Run("a rule deleted behind routerd's back is restored", func(t *testing.T) {
		f.behind(func(ts map[string]*fakeTable) {
			ch := ts[tkey(table(false))].chains["filter/input"]
			ch.rules = ch.rules[:len(ch.rules)-1]
		})
		pass(rules)
		if txs := f.take(); len(txs) != 1 {
			t.Errorf("repair sent %d transactions, want 1: %q", len(txs), txs)
		}
		if got := f.dump(); got != applied {
			t.Errorf("after the repair:\n%s\nwant\n%s", got, applied)
		}
		pass(rules)
		if txs := f.take(); len(txs) != 0 {
			t.Errorf("the pass after the repair sent %q", txs)
		}
	})

	t.Run("an address-list element deleted behind routerd's back is restored", func(t *testing.T) {
		f.behind(func(ts map[string]*fakeTable) {
			s := ts[tkey(table(false))].sets[staticSet("trusted")]
			s.els = slices.DeleteFunc(s.els, func(e nftables.SetElement) bool {
				return string(e.Key) == string(netip.MustParseAddr("198.18.0.5").AsSlice()) && !e.IntervalEnd
			})
		})
		if f.dump() == applied {
			t.Fatal("the element was not deleted")
		}
		pass(rules)
		if got := f.dump(); got != applied {
			t.Errorf("after the repair:\n%s\nwant\n%s", got, applied)
		}
		f.take()
		pass(rules)
		if txs := f.take(); len(txs) != 0 {
			t.Errorf("the pass after the repair sent %q", txs)
		}
	})

	t.Run("a rule the kernel refuses changes nothing", func(t *testing.T) {
		f.bad = func(r *nftables.Rule) bool {
			return slices.ContainsFunc(r.Exprs, func(e expr.Any) bool {
				o, ok := e.(*expr.Objref)
				return ok && o.Name == CounterName(RuleKey{"filter", 4})
			})
		}
		defer func() { f.bad = nil }()
		withBad := append(slices.Clone(rules), rule(4, "filter", "chain", "input", "action", "drop", "protocol", "udp"))
		refusedBefore := f.refuse
		pl := pass(withBad)
		// The difference is refused; so is the rebuild Kernel.Apply then tries (a
		// refused difference may be a table changed behind routerd's back). Without the
		// rule, the table is rebuilt as it was, in one transaction.
		if f.refuse != refusedBefore+2 {
			t.Errorf("%d transactions refused, want 2", f.refuse-refusedBefore)
		}
		if txs := f.take(); len(txs) != 1 {
			t.Errorf("sent %d transactions after the refusal, want 1: %q", len(txs), txs)
		}
		if got := f.dump(); got != applied {
			t.Errorf("the ruleset changed:\n%s\nwant\n%s", got, applied)
		}
		if why := pl.Invalid[RuleKey{"filter", 4}]; !strings.Contains(why, "the kernel refused the rule: operation not supported") {
			t.Errorf("rule 4 shows %q", why)
		}
		pass(withBad)
		if txs := f.take(); len(txs) != 0 || f.refuse != refusedBefore+2 {
			t.Errorf("the next pass sent %q, %d refused: a refused rule stays out until it changes", txs, f.refuse-refusedBefore-2)
		}
	})
}

// TestIntervalElementsTimeouts: every address of an address list's set carries the
// timeout of the entries covering it, so the kernel expires each entry at its own time
// even while routerd is stopped. Adjacent entries with different timeouts were merged
// into one element with the longest (QA: 198.18.1.90 timeout=20s and .91 timeout=1h
// became 198.18.1.90/31 timeout 1h); only equal timeouts, or both permanent, merge, and
// overlapping entries are cut where the timeout changes (a permanent entry wins, else
// the longest).
func TestIntervalElementsTimeouts(t *testing.T) {
	ent := func(from, to string, d time.Duration) Entry {
		return Entry{From: netip.MustParseAddr(from), To: netip.MustParseAddr(to), Timeout: d}
	}
	show := func(els []nftables.SetElement) string {
		var out []string
		for _, e := range els {
			a, _ := netip.AddrFromSlice(e.Key)
			if e.IntervalEnd {
				out = append(out, "-"+a.String())
			} else {
				out = append(out, fmt.Sprintf("%s@%s", a, e.Timeout))
			}
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name string
		es   []Entry
		want string
	}{
		{"adjacent, different timeouts", []Entry{ent("198.18.1.91", "198.18.1.91", time.Hour), ent("198.18.1.90", "198.18.1.90", 20*time.Second)},
			"198.18.1.90@20s -198.18.1.91 198.18.1.91@1h0m0s -198.18.1.92"},
		{"adjacent, timed and permanent", []Entry{ent("198.18.1.90", "198.18.1.90", 20*time.Second), ent("198.18.1.91", "198.18.1.91", 0)},
			"198.18.1.90@20s -198.18.1.91 198.18.1.91@0s -198.18.1.92"},
		{"adjacent, equal timeouts merge", []Entry{ent("198.18.1.90", "198.18.1.90", time.Hour), ent("198.18.1.91", "198.18.1.91", time.Hour),
			ent("198.18.1.92", "198.18.1.95", 0), ent("198.18.1.96", "198.18.1.96", 0)},
			"198.18.1.90@1h0m0s -198.18.1.92 198.18.1.92@0s -198.18.1.97"},
		{"a longer entry inside a shorter one is cut out", []Entry{ent("198.18.1.0", "198.18.1.255", 20*time.Second), ent("198.18.1.5", "198.18.1.5", time.Hour)},
			"198.18.1.0@20s -198.18.1.5 198.18.1.5@1h0m0s -198.18.1.6 198.18.1.6@20s -198.18.2.0"},
		{"a permanent entry covers a timed one", []Entry{ent("198.18.1.0", "198.18.1.255", 0), ent("198.18.1.5", "198.18.1.7", time.Hour)},
			"198.18.1.0@0s -198.18.2.0"},
		{"overlaps: permanent, else the longest", []Entry{ent("198.18.1.0", "198.18.1.9", time.Minute), ent("198.18.1.5", "198.18.1.14", time.Hour),
			ent("198.18.1.8", "198.18.1.8", 0), ent("198.18.1.20", "198.18.1.20", time.Minute)},
			"198.18.1.0@1m0s -198.18.1.5 198.18.1.5@1h0m0s -198.18.1.8 198.18.1.8@0s -198.18.1.9 198.18.1.9@1h0m0s -198.18.1.15 198.18.1.20@1m0s -198.18.1.21"},
		{"to the last address", []Entry{ent("255.255.255.0", "255.255.255.255", 0), ent("255.255.255.255", "255.255.255.255", time.Hour)},
			"255.255.255.0@0s"},
		{"duplicates", []Entry{ent("2001:db8::1", "2001:db8::1", time.Minute), ent("2001:db8::1", "2001:db8::1", time.Minute)},
			"2001:db8::1@1m0s -2001:db8::2"},
	} {
		if got := show(intervalElements(tc.es)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

// TestPlanListIncremental: a pass sends an address list's set only what changed since
// the last one (issue 15: an import's passes re-sent the whole list each time, 100,000
// elements per pass): entries added and removed, and a range that grows by merging with
// a new neighbour is replaced; the set ends as a table built from scratch has it. A list
// with timed entries is loaded again whole (each element with the time it has left).
func TestPlanListIncremental(t *testing.T) {
	a := netip.MustParseAddr
	ent := func(from, to string) Entry { return Entry{From: a(from), To: a(to)} }
	rules := []*Rule{rule(1, "filter", "chain", "forward", "action", "drop", "src-address-list", "bl")}
	f := newFakeNFT()
	e := &Engine{k: &Kernel{dial: f.dial}, refused: map[bool]map[RuleKey]refusal{}}
	var bl []Entry
	for i := 0; i < 1000; i++ {
		ip := netip.AddrFrom4([4]byte{10, 0, byte(i >> 7), byte(2 * i)})
		bl = append(bl, Entry{From: ip, To: ip})
	}
	pass := func(lists map[string][]Entry) {
		t.Helper()
		if _, err := e.apply(Config{Rules: rules, Lists: lists}); err != nil {
			t.Fatal(err)
		}
	}
	pass(map[string][]Entry{"bl": bl})
	f.take()
	next := append(slices.Clone(bl[1:]), // 10.0.0.0 removed
		ent("10.0.0.3", "10.0.0.3"), // joins 10.0.0.2 and 10.0.0.4 into one range
		ent("198.18.0.1", "198.18.0.1"))
	pass(map[string][]Entry{"bl": next})
	txs := f.take()
	if len(txs) != 1 {
		t.Fatalf("%d transactions, want 1: %q", len(txs), txs)
	}
	got := strings.Join(txs[0], "\n")
	if strings.Contains(got, "flush set") || strings.Count(got, "elements") != 2 {
		t.Fatalf("the change sent\n%s", got)
	}
	for _, want := range []string{"delete elements list/bl", "10.0.0.0", "10.0.0.2", "10.0.0.4", "add elements list/bl", "198.18.0.1"} {
		if !strings.Contains(got, want) {
			t.Errorf("the change lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "10.0.0.6") {
		t.Errorf("an unchanged entry was sent:\n%s", got)
	}
	fresh := newFakeNFT()
	fe := &Engine{k: &Kernel{dial: fresh.dial}, refused: map[bool]map[RuleKey]refusal{}}
	if _, err := fe.apply(Config{Rules: rules, Lists: map[string][]Entry{"bl": next}}); err != nil {
		t.Fatal(err)
	}
	if f.dump() != fresh.dump() {
		t.Fatalf("after the change:\n%s\nbuilt from scratch:\n%s", f.dump(), fresh.dump())
	}
	// Timed entries: the whole set again.
	timed := append(slices.Clone(next), Entry{From: a("198.18.0.9"), To: a("198.18.0.9"), Timeout: time.Hour})
	pass(map[string][]Entry{"bl": timed})
	if txs := f.take(); len(txs) != 1 || !strings.Contains(strings.Join(txs[0], "\n"), "flush set list/bl") {
		t.Fatalf("a timed entry's change sent %q", txs)
	}
}
