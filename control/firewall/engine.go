package firewall

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/hostname"
	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/system"
	"github.com/routerd/routerd/control/value"
)

// Options say where the engine applies the firewall.
type Options struct {
	// NetNS is a network namespace file descriptor (tests); 0 is the daemon's namespace.
	NetNS int
	// IfLists resolves interface list names (in-interface-list=) to their members: the
	// link engine's link.ListMembers. Nil resolves every list to nothing. An error fails
	// the pass before anything is applied: a rule compiled with no members would match
	// nothing (or, negated, everything).
	IfLists func(name string) ([]string, error)
	// KernelName maps RouterOS interface names to the kernel's (link.Names); nil is the
	// identity.
	KernelName func(name string) string
	// DNSRefresh is how often address-list entries given by DNS name are resolved again
	// (0: DefaultDNSRefresh).
	DNSRefresh time.Duration
	// FastTrack reads the fast path's counters of fasttracked packets of a family, shown
	// on the filter table's dummy fasttrack rule. Nil shows zero.
	FastTrack func(v6 bool) Counter
	// FastTrackConns reads the fast path's counters per connection, shown by /ip
	// firewall connection print as orig- and repl-fasttrack-packets and -bytes (a
	// FastTrackConns service). Nil shows zero.
	FastTrackConns FastTrackConns
}

// Engine applies /ip firewall and /ipv6 firewall to nftables.
type Engine struct {
	ex   *control.Executor
	opts Options
	k    *Kernel
	wake chan struct{}
	// epoch and poked: poke records when the last change came (poked, time since epoch,
	// monotonic), so settle waits out an import's commits without waking on each.
	epoch time.Time
	poked atomic.Int64
	// passed gets a token after each pass of the loop (a benchmark waits on it).
	passed chan struct{}
	// exited closes when an engine run by Start has stopped following changes.
	exited chan struct{}

	// passMu makes passes one at a time (the loop's and a caller's, as tests and
	// commands run them): two transactions built from the same old table would both
	// delete what it no longer uses.
	passMu sync.Mutex

	mu      sync.Mutex
	applied map[bool]*Plan // last plan applied per family (v6)
	lastErr map[bool]error
	dynIDs  map[string]uint64
	// marks numbers the mark names of both families (and control/queue's), kept in the
	// store's meta bucket by saveMarks.
	marks   *Marks
	dynamic map[string][]DynamicRule // by owner
	// fasttrack: the family's filter table has an enabled fasttrack-connection rule
	// (the dummy counter rule shows).
	fasttrack map[bool]bool
	timers    map[string]listTimer // timed address-list entries by path/id
	created   map[string]time.Time // creation-times of the entries rules added and DNS names resolved to
	savedDyn  string               // those creation-times as dynCreatedMeta has them
	// listMeta are the configured address-list entries' creation-times by family and id;
	// unsaved the ids whose meta key saveCreated must remove; sweepGen counts the
	// passes' sweeps (sweepEntries).
	listMeta map[bool]map[uint64]entryMeta
	unsaved  map[bool][]uint64
	sweepGen uint64
	// listStated: the family's last pass gave some configured entry a State (passMu).
	listStated map[bool]bool
	// createdDirty: a pass ran since saveCreated last looked at the entries.
	createdDirty bool
	dns          map[string]dnsEntry // address-list DNS names by family/name
	hosts        *hostname.Resolver  // resolves them (the daemon's, shared)
	dnsDue       atomic.Bool         // the Resolver saw a change: refreshDNS on the next tick
	cache        map[bool]*CompileCache
	decoded      map[bool]map[string]map[uint64]decodedRule // by family and table: the last pass's rules (passMu)
	refused      map[bool]map[RuleKey]refusal               // by family: rules the kernel refused (passMu)
	// zoneLoc is /system clock's zone as the last pass read it, zoneUsed the offsets it
	// compiled time= against (zone.go).
	zoneLoc  *time.Location
	zoneUsed zoneOffsets
	// passGen counts passes begun, appliedGen the last one applied per family; keeping
	// has the passGen at which each none-static address was saved (keep.go).
	passGen    uint64
	appliedGen map[bool]uint64
	keeping    map[string]uint64
	// keepRules: the family's last pass had a rule with address-list-timeout=none-static.
	keepRules map[bool]bool
	// orphans: lists kept for their dynamic entries alone (family/name, as dnsKey), until
	// when their set need not be read again (orphans.go).
	orphans map[string]time.Time
	// listErr is what the address-list timers (expiry, none-static entries, creation
	// times; lists.go, keep.go) could not do, by family and task: each pass shows it on
	// the family's address-list entries until the timer's next try succeeds.
	listErr map[bool]map[string]error
	// logErr is why the log rules' lines do not reach /log (set at start).
	logErr error
	// dynFill are the lists, by family, that a rule of the table as applied (or being
	// applied) adds addresses to: only their dynamic sets can gain entries. dynEmpty are
	// lists whose dynamic set was read empty while no rule filled it, and so still is:
	// the duplicate check of an import's add (listcheck.go) skips the kernel for them.
	dynFill, dynEmpty map[bool]map[string]bool
	// boot: the engine makes Prearm's one pass, before the network is up: address-list
	// entries given by DNS name are left out, not resolved.
	boot bool
}

func rulePath(v6 bool, table string) string {
	if v6 {
		return "/ipv6/firewall/" + table
	}
	return "/ip/firewall/" + table
}

func listPath(v6 bool) string {
	if v6 {
		return menu.AddressList6Path
	}
	return menu.AddressList4Path
}

// Start runs the engine without a host (tests; the daemon registers New): it applies the
// stored configuration and follows changes until ctx ends, then closes exited once every
// goroutine it started has returned.
func Start(ctx context.Context, ex *control.Executor, reg prometheus.Registerer, opts Options) (*Engine, error) {
	spec := New(opts).Spec()
	h, wait := engine.Standalone(ex, spec)
	for _, m := range spec.Menus {
		ex.SetEngine(m, spec.Name) // as the host does: print shows no "no engine" status
	}
	h.Metrics = reg
	e, err := start(ctx, h, opts)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() {
		wait()
		close(e.exited)
	})
	return e, nil
}

// start registers the engine, applies the stored configuration and follows changes,
// its goroutines under h (joined on shutdown, panics recovered).
func start(ctx context.Context, h *engine.Handle, opts Options) (*Engine, error) {
	ex, reg := h.Ex, h.Metrics
	e := newEngine(ex, opts)
	for _, v6 := range []bool{false, true} {
		for _, t := range menu.FirewallTables {
			path := rulePath(v6, t)
			ex.SetEngine(path, "firewall")
			e.registerRuleMenu(path, v6, t)
		}
		ex.SetEngine(listPath(v6), "firewall")
		e.registerListMenu(listPath(v6))
		ex.SetEngine(ServicePortPath, "firewall")
		lp, v := listPath(v6), v6
		ex.Provide(lp, func(context.Context, *control.Session) ([]control.Row, error) {
			return e.dynamicRows(v)
		})
		ex.ProvideRowProps(lp, e.listRowProps(v6))
	}
	poke := func(control.Change) { e.poke() }
	ex.Watch(Root4, poke)
	ex.Watch(Root6, poke)
	// Interfaces and their lists (link.IfacePath is their prefix): the built-in lists
	// (all, static, dynamic) change as interfaces come and go, and a list's members
	// compile into the rules. The periodic pass catches links that appear later than
	// their configuration.
	ex.Watch(link.IfacePath, poke)
	ex.Watch(routing.TablePath, poke)
	ex.Watch(system.ClockPath, poke) // time= counts in its zone (a prefix: /system clock manual too)
	// Address-list entries given by name follow their records (TTL, /ip dns changes).
	e.hosts = hostname.Of(h)
	e.hosts.OnChange(func() { e.dnsDue.Store(true) })
	ex.SetEngine(BridgeSettingsPath, "firewall")
	ex.Watch(BridgeSettingsPath, poke)
	if reg != nil {
		if err := reg.Register(&collector{e: e}); err != nil {
			return nil, fmt.Errorf("firewall: metrics: %w", err)
		}
	}
	e.registerConnections()
	if err := e.k.ListenLog(ctx, h.Go, func(l LogLine) {
		if l.Chain == "" {
			l.Chain = e.ruleChain(l)
		}
		slog.Info(l.Message(), eventlog.TopicsKey, "firewall,info")
	}); err != nil {
		// Shown on the log rules by every pass (there is no second try: the kernel
		// refused the one nflog group routerd binds).
		e.logErr = err
		slog.Warn("firewall: log rules' lines will not reach /log", "err", err)
	}
	e.seedTimers(time.Now())
	e.loadCreated()
	e.loadMarks()
	if err := e.Reconcile(ctx); err != nil {
		slog.Warn("firewall: not applied", "err", err)
	}
	h.Go(ctx, e.listTimers)
	h.Go(ctx, func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.wake:
				e.settle(ctx)
				if err := e.Reconcile(ctx); err != nil {
					slog.Warn("firewall: not applied", "err", err)
				}
				select {
				case e.passed <- struct{}{}:
				default:
				}
			}
		}
	})
	return e, nil
}

// newEngine is an engine that has registered nothing yet (start registers it; Prearm
// uses it for one pass before the engines start).
func newEngine(ex *control.Executor, opts Options) *Engine {
	return &Engine{ex: ex, opts: opts, k: &Kernel{NetNS: opts.NetNS}, wake: make(chan struct{}, 1), epoch: time.Now(), passed: make(chan struct{}, 1), exited: make(chan struct{}),
		marks: NewMarks(), applied: map[bool]*Plan{}, lastErr: map[bool]error{}, dynIDs: map[string]uint64{}, fasttrack: map[bool]bool{},
		timers: map[string]listTimer{}, created: map[string]time.Time{}, dns: map[string]dnsEntry{},
		listMeta: map[bool]map[uint64]entryMeta{false: {}, true: {}}, unsaved: map[bool][]uint64{}, listStated: map[bool]bool{},
		cache: map[bool]*CompileCache{false: {}, true: {}}, decoded: map[bool]map[string]map[uint64]decodedRule{false: {}, true: {}},
		refused:    map[bool]map[RuleKey]refusal{},
		appliedGen: map[bool]uint64{}, keeping: map[string]uint64{}, keepRules: map[bool]bool{},
		orphans: map[string]time.Time{}, listErr: map[bool]map[string]error{false: {}, true: {}},
		dynFill: map[bool]map[string]bool{false: {}, true: {}}, dynEmpty: map[bool]map[string]bool{false: {}, true: {}}}
}

// Reconcile compiles both families' configuration and applies each as one transaction.
func (e *Engine) Reconcile(ctx context.Context) error {
	e.passMu.Lock()
	defer e.passMu.Unlock()
	var first error
	if err := e.applyTracking(""); err != nil {
		slog.Warn("firewall: connection tracking settings not applied", "err", err)
	}
	if err := e.applyBridgeSettings(); err != nil {
		slog.Warn("firewall: bridge settings not applied", "err", err)
	}
	loc := e.clockZone()
	zo := offsetsAt(loc, e.ex.Now())
	e.mu.Lock()
	e.zoneLoc, e.zoneUsed = loc, zo
	e.passGen++
	gen := e.passGen
	e.mu.Unlock()
	for _, v6 := range []bool{false, true} {
		err := e.reconcile(ctx, v6, zo)
		if err != nil && first == nil {
			first = err
		}
		if err == nil {
			e.mu.Lock()
			e.appliedGen[v6] = gen
			e.mu.Unlock()
		}
	}
	return first
}

func (e *Engine) reconcile(ctx context.Context, v6 bool, zo zoneOffsets) error {
	cfg := Config{V6: v6, Lists: map[string][]Entry{}, KernelName: e.opts.KernelName,
		RoutingMarks: map[string]uint32{}, Marks: e.marks, Cache: e.cache[v6], ZoneOffset: &zo.zone, DayOffset: &zo.day}
	if lists := e.opts.IfLists; lists != nil {
		cfg.ifListErr = new(error)
		cfg.IfLists = func(name string) []string {
			m, err := lists(name)
			if err != nil && *cfg.ifListErr == nil {
				*cfg.ifListErr = fmt.Errorf("interface list %s: %w", name, err)
			}
			return m
		}
	}
	if ts, _, err := routing.Tables(e.ex); err == nil {
		for n, t := range ts {
			cfg.RoutingMarks[n] = t.Mark
		}
	}
	itemsByTable := map[string][]store.Item{}
	dynByTable := map[string][]dynItem{}
	decodeErr := map[RuleKey]string{} // items whose stored values do not decode
	for _, t := range menu.FirewallTables {
		// Shared: the pass never modifies an item, and an unchanged one comes back as the
		// map decodeCached saw last time.
		items, err := e.ex.SharedItems(rulePath(v6, t))
		if err != nil {
			return fmt.Errorf("firewall: read %s: %w", rulePath(v6, t), err)
		}
		itemsByTable[t] = items
		dynByTable[t] = e.dynamicRules(v6, t)
		for _, it := range dynByTable[t] {
			if it.counters == nil {
				r, err := e.decodeRule(v6, t, it.Item)
				if err != nil {
					decodeErr[RuleKey{t, it.ID}] = err.Error()
					continue
				}
				cfg.Rules = append(cfg.Rules, r)
			}
		}
		ft := false
		dm := e.decoded[v6][t]
		if dm == nil {
			dm = map[uint64]decodedRule{}
			e.decoded[v6][t] = dm
		}
		used := 0
		for _, it := range items {
			if it.Props["disabled"] == "yes" {
				continue
			}
			ft = ft || (t == "filter" && it.Props["action"] == "fasttrack-connection")
			r, err := decodeCached(dm, it, func() (*Rule, error) { return e.decodeRule(v6, t, it) })
			if err != nil {
				decodeErr[RuleKey{t, it.ID}] = err.Error()
				continue
			}
			used++
			cfg.Rules = append(cfg.Rules, r)
		}
		if len(dm) > used {
			forgetDecoded(dm, items)
		}
		if t == "filter" {
			e.mu.Lock()
			e.fasttrack[v6] = ft
			e.mu.Unlock()
		}
	}
	lists, err := e.ex.SharedItems(listPath(v6)) // read only, as the rules
	if err != nil {
		return fmt.Errorf("firewall: read address lists: %w", err)
	}
	listInvalid := map[uint64]string{}
	lm, _ := e.ex.Tree.Get(listPath(v6))
	for _, it := range lists {
		var li listItem
		if err := engine.Decode(lm, it, &li); err != nil {
			listInvalid[it.ID] = err.Error()
			continue
		}
		if li.Disabled {
			continue
		}
		if err := checkListName(li.List); err != nil { // stored before add refused it
			listInvalid[it.ID] = err.Error()
			continue
		}
		ents, err := e.entries(ctx, li.Address, v6)
		if err != nil {
			listInvalid[it.ID] = err.Error()
			continue
		}
		// The kernel gets the time left, so passes do not restart the entry's timer.
		to, _ := e.timedEntry(listPath(v6), it, time.Now())
		for i := range ents {
			ents[i].Timeout = to
		}
		cfg.Lists[li.List] = append(cfg.Lists[li.List], ents...) // an entry without address makes the list
	}
	if st, err := e.ex.Items(TrackingPath); err == nil && len(st) > 0 && st[0].Props["enabled"] == "no" {
		cfg.NoTrack = true
	}
	sps, err := e.ex.Items(ServicePortPath)
	if err != nil {
		return fmt.Errorf("firewall: read service ports: %w", err)
	}
	spm, _ := e.ex.Tree.Get(ServicePortPath)
	for _, it := range sps {
		var sp servicePortItem
		if err := engine.Decode(spm, it, &sp); err != nil {
			if !v6 {
				e.ex.State.Set(ServicePortPath, it.ID, control.ItemState{Invalid: true, Status: err.Error()})
			}
			continue
		}
		dis := sp.Disabled
		st := control.ItemState{Status: servicePortStatus(sp.Name, dis)}
		if !dis {
			hs, err := servicePortHelpers(sp.Name, sp.Ports)
			if err != nil {
				st.Invalid, st.Status = true, err.Error()
			}
			for _, h := range hs {
				if !v6 || !ipv4OnlyHelper(h.Kernel) {
					cfg.Helpers = append(cfg.Helpers, h)
				}
			}
		}
		if !v6 {
			e.ex.State.Set(ServicePortPath, it.ID, st)
		}
	}
	keep := false
	fill := map[string]bool{}
	for _, r := range cfg.Rules {
		keep = keep || r.facts().keepStatic
		if a := r.Props["action"]; a == "add-src-to-address-list" || a == "add-dst-to-address-list" {
			fill[r.Props["address-list"]] = true
		}
	}
	e.mu.Lock()
	e.keepRules[v6] = keep
	// Until the kernel has taken the table, the old one's rules may still fill theirs.
	for l := range fill {
		delete(e.dynEmpty[v6], l)
	}
	maps.Copy(fill, e.dynFill[v6])
	e.dynFill[v6] = fill
	e.mu.Unlock()
	var pl *Plan
	var aerr error
	if err := e.keepDynamicLists(&cfg); err != nil {
		// Without the kernel's lists the new table would drop their dynamic entries.
		pl, aerr = &Plan{Invalid: map[RuleKey]string{}}, err
	} else {
		pl, aerr = e.apply(cfg)
	}
	for k, why := range decodeErr {
		pl.Invalid[k] = why
	}
	e.mu.Lock()
	if aerr == nil {
		e.applied[v6] = pl
		e.dynFill[v6] = map[string]bool{}
		for _, r := range cfg.Rules {
			if a := r.Props["action"]; a == "add-src-to-address-list" || a == "add-dst-to-address-list" {
				e.dynFill[v6][r.Props["address-list"]] = true
			}
		}
	}
	e.lastErr[v6] = aerr
	e.mu.Unlock()
	absent := e.absentIface()
	for t, items := range itemsByTable {
		path := rulePath(v6, t)
		for _, it := range items {
			// Only the flag and the text: the counters in the state's Props stay.
			invalid, status := false, ""
			if why, bad := pl.Invalid[RuleKey{t, it.ID}]; bad {
				invalid, status = true, why
			} else if aerr != nil && it.Props["disabled"] != "yes" {
				// The kernel did not take the ruleset: as configured the rule is not
				// there (print where invalid finds it, as the engine host's mark would).
				invalid, status = true, aerr.Error()
			} else if e.logErr != nil && it.Props["disabled"] != "yes" && (it.Props["action"] == "log" || it.Props["log"] == "yes") {
				status = "log lines do not reach /log: " + e.logErr.Error()
			} else if why := absent(it.Props); why != "" && it.Props["disabled"] != "yes" {
				status = why
			} else if prop := ipsecIface(it.Props); prop != "" && it.Props["disabled"] != "yes" {
				status = ipsecIfaceNote(prop)
			}
			e.ex.State.SetStatus(path, it.ID, invalid, status)
		}
	}
	for t, dis := range dynByTable {
		path := rulePath(v6, t)
		for _, it := range dis {
			st := control.ItemState{}
			if why, bad := pl.Invalid[RuleKey{t, it.ID}]; bad {
				st.Invalid, st.Status = true, why
				slog.Warn("firewall: dynamic rule not applied", "rule", it.Props, "err", why)
			}
			e.ex.State.Set(path, it.ID, st)
		}
	}
	e.sweepEntries(v6, lists, time.Now())
	// Only an entry with something to say has a State (print computes the rest,
	// listRowProps): 100,000 entries do not hold 100,000 ItemStates.
	maint := e.listMaintErr(v6)
	stated := false
	for _, it := range lists {
		st := control.ItemState{}
		if why, bad := listInvalid[it.ID]; bad {
			st.Invalid, st.Status = true, why
		} else if maint != nil {
			st.Status = maint.Error()
		}
		if st.Invalid || st.Status != "" {
			e.ex.State.Set(listPath(v6), it.ID, st)
			stated = true
		} else if e.listStated[v6] {
			e.ex.State.Clear(listPath(v6), it.ID)
		}
	}
	e.listStated[v6] = stated
	e.mu.Lock()
	e.createdDirty = true
	e.mu.Unlock()
	return aerr
}

// maxRefusalPasses bounds the transactions one pass tries when the kernel refuses
// rules: each leaves out at least one more rule.
const maxRefusalPasses = 8

// refusal is a rule the kernel refused, as it was then (Rule.ownSum).
type refusal struct {
	sum uint64
	why string
}

// apply compiles cfg and applies it. Rules the kernel refuses (and the rules of chains
// it refuses) are left out and the rest applied again, in one transaction; they are
// invalid with the kernel's reason (Plan.Invalid), and left out of later passes until
// they change, so a pass with nothing changed sends the kernel nothing. One rule the
// kernel cannot take thus never stops every later change. It returns the plan applied
// last and its error.
func (e *Engine) apply(cfg Config) (*Plan, error) {
	known := e.refused[cfg.V6]
	refused := map[RuleKey]refusal{}
	for _, r := range cfg.Rules {
		k := RuleKey{r.Table, r.ID}
		if f, ok := known[k]; ok && f.sum == r.ownSum() {
			refused[k] = f
		}
	}
	var first map[RuleKey]string // the compile's own reasons come before the kernel's
	var pl *Plan
	var aerr error
	for pass := 0; ; pass++ {
		if len(refused) > 0 {
			rules := make([]*Rule, 0, len(cfg.Rules))
			for _, r := range cfg.Rules {
				if _, bad := refused[RuleKey{r.Table, r.ID}]; !bad {
					rules = append(rules, r)
				}
			}
			cfg.Rules = rules
		}
		pl = Compile(cfg)
		if first == nil {
			first = maps.Clone(pl.Invalid)
		}
		if cfg.ifListErr != nil && *cfg.ifListErr != nil {
			aerr = *cfg.ifListErr // the kernel keeps the rules it has
			break
		}
		aerr = e.k.Apply(pl, cfg.Lists)
		var re *RefusedError
		if aerr == nil || pass == maxRefusalPasses || !errors.As(aerr, &re) {
			break
		}
		n := len(refused)
		for _, r := range cfg.Rules {
			k := RuleKey{r.Table, r.ID}
			why, bad := re.Rules[k]
			if w, ok := re.Chains[ChainName(r.Table, r.Chain)]; ok {
				why, bad = w, true
			}
			if !bad {
				continue
			}
			if w, ok := first[k]; ok {
				why = w
			}
			refused[k] = refusal{sum: r.ownSum(), why: why}
			slog.Warn("firewall: rule the kernel refused left out", "table", k.Table, "id", k.ID, "ipv6", cfg.V6, "reason", why)
		}
		if len(refused) == n {
			break // nothing more to leave out
		}
	}
	for k, f := range refused {
		pl.Invalid[k] = f.why
	}
	e.refused[cfg.V6] = refused
	return pl, aerr
}

// rawRule is a rule of the stored properties as they are, for the checks of add and set.
func rawRule(table string, id uint64, p map[string]string) *Rule {
	r := &Rule{ID: id, Table: table, Chain: p["chain"], Action: p["action"], Props: p, Comment: p["comment"]}
	if r.Action == "" {
		r.Action = "accept"
	}
	return r
}

// decodedRule is a rule as decodeRule made it from the stored properties raw.
type decodedRule struct {
	raw map[string]string
	r   *Rule
}

// decodeCached is decodeRule (decode) for a pass: a rule whose stored properties are
// those it was decoded from last time is not decoded again (a pass reads every rule; an
// import adds a few hundred between passes), and keeps its Rule, with what the compiler
// memoized in it (Rule.compiled). dm is a table's rules as the passes decoded them, by
// id; only passes use it (passMu). It is updated in place: an import only adds, so a
// pass does no map write per unchanged rule (forgetDecoded drops the rules gone).
func decodeCached(dm map[uint64]decodedRule, it store.Item, decode func() (*Rule, error)) (*Rule, error) {
	if d, ok := dm[it.ID]; ok && (sameMap(d.raw, it.Props) || maps.Equal(d.raw, it.Props)) {
		return d.r, nil
	}
	r, err := decode()
	if err != nil {
		delete(dm, it.ID)
		return nil, err
	}
	dm[it.ID] = decodedRule{raw: it.Props, r: r}
	return r, nil
}

// forgetDecoded drops from dm the rules no longer among items' enabled ones (removed or
// disabled since they were decoded).
func forgetDecoded(dm map[uint64]decodedRule, items []store.Item) {
	live := make(map[uint64]bool, len(items))
	for _, it := range items {
		if it.Props["disabled"] != "yes" {
			live[it.ID] = true
		}
	}
	for id := range dm {
		if !live[id] {
			delete(dm, id)
		}
	}
}

// sameMap reports whether a and b are one map (the store's SharedItems hands out the
// same map while an item's stored bytes are unchanged).
func sameMap(a, b map[string]string) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// decodeRule decodes a rule item through its menu's schema (decodeItem): the compiler
// sees the properties ruleItem names, with the menu's defaults filled in.
func (e *Engine) decodeRule(v6 bool, table string, it store.Item) (*Rule, error) {
	m, ok := e.ex.Tree.Get(rulePath(v6, table))
	if !ok {
		return nil, fmt.Errorf("firewall: no menu %s", rulePath(v6, table))
	}
	p, err := decodeItem(m, v6, table, it)
	if err != nil {
		return nil, err
	}
	r := &Rule{ID: it.ID, Table: table, Chain: p["chain"], Action: p["action"], Props: p, Comment: p["comment"]}
	if r.Action == "" {
		r.Action = "accept"
	}
	return r, nil
}

// registerRuleMenu puts the rule checks in front of add and set, refreshes counters when
// the menu is printed, and adds reset-counters and reset-counters-all.
func (e *Engine) registerRuleMenu(path string, v6 bool, table string) {
	m, ok := e.ex.Tree.Get(path)
	if !ok {
		return
	}
	for _, cmd := range []string{"add", "set", "unset", "disable", "enable", "comment", "remove"} {
		fn, spec, ok := e.ex.Generic(path, cmd)
		if !ok {
			continue
		}
		cmd := cmd
		e.ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			if cmd != "add" {
				var err error
				if c, err = e.withoutDynamic(c, v6, table, cmd); err != nil {
					return nil, err
				}
			}
			switch cmd {
			case "add", "set":
				if err := e.check(c, m, v6, table, cmd); err != nil {
					return nil, err
				}
			case "enable":
				if err := e.checkEnable(c, m, table); err != nil {
					return nil, err
				}
			}
			if cmd == "add" {
				c = e.placeDynamic(c, "place-before", v6, table)
			}
			return fn(ctx, c)
		})
	}
	if fn, spec, ok := e.ex.Generic(path, "move"); ok {
		e.ex.Handle(path, "move", spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			return fn(ctx, e.placeDynamic(c, "destination", v6, table))
		})
	}
	e.ex.Provide(path, func(context.Context, *control.Session) ([]control.Row, error) {
		e.refreshCounters(v6)
		return e.dynamicRuleRows(v6, table), nil
	})
	reset := func(all bool) control.Handler {
		return func(_ context.Context, c *control.Call) (*control.Reply, error) {
			// Dynamic rules are reset like configured ones, as RouterOS does; they are
			// not in the store, so numbers= naming them is resolved here.
			var ids []uint64
			var keep []string // the parts of numbers= that name no dynamic rule
			if all {
				for _, it := range e.dynamicRules(v6, table) {
					ids = append(ids, it.ID)
				}
			} else {
				ref, _ := c.S.Get("numbers")
				ids, keep = e.splitDynamic(c, ref, v6, table)
			}
			err := e.ex.View(c.Sess, func(tx *store.Tx) error {
				if all {
					items, err := tx.List(path)
					for _, it := range items {
						ids = append(ids, it.ID)
					}
					return err
				}
				if len(keep) == 0 && len(ids) > 0 {
					return nil
				}
				more, err := e.ex.Resolve(tx, c.Sess, m, strings.Join(keep, ","))
				ids = append(ids, more...)
				return err
			})
			if err != nil {
				return nil, err
			}
			for _, id := range ids {
				// A rule that is not in the kernel (disabled, invalid) has no counter.
				_ = e.k.ResetCounter(v6, CounterName(RuleKey{table, id}))
			}
			e.refreshCounters(v6)
			return &control.Reply{Menu: m}, nil
		}
	}
	e.ex.Handle(path, "reset-counters", control.CommandSpec{Positional: []string{"numbers"}}, reset(false))
	e.ex.Handle(path, "reset-counters-all", control.CommandSpec{}, reset(true))
}

// check refuses an add or set whose resulting rule cannot apply on its own or would
// close a jump loop, with RouterOS's words, before anything is written.
func (e *Engine) check(c *control.Call, m *menu.Menu, v6 bool, table, cmd string) error {
	args := make(map[string]string, len(c.S.Args))
	var unset []string
	for _, a := range c.S.Args {
		if a.Flag {
			continue
		}
		p, ok := m.Prop(a.Name)
		if !ok {
			continue // generic arguments (numbers, place-before); the generic command checks them
		}
		if a.Unset || control.EmptyUnset(p, a.Value) {
			// src-port="" as terse exports write it unsets, as in the generic command.
			unset = append(unset, a.Name)
			continue
		}
		v, err := control.ParseValue(p, a.Value)
		if err != nil {
			return err
		}
		args[a.Name] = v
	}
	return e.ex.View(c.Sess, func(tx *store.Tx) error {
		var targets []store.Item
		if cmd == "add" {
			// The new rule is the arguments alone: no copy of them (an import adds
			// thousands).
			targets = []store.Item{{ID: 0}}
		} else {
			ref, ok := c.S.Get("numbers")
			if !ok {
				return nil // the generic command reports the missing argument
			}
			ids, err := e.ex.Resolve(tx, c.Sess, m, ref)
			if err != nil {
				return nil
			}
			for _, id := range ids {
				it, err := tx.Get(m.Path, id)
				if err != nil {
					return nil
				}
				targets = append(targets, it)
			}
		}
		var items []store.Item // read only for a jump's loop check: an import adds many rules
		for _, it := range targets {
			props := args
			if it.Props != nil || len(unset) > 0 {
				props = make(map[string]string, len(it.Props)+len(args))
				maps.Copy(props, it.Props)
				maps.Copy(props, args)
				for _, k := range unset {
					delete(props, k)
				}
			}
			// The arguments were parsed through the schema above; the rule is checked as
			// written (the pass decodes it with the menu's defaults).
			r := rawRule(table, it.ID, props)
			if r.Chain == "" {
				continue // "failure: chain not specified" from the generic add
			}
			// A rule the kernel cannot carry out is kept and shows invalid with the
			// reason (as the schema's unsupported properties do): an export of a
			// RouterOS box loads whole.
			if err := r.Check(v6); err != nil && !errors.Is(err, ErrNotSupported) {
				return ruleError(err)
			}
			if err := e.checkIfaces(c.Sess, tx, args); err != nil {
				return err
			}
			for _, k := range ifListProps {
				if v, ok := args[k]; ok {
					// A list removed since is named by its id (*2), as an export writes it.
					n := strings.TrimPrefix(v, "!")
					if _, ok := tx.ByName(menu.InterfaceListPath, n); !ok && !link.StaleRef(n) {
						return control.ArgError("input does not match any value of %s", k)
					}
				}
			}
			// A jump must not close a loop with the rules already there.
			if r.Action == "jump" && props["disabled"] != "yes" {
				if items == nil {
					var err error
					if items, err = tx.List(m.Path); err != nil {
						return err
					}
				}
				var rules []*Rule
				for _, o := range items {
					if o.ID != it.ID && o.Props["disabled"] != "yes" {
						rules = append(rules, rawRule(table, o.ID, o.Props))
					}
				}
				if err := loopFailure(table, rules, []*Rule{r}); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// ifaceProps are the matchers that name one interface: in-bridge-port and
// out-bridge-port name a bridge port, an interface all the same (issue 15: an unknown
// port name was taken silently and the rule matched nothing).
var ifaceProps = []string{"in-interface", "out-interface", "in-bridge-port", "out-bridge-port"}

// checkIfaces refuses an in-interface or out-interface that names no interface, as
// RouterOS does ("input does not match any value of interface"): an interface that is
// configured but not up yet (a static PPP server binding, a tunnel) is known
// (link.Known), a dynamic one that exists only while its session is up is not, as in
// RouterOS, which points such rules at interface lists. The interface kinds
// (all-ethernet...) and an export's reference to a removed interface (*ID) are taken.
// With no link engine on the executor there is no interface table to check against (the
// package's own tests run the firewall alone). A script file (an export: sess.Import)
// keeps the name it gives: the box's own export names the interface of a rule that was
// acknowledged, and must import again even when that interface is gone (a PPP
// session's, a link made outside routerd, a rule stored before this check); the rule's
// status says the interface is not present (ifaceStatus).
func (e *Engine) checkIfaces(sess *control.Session, tx *store.Tx, args map[string]string) error {
	if e.ex.Engine(link.IfacePath) == "" || (sess != nil && sess.Import) {
		return nil
	}
	for _, k := range ifaceProps {
		v, ok := args[k]
		if !ok {
			continue
		}
		name := strings.TrimPrefix(v, "!")
		if ifaceKind(name) || link.StaleRef(name) || e.ex.HasName(link.IfacePath, name) || link.Known(e.ex, tx, name) {
			continue
		}
		return control.ArgError("input does not match any value of interface")
	}
	return nil
}

// absentIface returns, for one pass, the status of a rule whose in-interface or
// out-interface names an interface the box neither has nor has configured: one kept
// from a script file (checkIfaces), or stored before such names were refused. The rule
// stays valid: it matches that name once an interface of that name appears (a PPP
// session's comes and goes), but the operator sees why it matches nothing now. Names are
// looked up once per pass. A removed interface's id (*1A) makes the rule invalid
// instead (compileRule); with no link engine there is nothing to look names up in.
func (e *Engine) absentIface() func(p map[string]string) string {
	if e.ex.Engine(link.IfacePath) == "" {
		return func(map[string]string) string { return "" }
	}
	present := map[string]bool{}
	return func(p map[string]string) string {
		for _, k := range ifaceProps {
			n := strings.TrimPrefix(p[k], "!")
			if n == "" || ifaceKind(n) || link.StaleRef(n) {
				continue
			}
			ok, seen := present[n]
			if !seen {
				ok = e.ex.HasName(link.IfacePath, n)
				if !ok {
					_ = e.ex.View(nil, func(tx *store.Tx) error { ok = link.Known(e.ex, tx, n); return nil })
				}
				present[n] = ok
			}
			if !ok {
				return fmt.Sprintf("%s %s not present: the rule matches it by name once it appears", k, n)
			}
		}
		return ""
	}
}

// loopFailure refuses rules (jumps being added, set or enabled) when, beside the other
// enabled rules others, they close a jump loop, with RouterOS's words. The jump the
// compiler leaves out of a loop is the later one, which may be one of others: a loop
// found that others alone do not make is the change's all the same.
func loopFailure(table string, others, rules []*Rule) error {
	isLoop := func(why string) bool { return strings.HasSuffix(why, " makes a loop") }
	inv := map[RuleKey]string{}
	validRules(table, append(slices.Clip(others), rules...), inv)
	for _, r := range rules {
		if why := inv[RuleKey{table, r.ID}]; isLoop(why) {
			return control.Failure("%s", strings.TrimPrefix(why, "failure: "))
		}
	}
	var found []RuleKey
	for k, why := range inv {
		if isLoop(why) {
			found = append(found, k)
		}
	}
	if len(found) == 0 {
		return nil
	}
	before := map[RuleKey]string{}
	validRules(table, others, before)
	slices.SortFunc(found, func(a, b RuleKey) int { return cmp.Compare(a.ID, b.ID) })
	for _, k := range found {
		if !isLoop(before[k]) {
			return control.Failure("%s", strings.TrimPrefix(inv[k], "failure: "))
		}
	}
	return nil
}

// checkEnable refuses an enable that would close a jump loop, as add and set do.
func (e *Engine) checkEnable(c *control.Call, m *menu.Menu, table string) error {
	ref, ok := c.S.Get("numbers")
	if !ok {
		return nil // the generic command reports the missing argument
	}
	return e.ex.View(c.Sess, func(tx *store.Tx) error {
		ids, err := e.ex.Resolve(tx, c.Sess, m, ref)
		if err != nil {
			return nil // the generic command reports it
		}
		enabling := map[uint64]bool{}
		for _, id := range ids {
			enabling[id] = true
		}
		items, err := tx.List(m.Path)
		if err != nil {
			return err
		}
		var others, rules []*Rule
		for _, it := range items {
			switch {
			case enabling[it.ID] && it.Props["disabled"] == "yes":
				if it.Props["action"] == "jump" {
					rules = append(rules, rawRule(table, it.ID, it.Props))
				} else {
					others = append(others, rawRule(table, it.ID, it.Props))
				}
			case it.Props["disabled"] != "yes":
				others = append(others, rawRule(table, it.ID, it.Props))
			}
		}
		if len(rules) == 0 {
			return nil
		}
		return loopFailure(table, others, rules)
	})
}

// ifListProps are the matchers that name an interface list: add and set refuse a list
// that does not exist, as RouterOS does.
var ifListProps = []string{"in-interface-list", "out-interface-list", "in-bridge-port-list", "out-bridge-port-list"}

func ruleError(err error) error {
	msg := err.Error()
	if strings.HasPrefix(msg, "failure: ") {
		return control.Failure("%s", strings.TrimPrefix(msg, "failure: "))
	}
	if strings.HasPrefix(msg, "invalid value") || strings.HasPrefix(msg, "input does not match") {
		return control.ArgError("%s", msg)
	}
	return control.Failure("%s", msg)
}

// refreshCounters copies the kernel's counters into the rules' state.
func (e *Engine) refreshCounters(v6 bool) {
	cs, err := e.k.Counters(v6, false)
	if err != nil {
		return
	}
	for _, t := range menu.FirewallTables {
		path := rulePath(v6, t)
		items, err := e.ex.Items(path)
		if err != nil {
			continue
		}
		for _, it := range items {
			st, _ := e.ex.State.Get(path, it.ID)
			c := cs[CounterName(RuleKey{t, it.ID})]
			if st.Props == nil {
				st.Props = map[string]string{}
			}
			st.Props["bytes"] = strconv.FormatUint(c.Bytes, 10)
			st.Props["packets"] = strconv.FormatUint(c.Packets, 10)
			e.ex.State.Set(path, it.ID, st)
		}
	}
}

const dynBase = 1 << 40

func (e *Engine) dynID(key string) uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.dynIDs[key]
	if !ok {
		id = dynBase + uint64(len(e.dynIDs))
		e.dynIDs[key] = id
	}
	return id
}

// dynamicRows lists the entries rules added, as dynamic (D) address-list rows.
func (e *Engine) dynamicRows(v6 bool) ([]control.Row, error) {
	ds, err := e.k.Dynamic(v6)
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	// A rule adding an address the list holds as a configured entry changes nothing
	// there, as in RouterOS: the kernel's dynamic set has it, the list shows it once.
	// The entries are read once and shared (print of a 100,000-entry list does not copy
	// them), and only looked through for what this needs: the static twins of the
	// kernel's dynamic entries when it has any, the DNS names.
	items, err := e.ex.SharedItems(listPath(v6))
	if err != nil {
		return nil, control.Failure("%v", err)
	}
	static := map[string]bool{}
	if len(ds) > 0 {
		for _, it := range items {
			if a, ok := hostAddr(it.Props["address"]); ok && it.Props["disabled"] != "yes" {
				static[it.Props["list"]+"/"+a.String()] = true
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range ds {
		seen[dynPrefix(v6)+d.List+"/"+d.Addr.String()] = true
	}
	var rows []control.Row
	// An entry given by DNS name shows a dynamic child entry per address it resolved to,
	// named by the comment, as RouterOS lists them, created when the name first
	// resolved to it. Names not resolved yet (just after a start) keep their children's
	// times for when they are.
	var pending []string
	for _, it := range items {
		name := it.Props["address"]
		if _, _, err := addrRange(name); err == nil || it.Props["disabled"] == "yes" {
			continue
		}
		e.mu.Lock()
		d, ok := e.dns[dnsKey(name, v6)]
		e.mu.Unlock()
		if !ok {
			pending = append(pending, dnsPrefix(v6)+it.Props["list"]+"/"+name+"/")
		}
		for _, a := range d.addrs {
			key := dnsPrefix(v6) + it.Props["list"] + "/" + name + "/" + a.String()
			seen[key] = true
			p := map[string]string{"list": it.Props["list"], "address": a.String(), "disabled": "no", "dynamic": "yes", "comment": name,
				"creation-time": e.stamp(e.firstSeen(key, 0, 0))}
			rows = append(rows, control.Row{ID: e.dynID("dns/" + it.Props["list"] + "/" + name + "/" + a.String()), Props: p, Flags: "D"})
		}
	}
	e.mu.Lock()
	for k := range e.created {
		if (strings.HasPrefix(k, dynPrefix(v6)) || strings.HasPrefix(k, dnsPrefix(v6))) && !seen[k] &&
			!slices.ContainsFunc(pending, func(p string) bool { return strings.HasPrefix(k, p) }) {
			delete(e.created, k) // expired, flushed or no longer resolved: a new one is new
			e.createdDirty = true
		}
	}
	e.mu.Unlock()
	for _, d := range ds {
		if static[d.List+"/"+d.Addr.String()] {
			continue
		}
		p := map[string]string{"list": d.List, "address": d.Addr.String(), "disabled": "no", "dynamic": "yes",
			"creation-time": e.stamp(e.firstSeen(dynPrefix(v6)+d.List+"/"+d.Addr.String(), d.Expires, d.Timeout))}
		if d.Timeout > 0 && !kept(d) { // a none-static one becomes a configured entry (keep.go)
			p["timeout"] = value.FormatDuration(d.Expires.Round(time.Second))
		}
		rows = append(rows, control.Row{ID: e.dynID(d.List + "/" + d.Addr.String()), Props: p, Flags: "D"})
	}
	return rows, nil
}

// settle waits until changes stop coming for a moment (at most settleMax): an import
// commits every few milliseconds. A pass in the middle of an import is not thrown
// away: it compiles only the rules added since the last one (CompileCache) and sends
// only those to the kernel (Kernel.Apply), so the kernel takes in a long import while
// it runs rather than all of it after the end.
//
// It sleeps until quiet after the last change poke recorded rather than waking on
// each: an import of 10,000 lines would otherwise wake the loop 10,000 times (two
// goroutine switches and often an idle thread woken each, about a tenth of the
// import's CPU time in the scheduler).
func (e *Engine) settle(ctx context.Context) {
	const quiet, settleMax = 50 * time.Millisecond, 500 * time.Millisecond
	deadline := e.sinceEpoch() + settleMax
	t := time.NewTimer(quiet)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := e.sinceEpoch()
		left := time.Duration(e.poked.Load()) + quiet - now
		if left <= 0 || now >= deadline {
			return
		}
		t.Reset(min(left, deadline-now))
	}
}

// sinceEpoch is the monotonic time poke records changes in.
func (e *Engine) sinceEpoch() time.Duration { return time.Since(e.epoch) }

// withoutDynamic takes the dynamic rows (the engine's rules, the fasttrack counter row)
// out of the items a set, unset, disable, enable, comment or remove names. They are not
// the operator's to change: [find] includes them (print shows them), so they are left
// out of a list that names configured rules too, and `/ip firewall filter disable
// [find]` disables the operator's rules whatever other engines added; a reference to
// dynamic rows only fails with RouterOS's words (remove: "can not remove dynamic item",
// the others "can not change dynamic item").
func (e *Engine) withoutDynamic(c *control.Call, v6 bool, table, cmd string) (*control.Call, error) {
	argName := "numbers"
	ref, ok := c.S.Get(argName)
	if !ok {
		argName = ".id"
		if ref, ok = c.S.Get(argName); !ok {
			return c, nil
		}
	}
	dynIDs, keep := e.splitDynamic(c, ref, v6, table)
	dynamic := len(dynIDs) > 0
	if !dynamic {
		return c, nil
	}
	if len(keep) == 0 {
		if cmd == "remove" {
			return nil, control.Failure("can not remove dynamic item")
		}
		return nil, control.Failure("can not change dynamic item")
	}
	s := *c.S
	s.Args = nil
	for _, a := range c.S.Args {
		if a.Name == argName && !a.Flag && !a.Unset {
			a.Value = strings.Join(keep, ",")
		}
		s.Args = append(s.Args, a)
	}
	return &control.Call{Ex: c.Ex, Sess: c.Sess, S: &s, Menu: c.Menu}, nil
}

// splitDynamic splits a numbers= list into the dynamic rules it names (by id, or by
// print number) and the other parts, as written.
func (e *Engine) splitDynamic(c *control.Call, ref string, v6 bool, table string) (dynIDs []uint64, keep []string) {
	dyn := map[uint64]bool{}
	for _, it := range e.dynamicRules(v6, table) {
		dyn[it.ID] = true
	}
	nums := c.Sess.PrintNumbers(c.Menu.Path)
	for _, part := range strings.Split(ref, ",") {
		part = strings.TrimSpace(part)
		id, isID := control.ParseID(part)
		if !isID && isNumber(part) && nums != nil {
			if n, _ := strconv.Atoi(part); n < len(nums) {
				id, isID = nums[n], true
			}
		}
		if isID && dyn[id] {
			dynIDs = append(dynIDs, id)
			continue
		}
		if part != "" {
			keep = append(keep, part)
		}
	}
	return dynIDs, keep
}

func isNumber(s string) bool {
	_, err := strconv.ParseUint(s, 10, 64)
	return err == nil && s != ""
}

// placeDynamic turns a place-before/destination naming a dynamic row (print lists them
// first, as the kernel evaluates them first) into the first configured rule: before a
// dynamic rule is before every configured one, as the reference's place-before=0 means.
func (e *Engine) placeDynamic(c *control.Call, arg string, v6 bool, table string) *control.Call {
	ref, ok := c.S.Get(arg)
	if !ok {
		return c
	}
	part, _, _ := strings.Cut(ref, ",")
	part = strings.TrimSpace(part)
	id, isID := control.ParseID(part)
	if nums := c.Sess.PrintNumbers(c.Menu.Path); !isID && isNumber(part) && nums != nil {
		if n, _ := strconv.Atoi(part); n < len(nums) {
			id, isID = nums[n], true
		}
	}
	if !isID {
		return c
	}
	dynamic := false
	for _, it := range e.dynamicRules(v6, table) {
		dynamic = dynamic || it.ID == id
	}
	if !dynamic {
		return c
	}
	items, err := e.ex.Items(c.Menu.Path)
	if err != nil {
		return c
	}
	s := *c.S
	s.Args = nil
	for _, a := range c.S.Args {
		if a.Name == arg && !a.Flag && !a.Unset {
			if len(items) == 0 {
				continue // no configured rule: the end is the top
			}
			a.Value = control.FormatID(items[0].ID)
		}
		s.Args = append(s.Args, a)
	}
	return &control.Call{Ex: c.Ex, Sess: c.Sess, S: &s, Menu: c.Menu}
}

func dynPrefix(v6 bool) string {
	if v6 {
		return "dyn6/"
	}
	return "dyn4/"
}

// firstSeen is the creation-time of an entry a rule added or a DNS name resolved to:
// the kernel's element has no timestamp, so it is when routerd first saw it (kept in
// the store across restarts, saveCreated), or, for an element with a timeout that
// is full minus what is left (the moment the rule added or last refreshed it), whichever
// is earlier. Entries no longer in the kernel are forgotten by forgetDynamic.
func (e *Engine) firstSeen(key string, left, timeout time.Duration) time.Time {
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.created[key]
	if !ok {
		c = now
		if timeout > 0 && left <= timeout {
			c = now.Add(left - timeout).Truncate(time.Second)
		}
		e.created[key] = c
		e.createdDirty = true // kept across restarts (saveCreated)
	}
	return c
}

// dnsPrefix starts the creation-time keys of the addresses DNS-named entries resolved
// to (dnsPrefix list/name/address).
func dnsPrefix(v6 bool) string {
	if v6 {
		return "dns6/"
	}
	return "dns4/"
}

// ruleChain is the chain of the rule a log line came from whose kernel prefix had no
// room for the chain's name (logPrefix): the stored rule's, by its id.
func (e *Engine) ruleChain(l LogLine) string {
	v6 := len(l.Payload) > 0 && l.Payload[0]>>4 == 6
	var chain string
	_ = e.ex.Store.View(func(tx *store.Tx) error {
		if it, err := tx.Get(rulePath(v6, l.Table), l.RuleID); err == nil {
			chain = it.Props["chain"]
		}
		return nil
	})
	for _, d := range e.dynamicRules(v6, l.Table) {
		if chain == "" && d.ID == l.RuleID {
			chain = d.Props["chain"]
		}
	}
	return chain
}
