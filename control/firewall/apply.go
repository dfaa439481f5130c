package firewall

import (
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TableName is the name of routerd's table in the ip and ip6 families. routerd touches no
// other table.
const TableName = "routerd"

// Kernel applies plans to one network namespace's nftables.
type Kernel struct {
	// NetNS is a network namespace file descriptor; 0 is the daemon's own namespace.
	NetNS int

	mu sync.Mutex
	// last is what the last acknowledged Apply left in each family's table (nil: not
	// known, the next Apply rebuilds the table).
	last map[bool]*tableState
	// gen is the nftables generation at which each family's table was last known to be
	// as routerd left it (seen: known at all); drift.go.
	gen  map[bool]uint32
	seen map[bool]bool
	// refusedTx counts transactions the kernel refused for some rules (RefusedError).
	refusedTx int
	// dial opens the namespace's nftables; nil is the kernel's (a plan test sets a fake).
	dial func() (Netfilter, error)
}

// refusals is the number of transactions the kernel refused for some rules.
func (k *Kernel) refusals() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.refusedTx
}

// tableState is what routerd's last transaction left in a family's table.
type tableState struct {
	chains   map[string]chainState
	counters map[string]bool
	helpers  map[string]bool
	sets     map[string]bool   // static, dynamic and meter sets
	lists    map[string]uint64 // the static sets' contents, fingerprinted
	// elems are the static sets' elements (intervalElements), for the next pass to send
	// only what changed.
	elems map[string][]nftables.SetElement
	ports string // the bridge table's ports (Plan.BridgePorts), "" without one
}

type chainState struct {
	sig  string   // hook, priority and type
	sums []uint64 // the rules' RulePlan.Sum, in order
}

func chainSig(ch *ChainPlan) string {
	var b strings.Builder
	if ch.Hook != nil {
		fmt.Fprintf(&b, "hook=%d", *ch.Hook)
	}
	if ch.Prio != nil {
		fmt.Fprintf(&b, " prio=%d", *ch.Prio)
	}
	fmt.Fprintf(&b, " type=%s", ch.Type)
	return b.String()
}

// listSum fingerprints a static set's entries (time left included: a timed entry's
// set is loaded again on each pass, so its timer keeps running from where it was).
func listSum(es []Entry) uint64 {
	var h maphash.Hash
	h.SetSeed(sumSeed)
	for _, e := range es {
		h.Write(e.From.AsSlice())
		h.Write(e.To.AsSlice())
		fmt.Fprintf(&h, "%d;", e.Timeout)
	}
	return h.Sum64()
}

// stateOf is what the table holds once pl is applied; an unchanged list's elements are
// taken from prev (nil: none), not worked out again.
func stateOf(pl *Plan, lists map[string][]Entry, prev *tableState) *tableState {
	st := &tableState{chains: map[string]chainState{}, counters: make(map[string]bool, len(pl.Counters)), helpers: map[string]bool{},
		sets: map[string]bool{}, lists: map[string]uint64{}, elems: map[string][]nftables.SetElement{},
		ports: fmt.Sprint(pl.BridgePorts, pl.BridgeClasses)}
	for _, ch := range pl.Chains {
		cs := chainState{sig: chainSig(ch), sums: make([]uint64, 0, len(ch.Rules))}
		for _, r := range ch.Rules {
			for range r.Exprs {
				cs.sums = append(cs.sums, r.Sum)
			}
		}
		st.chains[ch.Name] = cs
	}
	for _, n := range pl.Counters {
		st.counters[n] = true
	}
	for _, h := range pl.Helpers {
		st.helpers[h.objName()] = true
	}
	for _, l := range pl.Lists {
		st.sets[staticSet(l)], st.sets[dynamicSet(l)] = true, true
		st.lists[l] = listSum(lists[l])
		if els, ok := prev.elems[l]; ok && prev.lists[l] == st.lists[l] {
			st.elems[l] = els
		} else {
			st.elems[l] = intervalElements(lists[l])
		}
	}
	for _, m := range pl.Meters {
		st.sets[m.Name] = true
	}
	return st
}

func (k *Kernel) conn() (Netfilter, error) {
	if k.dial != nil {
		return k.dial()
	}
	// A whole ruleset goes in one batch, which one sendmsg carries; netlink refuses a
	// message larger than the socket's send buffer, and the kernel acknowledges every
	// message of the batch. Both buffers are raised past the defaults (root may).
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		rc, err := c.SyscallConn()
		if err != nil {
			return err
		}
		// Without CAP_NET_ADMIN the FORCE options fail and the defaults stay, which still
		// carry small rulesets; so their errors are not the caller's.
		return rc.Control(func(fd uintptr) {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 1<<28)
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 1<<26)
		})
	})}
	if k.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(k.NetNS))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, err
	}
	return nftConn{c, k.NetNS}, nil
}

func table(v6 bool) *nftables.Table {
	f := nftables.TableFamilyIPv4
	if v6 {
		f = nftables.TableFamilyIPv6
	}
	return &nftables.Table{Name: TableName, Family: f}
}

// Apply replaces the contents of the family's table with the plan in one nftables
// transaction: the kernel either switches from the old ruleset to the new one at once or,
// when it refuses any part, keeps the old one untouched. Named counters and the dynamic
// address-list sets survive (they are only added, or removed when no longer used).
//
// After a first Apply rebuilt the table, the next ones send only the difference from
// what the last one left: rules appended to a chain are appended, a chain changed in
// any other way is flushed and filled again, chains, sets and counters are added or
// deleted as the plan says, and unchanged address lists are not sent again. An import
// that the engine applies in passes as it runs thus sends each rule once. When the
// kernel refuses such a transaction (the table was changed behind routerd's back), the
// table is rebuilt from the plan in a second one.
func (k *Kernel) Apply(pl *Plan, lists map[string][]Entry) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last == nil {
		k.last = map[bool]*tableState{}
	}
	prev := k.last[pl.V6]
	k.last[pl.V6] = nil // unknown until the kernel acknowledges
	if prev != nil {
		if why := k.drifted(pl.V6, prev, lists); why != "" {
			// Changed behind routerd's back (nft delete table, chain or rule, flush
			// ruleset): the difference from what it left would not restore it, so
			// rebuild.
			slog.Warn("firewall: the kernel's table was changed behind routerd's back; rebuilding it",
				"table", table(pl.V6).Name, "ipv6", pl.V6, "found", why)
			prev = nil
		}
	}
	base := prev
	if base == nil {
		base = &tableState{}
	}
	next := stateOf(pl, lists, base)
	if prev != nil && len(pl.Chains)+len(pl.Lists) > 0 {
		if next.same(prev) {
			// Nothing to change: no transaction (the kernel would validate the whole
			// table again to commit an empty one).
			k.last[pl.V6] = next
			return nil
		}
		before := k.generationBefore()
		if err := k.applyDiff(pl, lists, prev, next); err == nil {
			k.last[pl.V6] = next
			k.committed(pl.V6, before)
			return nil
		}
	}
	before := k.generationBefore()
	if err := k.applyAll(pl, lists); err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			k.refusedTx++
		}
		return err
	}
	k.committed(pl.V6, before)
	if len(pl.Chains)+len(pl.Lists) > 0 {
		k.last[pl.V6] = next
	}
	return nil
}

// same reports whether st and o are the same table: applyDiff would send nothing but
// the table itself.
func (st *tableState) same(o *tableState) bool {
	return st.ports == o.ports && maps.Equal(st.counters, o.counters) && maps.Equal(st.helpers, o.helpers) &&
		maps.Equal(st.sets, o.sets) && maps.Equal(st.lists, o.lists) &&
		maps.EqualFunc(st.chains, o.chains, func(a, b chainState) bool { return a.sig == b.sig && slices.Equal(a.sums, b.sums) })
}

// missingChains lists the chains of prev that the family's table no longer has (all of
// them when the table is gone): one chain dump, when the generation moved (drift.go).
func (k *Kernel) missingChains(v6 bool, prev *tableState) []string {
	if len(prev.chains) == 0 {
		return nil
	}
	c, err := k.conn()
	if err != nil {
		return nil
	}
	chains, err := c.ListChainsOfTableFamily(table(v6).Family)
	if err != nil {
		return nil // the apply that follows finds out
	}
	have := map[string]bool{}
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == TableName {
			have[ch.Name] = true
		}
	}
	var gone []string
	for name := range prev.chains {
		if !have[name] {
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	return gone
}

// applyDiff sends what differs between prev (the table as the last Apply left it) and
// pl (next: stateOf it), in one transaction.
func (k *Kernel) applyDiff(pl *Plan, lists map[string][]Entry, prev, next *tableState) error {
	for _, ch := range pl.Chains {
		if old, ok := prev.chains[ch.Name]; ok && old.sig != chainSig(ch) {
			return errRebuild // a base chain's hook cannot change in place
		}
	}
	c, err := k.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table(pl.V6)
	c.AddTable(t)
	for _, name := range pl.Counters {
		if !prev.counters[name] {
			c.AddObj(&nftables.CounterObj{Table: t, Name: name})
		}
	}
	for name, o := range helperObjects(t, pl.Helpers) {
		if !prev.helpers[name] {
			c.AddObj(o)
		}
	}
	keyType := nftables.TypeIPAddr
	if pl.V6 {
		keyType = nftables.TypeIP6Addr
	}
	for _, l := range pl.Lists {
		st := &nftables.Set{Table: t, Name: staticSet(l), KeyType: keyType, Interval: true, HasTimeout: true}
		if !prev.sets[st.Name] {
			if err := c.AddSet(st, nil); err != nil {
				return fmt.Errorf("nftables: set %s: %w", st.Name, err)
			}
		}
		if sum, ok := prev.lists[l]; !ok || sum != next.lists[l] {
			old, had := prev.elems[l]
			add := next.elems[l]
			if prev.sets[st.Name] && had && allPermanent(old) && allPermanent(add) {
				// Only what changed: an import's pass sends the entries added since the
				// last one, not the whole list again (100,000 elements per pass).
				var del []nftables.SetElement
				del, add = diffIntervals(old, add)
				for _, els := range chunks(del, 512) {
					if err := c.SetDeleteElements(st, els); err != nil {
						return fmt.Errorf("nftables: set %s: %w", st.Name, err)
					}
				}
			} else if prev.sets[st.Name] {
				// Timed elements: loaded again with the time each has left.
				c.FlushSet(st)
			}
			for _, els := range chunks(add, 512) {
				if err := c.SetAddElements(st, els); err != nil {
					return fmt.Errorf("nftables: set %s: %w", st.Name, err)
				}
			}
		}
		dy := &nftables.Set{Table: t, Name: dynamicSet(l), KeyType: keyType, HasTimeout: true, Dynamic: true, Size: 1 << 20}
		if !prev.sets[dy.Name] {
			if err := c.AddSet(dy, nil); err != nil {
				return fmt.Errorf("nftables: set %s: %w", dy.Name, err)
			}
		}
	}
	for _, m := range pl.Meters {
		if prev.sets[m.Name] {
			continue
		}
		ms := &nftables.Set{Table: t, Name: m.Name, KeyType: m.Key, Concatenation: m.Concat, Dynamic: true,
			HasTimeout: m.Timeout > 0, Timeout: m.Timeout, Size: meterSetMaxLen}
		if err := c.AddSet(ms, nil); err != nil {
			return fmt.Errorf("nftables: set %s: %w", ms.Name, err)
		}
	}
	var own owners
	// New chains first, so that jumps to them resolve.
	for _, ch := range pl.Chains {
		if _, ok := prev.chains[ch.Name]; !ok {
			own.chain(c, ch.Name)
			c.AddChain(newChain(t, ch))
		}
	}
	for _, ch := range pl.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: t}
		old, had := prev.chains[ch.Name]
		keep := 0 // kernel rules kept at the head of the chain
		if had {
			if isPrefix(old.sums, next.chains[ch.Name].sums) {
				keep = len(old.sums)
			} else {
				c.FlushChain(nc)
			}
		}
		n := 0
		for _, r := range ch.Rules {
			for _, es := range r.Exprs {
				if n >= keep {
					if err := queueRule(c, &own, t, nc, r.Key, es); err != nil {
						return err
					}
				}
				n++
			}
		}
	}
	// What the new ruleset no longer uses goes last, once no rule refers to it.
	for name := range prev.chains {
		if _, ok := next.chains[name]; !ok {
			c.FlushChain(&nftables.Chain{Name: name, Table: t})
		}
	}
	for name := range prev.chains {
		if _, ok := next.chains[name]; !ok {
			c.DelChain(&nftables.Chain{Name: name, Table: t})
		}
	}
	for name := range prev.sets {
		if !next.sets[name] {
			c.DelSet(&nftables.Set{Table: t, Name: name})
		}
	}
	for name := range prev.counters {
		if !next.counters[name] {
			c.DeleteObject(&nftables.CounterObj{Table: t, Name: name})
		}
	}
	for name := range prev.helpers {
		if !next.helpers[name] {
			c.DeleteObject(&nftables.NamedObj{Table: t, Name: name, Type: nftables.ObjTypeCtHelper})
		}
	}
	if prev.ports != next.ports {
		bridgePorts(c, pl, prev.ports != "")
	}
	return own.flush(c)
}

// bridgeTable is the bridge-family table that numbers the ports of a family's
// in-bridge-port rules (see bridgePortShift); each family has its own, as each numbers
// its own ports.
func bridgeTable(v6 bool) *nftables.Table {
	name := TableName + "-ip"
	if v6 {
		name += "6"
	}
	return &nftables.Table{Name: name, Family: nftables.TableFamilyBridge}
}

// bridgePorts puts the bridge table of pl's family in the transaction: deleted when no
// rule needs it, else filled again (it holds a rule per port, writing the port's class
// into the packet mark).
func bridgePorts(c Netfilter, pl *Plan, existed bool) {
	bt := bridgeTable(pl.V6)
	if len(pl.BridgePorts) == 0 {
		if existed {
			c.DelTable(bt)
		}
		return
	}
	c.AddTable(bt)
	if existed {
		c.FlushTable(bt)
	}
	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: "ports", Table: bt, Hooknum: nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRef(-350), Type: nftables.ChainTypeFilter, Policy: &accept})
	proto := []byte{0x08, 0x00} // the ether type the family's rules see
	if pl.V6 {
		proto = []byte{0x86, 0xdd}
	}
	for i, n := range pl.BridgePorts {
		class := pl.BridgeClasses[i]
		if class > maxPortClasses {
			continue // its rules are invalid
		}
		c.AddRule(&nftables.Rule{Table: bt, Chain: pre, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyPROTOCOL, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: proto},
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(n)},
			&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(^uint32(BridgePortMarkMask)),
				Xor: ne32(class << bridgePortShift)},
			&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
		}})
	}
}

// errRebuild: the difference cannot be applied in place; the table is rebuilt.
var errRebuild = errors.New("nftables: the table is rebuilt")

// isPrefix reports whether old is the head of next and every rule of it has a
// fingerprint (rules without one are never assumed equal).
func isPrefix(old, next []uint64) bool {
	if len(old) > len(next) {
		return false
	}
	for i, s := range old {
		if s == 0 || next[i] != s {
			return false
		}
	}
	return true
}

// applyAll rebuilds the family's table from pl in one transaction.
func (k *Kernel) applyAll(pl *Plan, lists map[string][]Entry) error {
	c, err := k.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table(pl.V6)
	exists := true
	var oldChains []*nftables.Chain
	var oldSets []*nftables.Set
	var oldObjs []nftables.Obj
	if _, err := c.ListTableOfFamily(TableName, t.Family); err != nil {
		exists = false
	} else {
		if oldChains, err = c.ListChainsOfTableFamily(t.Family); err != nil {
			return fmt.Errorf("nftables: list chains: %w", err)
		}
		oldChains = slices.DeleteFunc(oldChains, func(ch *nftables.Chain) bool { return ch.Table.Name != TableName })
		if oldSets, err = c.GetSets(t); err != nil {
			return fmt.Errorf("nftables: list sets: %w", err)
		}
		if oldObjs, err = c.GetNamedObjects(t); err != nil {
			return fmt.Errorf("nftables: list counters: %w", err)
		}
	}
	var oldHelpers []string
	for _, o := range oldObjs {
		if no, ok := o.(*nftables.NamedObj); ok && no.Type == nftables.ObjTypeCtHelper {
			oldHelpers = append(oldHelpers, no.Name)
		}
	}
	bt := bridgeTable(pl.V6)
	_, err = c.ListTableOfFamily(bt.Name, bt.Family)
	bridgeExists := err == nil
	if len(pl.Chains) == 0 && len(pl.Lists) == 0 {
		if bridgeExists {
			c.DelTable(bt)
		}
		if exists {
			c.DelTable(t)
		}
		if exists || bridgeExists {
			return flush(c)
		}
		return nil
	}
	c.AddTable(t)
	c.FlushTable(t)
	haveObj := map[string]bool{}
	for _, o := range oldObjs {
		if no, ok := o.(*nftables.NamedObj); ok && no.Type == nftables.ObjTypeCounter {
			haveObj[no.Name] = true
		}
	}
	for _, name := range pl.Counters {
		if !haveObj[name] {
			c.AddObj(&nftables.CounterObj{Table: t, Name: name})
		}
	}
	helpers := helperObjects(t, pl.Helpers)
	for name, o := range helpers {
		if !slices.Contains(oldHelpers, name) {
			c.AddObj(o)
		}
	}
	haveSet := map[string]bool{}
	for _, s := range oldSets {
		haveSet[s.Name] = true
	}
	keyType := nftables.TypeIPAddr
	if pl.V6 {
		keyType = nftables.TypeIP6Addr
	}
	for _, l := range pl.Lists {
		st := &nftables.Set{Table: t, Name: staticSet(l), KeyType: keyType, Interval: true, HasTimeout: true}
		if !haveSet[st.Name] {
			if err := c.AddSet(st, nil); err != nil {
				return fmt.Errorf("nftables: set %s: %w", st.Name, err)
			}
		} else {
			c.FlushSet(st)
		}
		// One message per chunk: a netlink attribute is at most 64 KiB long, and a longer
		// element list would be cut short (silently turning the last range open-ended).
		for _, els := range chunks(intervalElements(lists[l]), 512) {
			if err := c.SetAddElements(st, els); err != nil {
				return fmt.Errorf("nftables: set %s: %w", st.Name, err)
			}
		}
		dy := &nftables.Set{Table: t, Name: dynamicSet(l), KeyType: keyType, HasTimeout: true, Dynamic: true, Size: 1 << 20}
		if !haveSet[dy.Name] {
			if err := c.AddSet(dy, nil); err != nil {
				return fmt.Errorf("nftables: set %s: %w", dy.Name, err)
			}
		}
	}
	for _, m := range pl.Meters {
		if haveSet[m.Name] {
			continue
		}
		ms := &nftables.Set{Table: t, Name: m.Name, KeyType: m.Key, Concatenation: m.Concat, Dynamic: true,
			HasTimeout: m.Timeout > 0, Timeout: m.Timeout, Size: meterSetMaxLen}
		if err := c.AddSet(ms, nil); err != nil {
			return fmt.Errorf("nftables: set %s: %w", ms.Name, err)
		}
	}
	planned := map[string]bool{}
	var own owners
	for _, ch := range pl.Chains {
		planned[ch.Name] = true
		own.chain(c, ch.Name)
		c.AddChain(newChain(t, ch))
	}
	for _, ch := range pl.Chains {
		nc := &nftables.Chain{Name: ch.Name, Table: t}
		for _, r := range ch.Rules {
			for _, es := range r.Exprs {
				if err := queueRule(c, &own, t, nc, r.Key, es); err != nil {
					return err
				}
			}
		}
	}
	// What the new ruleset no longer uses goes last, once no rule refers to it.
	for _, ch := range oldChains {
		if !planned[ch.Name] {
			c.DelChain(&nftables.Chain{Name: ch.Name, Table: t})
		}
	}
	usedSet := map[string]bool{}
	for _, l := range pl.Lists {
		usedSet[staticSet(l)], usedSet[dynamicSet(l)] = true, true
	}
	for _, m := range pl.Meters {
		usedSet[m.Name] = true
	}
	for _, s := range oldSets {
		if !usedSet[s.Name] && !s.Anonymous {
			c.DelSet(&nftables.Set{Table: t, Name: s.Name})
		}
	}
	usedObj := map[string]bool{}
	for _, n := range pl.Counters {
		usedObj[n] = true
	}
	for name := range haveObj {
		if !usedObj[name] {
			c.DeleteObject(&nftables.CounterObj{Table: t, Name: name})
		}
	}
	for _, name := range oldHelpers {
		if helpers[name] == nil {
			c.DeleteObject(&nftables.NamedObj{Table: t, Name: name, Type: nftables.ObjTypeCtHelper})
		}
	}
	bridgePorts(c, pl, bridgeExists)
	return own.flush(c)
}

// newChain is the kernel chain of ch (base chains accept by default, as RouterOS's).
func newChain(t *nftables.Table, ch *ChainPlan) *nftables.Chain {
	nc := &nftables.Chain{Name: ch.Name, Table: t, Hooknum: ch.Hook, Priority: ch.Prio, Type: ch.Type}
	if ch.Hook != nil {
		accept := nftables.ChainPolicyAccept
		nc.Policy = &accept
	}
	return nc
}

func flush(c Netfilter) error {
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: the kernel refused the ruleset: %w", err)
	}
	return nil
}

// RefusedError is a transaction the kernel refused because of some configured rules
// or the chains they are in, each with the kernel's reason: the rest of the plan can
// apply without them (the engine leaves them out and marks them invalid, so one rule
// the kernel refuses does not stop every later change).
type RefusedError struct {
	Rules  map[RuleKey]string
	Chains map[string]string // nftables chain names
	Err    error
}

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// owners records which chain's creation and which configured rule each command of a
// batch carries, by the command's index (nftables.CommandError), in queue order.
type owners []cmdOwner

type cmdOwner struct {
	at     int
	chain  string  // the chain created, or the chain the rule goes into
	rule   RuleKey // the configured rule (hasKey), else routerd's own rule
	create bool    // the chain's creation
	hasKey bool
}

func (o *owners) chain(c Netfilter, name string) {
	*o = append(*o, cmdOwner{at: c.Pending(), chain: name, create: true})
}

func (o *owners) rule(c Netfilter, chain string, k RuleKey) {
	*o = append(*o, cmdOwner{at: c.Pending(), chain: chain, rule: k, hasKey: k != (RuleKey{})})
}

// flush sends the batch; when the kernel refuses it only for commands that create a
// chain or add a configured rule, the error is a *RefusedError naming them.
func (o owners) flush(c Netfilter) error {
	err := flush(c)
	if err == nil {
		return nil
	}
	var cmds []*nftables.CommandError
	walkErrors(err, func(e error) {
		if ce, ok := e.(*nftables.CommandError); ok {
			cmds = append(cmds, ce)
		}
	})
	if len(cmds) == 0 {
		return err
	}
	re := &RefusedError{Rules: map[RuleKey]string{}, Chains: map[string]string{}, Err: err}
	var rules []cmdOwner
	var why []*nftables.CommandError
	for _, ce := range cmds {
		i, found := slices.BinarySearchFunc(o, ce.Index, func(w cmdOwner, at int) int { return w.at - at })
		if !found {
			return err // a set, counter, helper or the table itself: nothing to leave out
		}
		switch w := o[i]; {
		case w.create:
			re.Chains[w.chain] = "the kernel refused the chain: " + reason(ce)
		case w.hasKey:
			rules = append(rules, w)
			why = append(why, ce)
		default:
			return err
		}
	}
	for i, w := range rules {
		if _, bad := re.Chains[w.chain]; bad {
			continue // its chain was refused
		}
		if errors.Is(why[i], unix.ENOENT) && len(re.Chains) > 0 {
			continue // a jump to a refused chain: the next compile finds no such chain
		}
		re.Rules[w.rule] = "the kernel refused the rule: " + reason(why[i])
	}
	return re
}

// reason is the kernel's words for a refused command: the errno, and the extended
// acknowledgement's message when the kernel gave one.
func reason(ce *nftables.CommandError) string {
	var oe *netlink.OpError
	if errors.As(ce, &oe) {
		msg := oe.Err.Error()
		if oe.Message != "" {
			msg += " (" + oe.Message + ")"
		}
		return msg
	}
	return ce.Error()
}

// walkErrors calls fn for err and every error it wraps, through joins.
func walkErrors(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			walkErrors(e, fn)
		}
	case interface{ Unwrap() error }:
		walkErrors(u.Unwrap(), fn)
	}
}

// intervalElements turns entries into the start/end elements of an interval set. Each
// address gets the timeout of the entries covering it, so that every entry keeps its
// own in the kernel, which goes on expiring them while routerd is stopped: permanent if
// a permanent entry covers it, else the longest. The kernel refuses overlapping
// intervals, so overlapping entries are cut where that timeout changes; adjacent pieces
// with the same timeout are one element. (Entries with different timeouts were merged
// into one carrying the longest: 198.18.1.90 timeout=20s and .91 timeout=1h became
// 198.18.1.90/31 timeout 1h, QA.)
func intervalElements(es []Entry) []nftables.SetElement {
	starts := slices.Clone(es)
	slices.SortFunc(starts, func(a, b Entry) int { return a.From.Compare(b.From) })
	ends := slices.Clone(es)
	slices.SortFunc(ends, func(a, b Entry) int { return a.To.Compare(b.To) })
	active := map[time.Duration]int{} // timeout (0: permanent) → entries covering the sweep's address
	cover := func() (time.Duration, bool) {
		if active[0] > 0 {
			return 0, true
		}
		var t time.Duration
		for k := range active {
			t = max(t, k)
		}
		return t, len(active) > 0
	}
	var pieces []Entry
	var from netip.Addr // the start of the piece being swept
	emit := func(to netip.Addr, timeout time.Duration) {
		if !from.IsValid() || from.Compare(to) > 0 {
			return
		}
		if n := len(pieces); n > 0 && pieces[n-1].Timeout == timeout && pieces[n-1].To.Next() == from {
			pieces[n-1].To = to
			return
		}
		pieces = append(pieces, Entry{From: from, To: to, Timeout: timeout})
	}
	for i, j := 0, 0; j < len(ends); {
		before, was := cover()
		var last, at netip.Addr // a change at at closes the piece at last
		if i < len(starts) && starts[i].From.Compare(ends[j].To) <= 0 {
			at, last = starts[i].From, starts[i].From.Prev()
			active[starts[i].Timeout]++
			i++
		} else {
			at, last = ends[j].To.Next(), ends[j].To
			if active[ends[j].Timeout]--; active[ends[j].Timeout] == 0 {
				delete(active, ends[j].Timeout)
			}
			j++
		}
		after, is := cover()
		if was == is && before == after {
			continue
		}
		if was {
			emit(last, before)
		}
		from = netip.Addr{}
		if is {
			from = at
		}
	}
	var out []nftables.SetElement
	for _, e := range pieces {
		out = append(out, nftables.SetElement{Key: e.From.AsSlice(), Timeout: e.Timeout})
		if end := e.To.Next(); end.IsValid() {
			out = append(out, nftables.SetElement{Key: end.AsSlice(), IntervalEnd: true})
		}
	}
	return out
}

// allPermanent reports whether no element has a timeout.
func allPermanent(els []nftables.SetElement) bool {
	for _, e := range els {
		if e.Timeout != 0 {
			return false
		}
	}
	return true
}

// intervals pairs interval elements (intervalElements) into their ranges: a start and
// its end, or a start alone at the top of the address space.
func intervals(els []nftables.SetElement) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	for i := 0; i < len(els); i++ {
		if i+1 < len(els) && els[i+1].IntervalEnd {
			out = append(out, els[i:i+2])
			i++
			continue
		}
		out = append(out, els[i:i+1])
	}
	return out
}

// diffIntervals is what turns a set holding the ranges of old into one holding those
// of next: the ranges to delete, then those to add. Both are sets of disjoint ranges,
// so a range of next that old lacks overlaps only ranges that next lacks, which go
// first: the kernel never sees two overlap.
func diffIntervals(old, next []nftables.SetElement) (del, add []nftables.SetElement) {
	key := func(r []nftables.SetElement) string {
		k := string(r[0].Key)
		if len(r) == 2 {
			k += "-" + string(r[1].Key)
		}
		return k
	}
	have := map[string]bool{}
	for _, r := range intervals(old) {
		have[key(r)] = true
	}
	want := map[string]bool{}
	for _, r := range intervals(next) {
		want[key(r)] = true
		if !have[key(r)] {
			add = append(add, r...)
		}
	}
	for _, r := range intervals(old) {
		if !want[key(r)] {
			del = append(del, r...)
		}
	}
	return del, add
}

// chunks splits interval elements into groups of at most n, never between a range's
// start and its end.
func chunks(els []nftables.SetElement, n int) [][]nftables.SetElement {
	var out [][]nftables.SetElement
	for len(els) > 0 {
		k := min(n, len(els))
		if k < len(els) && els[k].IntervalEnd {
			k++
		}
		out = append(out, els[:k])
		els = els[k:]
	}
	return out
}

// Counter is one rule's counters as the kernel has them.
type Counter struct{ Packets, Bytes uint64 }

// Counters reads the named counters of a family's table, optionally resetting them.
func (k *Kernel) Counters(v6 bool, reset bool) (map[string]Counter, error) {
	c, err := k.conn()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	t := table(v6)
	if _, err := c.ListTableOfFamily(TableName, t.Family); err != nil {
		return map[string]Counter{}, nil
	}
	var objs []nftables.Obj
	if reset {
		objs, err = c.ResetNamedObjects(t)
	} else {
		objs, err = c.GetNamedObjects(t)
	}
	if err != nil {
		return nil, fmt.Errorf("nftables: read counters: %w", err)
	}
	out := map[string]Counter{}
	for _, o := range objs {
		if no, ok := o.(*nftables.NamedObj); ok && no.Type == nftables.ObjTypeCounter {
			if co, ok := no.Obj.(*expr.Counter); ok {
				out[no.Name] = Counter{Packets: co.Packets, Bytes: co.Bytes}
			}
		}
	}
	return out, nil
}

// ResetCounter zeroes one named counter.
func (k *Kernel) ResetCounter(v6 bool, name string) error {
	c, err := k.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	if _, err := c.ResetObject(&nftables.CounterObj{Table: table(v6), Name: name}); err != nil {
		return fmt.Errorf("nftables: reset counter %s: %w", name, err)
	}
	return nil
}

// StaticTimeouts reads the time left of the timed elements of a family's address-list
// sets, by list and first address; exists is false when routerd's table is not there.
func (k *Kernel) StaticTimeouts(v6 bool) (left map[string]map[netip.Addr]time.Duration, exists bool, err error) {
	c, err := k.conn()
	if err != nil {
		return nil, false, fmt.Errorf("nftables: %w", err)
	}
	t := table(v6)
	if _, err := c.ListTableOfFamily(TableName, t.Family); err != nil {
		return nil, false, nil
	}
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, true, fmt.Errorf("nftables: list sets: %w", err)
	}
	left = map[string]map[netip.Addr]time.Duration{}
	for _, s := range sets {
		list, ok := strings.CutPrefix(s.Name, "list/")
		if !ok {
			continue
		}
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil, true, fmt.Errorf("nftables: read set %s: %w", s.Name, err)
		}
		for _, e := range els {
			a, ok := netip.AddrFromSlice(e.Key)
			if !ok || e.IntervalEnd || e.Timeout == 0 {
				continue
			}
			if left[list] == nil {
				left[list] = map[netip.Addr]time.Duration{}
			}
			left[list][a] = e.Expires
		}
	}
	return left, true, nil
}

// DynamicEntry is an address added by a rule (add-src/dst-to-address-list).
type DynamicEntry struct {
	List    string
	Addr    netip.Addr
	Timeout time.Duration // 0: none
	Expires time.Duration
}

// Dynamic reads the dynamic address-list entries of a family.
func (k *Kernel) Dynamic(v6 bool) ([]DynamicEntry, error) {
	c, err := k.conn()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	t := table(v6)
	sets, err := c.GetSets(t)
	if err != nil {
		return nil, nil // no table yet
	}
	var out []DynamicEntry
	for _, s := range sets {
		if len(s.Name) < 5 || s.Name[:4] != "dyn/" {
			continue
		}
		els, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("nftables: read set %s: %w", s.Name, err)
		}
		for _, e := range els {
			a, ok := netip.AddrFromSlice(e.Key)
			if !ok {
				continue
			}
			out = append(out, DynamicEntry{List: s.Name[4:], Addr: a, Timeout: e.Timeout, Expires: e.Expires})
		}
	}
	return out, nil
}

// DynamicLists names the address lists whose dynamic set the family's table has (none
// without the table): at start, before routerd applied anything, the lists a previous
// run left entries in.
func (k *Kernel) DynamicLists(v6 bool) ([]string, error) {
	c, err := k.conn()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	sets, err := c.GetSets(table(v6))
	// No table yet. The library flattens the errno into the text (%v).
	if err != nil && (errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), unix.ENOENT.Error())) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	var out []string
	for _, s := range sets {
		if l, ok := strings.CutPrefix(s.Name, "dyn/"); ok && l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// DynamicOf reads the entries of one list's dynamic set (none when it does not exist).
func (k *Kernel) DynamicOf(v6 bool, list string) ([]DynamicEntry, error) {
	c, err := k.conn()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	els, err := c.GetSetElements(&nftables.Set{Table: table(v6), Name: dynamicSet(list)})
	if err != nil {
		// The library flattens the errno into the text (%v).
		if errors.Is(err, unix.ENOENT) || strings.Contains(err.Error(), unix.ENOENT.Error()) {
			return nil, nil
		}
		return nil, fmt.Errorf("nftables: read set %s: %w", dynamicSet(list), err)
	}
	var out []DynamicEntry
	for _, e := range els {
		if a, ok := netip.AddrFromSlice(e.Key); ok {
			out = append(out, DynamicEntry{List: list, Addr: a, Timeout: e.Timeout, Expires: e.Expires})
		}
	}
	return out, nil
}
