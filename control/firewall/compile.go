package firewall

import (
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/link"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/control/value"
)

// Kernel constants google/nftables does not name.
const (
	metaSecpath  = expr.MetaKey(25) // NFT_META_SECPATH: the packet was decapsulated by IPsec
	rtXfrm       = expr.RtKey(4)    // NFT_RT_XFRM: the route sends the packet through IPsec
	objCounter   = 1                // NFT_OBJECT_COUNTER
	dynsetAdd    = 0                // NFT_DYNSET_OP_ADD
	dynsetUpdate = 1                // NFT_DYNSET_OP_UPDATE
	ctStatusSNAT = 0x10             // IPS_SRC_NAT
	ctStatusDNAT = 0x20             // IPS_DST_NAT
)

// IPsecTun is the TUN device of the userspace ESP data path (ike/esp DefaultConfig).
const IPsecTun = "ipsec0"

// Config is everything one family's table is built from.
type Config struct {
	V6    bool
	Rules []*Rule // every table's rules, each table in its configured order
	// Lists are the configured address-list entries by list name (static set contents).
	Lists map[string][]Entry
	// IfLists resolves interface list names to their member interfaces.
	IfLists func(name string) []string
	// ifListErr, when set, receives the engine's first IfLists failure: the plan is then
	// not applied.
	ifListErr *error
	// KernelName maps a RouterOS interface name to the kernel's (names longer than the
	// kernel's 15 bytes differ; see link.Names); nil is the identity.
	KernelName func(name string) string
	// NoTrack: connection tracking is off (/ip firewall connection tracking enabled=no):
	// every packet is marked untracked before the raw table's rules.
	NoTrack bool
	// RoutingMarks are the routing marks of the routing tables by name (/routing table).
	RoutingMarks map[string]uint32
	// Helpers are the connection tracking helpers to assign (/ip firewall service-port).
	Helpers []Helper
	// ZoneOffset is the offset of /system clock's time zone east of UTC in seconds now,
	// for time= (nil: the process's zone now).
	ZoneOffset *int
	// DayOffset is the offset east of UTC of the zone the kernel counts meta day in
	// (sys_tz; nil: the kernel's now).
	DayOffset *int
	// Marks numbers the packet-mark and connection-mark names (the engine's, shared by
	// both families; nil: a table of this Compile's own).
	Marks *Marks
	// Cache, when set, keeps compiled rules from one Compile to the next: a pass after
	// one changed rule (or the next batch of an import) compiles only what changed.
	Cache *CompileCache

	// ports numbers the bridge ports in-bridge-port names (set by Compile).
	ports map[string]uint32
}

// The ip and ip6 families see the bridge, not the port a packet entered it through: the
// bridge family's prerouting hook, which runs first, knows the port and writes the
// number of the port's class into bits 16-19 of the packet mark (BridgePortMarkMask),
// which the ip rules match. The mark, unlike the priority the kernel's IPv4 forwarding
// sets anew from the TOS, stays on the packet through routing, so the matcher works in
// forward as well as in prerouting, input and dstnat. A class is the ports that every
// in-bridge-port and in-bridge-port-list of the rules takes or leaves together (the 24
// members of one list are one class), so 15 classes tell apart what the rules ask.
const (
	bridgePortShift = 16
	maxPortClasses  = 15
)

// bridgePorts numbers the classes (from 1) of the ports the rules' in-bridge-port and
// in-bridge-port-list name, and returns the ports in name order with their class.
// Classes are numbered in the order of the first rule naming one of their ports, so
// when the rules ask for more than maxPortClasses, the rules that go over are the later
// ones (as RouterOS refuses the rule that does not fit), not those whose ports sort last.
func (cfg Config) bridgePorts() ([]string, map[string]uint32) {
	sets := map[string]map[string]bool{} // port -> the rule sets it is in
	first := map[string]int{}            // port -> the index of the first rule naming it
	in := func(port, set string, i int) {
		if sets[port] == nil {
			sets[port] = map[string]bool{}
			first[port] = i
		}
		sets[port][set] = true
	}
	for i, r := range cfg.Rules {
		f := r.facts()
		if v := f.inPort; v != "" {
			in(v, "port/"+v, i)
		}
		if v := f.inPortList; v != "" && cfg.IfLists != nil {
			for _, m := range cfg.IfLists(v) {
				in(m, "list/"+v, i)
			}
		}
	}
	names := make([]string, 0, len(sets))
	sigOf := map[string]string{}
	sigFirst := map[string]int{} // class signature -> the first rule naming one of its ports
	for n, ss := range sets {
		names = append(names, n)
		keys := make([]string, 0, len(ss))
		for k := range ss {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sig := strings.Join(keys, "\x00")
		if f, ok := sigFirst[sig]; !ok || first[n] < f {
			sigFirst[sig] = first[n]
		}
		sigOf[n] = sig
	}
	sigs := slices.Collect(maps.Keys(sigFirst))
	slices.SortFunc(sigs, func(a, b string) int {
		if c := sigFirst[a] - sigFirst[b]; c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	sort.Strings(names)
	idx := map[string]uint32{}
	for _, n := range names {
		idx[n] = uint32(slices.Index(sigs, sigOf[n]) + 1)
	}
	return names, idx
}

// CompileCache holds compiled rules by their fingerprint (RulePlan.Sum). Each Compile
// keeps only the rules it looked up or compiled; a Rule compiled with a cache keeps its
// own result too (Rule.compiled), which later Compiles of the same Rule in the same
// context use without the map. A cache serves one family's passes, one at a time.
type CompileCache struct {
	m map[uint64]compiled
}

type compiled struct {
	alts   [][]expr.Any
	meters []Meter
	err    error
}

// sumSeed seeds the rule fingerprints; they never leave the process.
var sumSeed = maphash.MakeSeed()

// contextSum fingerprints everything of cfg besides a rule's own properties that its
// compiled form depends on: the family, routing marks, the time zone, the helpers and
// the members of the interface lists the rules name.
func (cfg Config) contextSum() string {
	var b strings.Builder
	fmt.Fprintf(&b, "v6=%v notrack=%v zone=%d/%d helpers=%v ports=%v marks=", cfg.V6, cfg.NoTrack, cfg.zoneOffset(), cfg.dayOffset(), cfg.Helpers, cfg.ports)
	names := make([]string, 0, len(cfg.RoutingMarks))
	for n := range cfg.RoutingMarks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s:%d,", n, cfg.RoutingMarks[n])
	}
	lists := map[string]bool{}
	for _, r := range cfg.Rules {
		for _, v := range []string{r.facts().inIfaceList, r.facts().outIfaceList} {
			if v != "" {
				lists[v] = true
			}
		}
		for _, v := range []string{r.facts().inIface, r.facts().outIface} {
			if ifaceKind(v) {
				lists[v] = true
			}
		}
	}
	names = names[:0]
	for n := range lists {
		names = append(names, n)
	}
	sort.Strings(names)
	var ifs []string // interface names the rules give the kernel
	for _, n := range names {
		var members []string
		if cfg.IfLists != nil {
			members = cfg.IfLists(n)
		}
		fmt.Fprintf(&b, " list %s=%q", n, members)
		ifs = append(ifs, members...)
	}
	if cfg.KernelName != nil {
		for _, r := range cfg.Rules {
			for _, v := range []string{r.facts().inIface, r.facts().outIface} {
				if v != "" {
					ifs = append(ifs, v)
				}
			}
		}
		for n := range cfg.ports {
			ifs = append(ifs, n)
		}
		sort.Strings(ifs)
		for _, n := range slices.Compact(ifs) {
			if k := cfg.KernelName(n); k != n {
				fmt.Fprintf(&b, " kernel %s=%s", n, k)
			}
		}
	}
	return b.String()
}

// kname is the kernel's name of interface n.
func (cfg Config) kname(n string) string {
	if cfg.KernelName == nil {
		return n
	}
	return cfg.KernelName(n)
}

// ruleSum fingerprints a rule with the context it compiles in: equal sums compile to
// the same kernel rules.
func ruleSum(ctx uint64, r *Rule, marks *Marks) uint64 {
	// The numbers of the rule's mark names are what it compiles with, as its context is.
	var b [16 + 4*len(markProps)]byte
	binary.LittleEndian.PutUint64(b[:8], ctx)
	binary.LittleEndian.PutUint64(b[8:], r.ownSum())
	for i, p := range markProps {
		if v := r.Props[p.prop]; v != "" {
			name := strings.TrimPrefix(v, "!")
			n := marks.Packet(name)
			if p.conn {
				n = marks.Conn(name)
			}
			binary.LittleEndian.PutUint32(b[16+4*i:], n)
		}
	}
	if s := maphash.Bytes(sumSeed, b[:]); s != 0 {
		return s
	}
	return 1 // 0 means "no fingerprint"
}

// ownSum fingerprints the rule's own fields, once.
func (r *Rule) ownSum() uint64 {
	if r.own != 0 {
		return r.own
	}
	// Written field by field (no fmt) and the keys sorted in a stack array: each new
	// rule of an import is fingerprinted once, so this is per-rule cost.
	var h maphash.Hash
	h.SetSeed(sumSeed)
	var id [21]byte
	h.WriteByte(0)
	h.WriteString(r.Table)
	h.Write(strconv.AppendUint(append(id[:0], 0), r.ID, 10))
	for _, s := range []string{r.Chain, r.Action, r.Comment} {
		h.WriteByte(0)
		h.WriteString(s)
	}
	var kbuf [32]string
	keys := kbuf[:0]
	for k := range r.Props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		h.WriteString("\x00")
		h.WriteString(k)
		h.WriteString("=")
		h.WriteString(r.Props[k])
	}
	r.own = h.Sum64() | 1 // never 0, which means "not taken yet"
	return r.own
}

func (cfg Config) zoneOffset() int {
	if cfg.ZoneOffset != nil {
		return *cfg.ZoneOffset
	}
	_, off := time.Now().Zone()
	return off
}

func (cfg Config) dayOffset() int {
	if cfg.DayOffset != nil {
		return *cfg.DayOffset
	}
	return kernelDayOffset()
}

// routingMark returns the mark of a routing table name; main is no mark.
func (cfg Config) routingMark(name string) (uint32, error) {
	if name == "main" {
		return 0, nil
	}
	m, ok := cfg.RoutingMarks[name]
	if !ok {
		return 0, fmt.Errorf("no such routing table %s", name)
	}
	return m, nil
}

// Entry is one static address-list element: a closed range of addresses.
type Entry struct {
	From, To netip.Addr
	Timeout  time.Duration
}

// Plan is the compiled table: chains with their rules, sets and counters.
type Plan struct {
	V6       bool
	Chains   []*ChainPlan
	Lists    []string // address list names with a set pair
	Counters []string
	// Helpers are the ct helper objects the helper chains use.
	Helpers []Helper
	// Meters are the rules' per-flow sets (dst-limit, connection-limit).
	Meters []Meter
	// Invalid holds the rules left out and why, by rule id and table.
	Invalid map[RuleKey]string
	// BridgePorts are the bridge ports in-bridge-port matches, in name order, and
	// BridgeClasses the number of each one's class (see bridgePortShift); a class over
	// maxPortClasses is not marked.
	BridgePorts   []string
	BridgeClasses []uint32
}

// RuleKey names a rule across tables.
type RuleKey struct {
	Table string
	ID    uint64
}

// ChainPlan is one nftables chain.
type ChainPlan struct {
	Name  string
	Hook  *nftables.ChainHook
	Prio  *nftables.ChainPriority
	Type  nftables.ChainType
	Rules []RulePlan
}

// RulePlan is one configured rule as one or more kernel rules (alternatives of a
// disjunction, made mutually exclusive so counters and side effects happen once).
type RulePlan struct {
	Key   RuleKey
	Exprs [][]expr.Any
	// Sum fingerprints the configured rule and what it compiled with (0: none, as for
	// the rules routerd makes itself): an apply keeps kernel rules whose sums it has
	// applied already.
	Sum uint64
}

// ChainName is the nftables chain of a RouterOS chain.
func ChainName(table, chain string) string { return table + "/" + chain }

// hookChainName is the base chain of a table whose RouterOS chains are regular chains
// (nat's): outside the "T/" names of RouterOS chains, so no configured chain can be it
// (a nat chain named hook-postrouting took over the hook before, ahead of masquerade).
func hookChainName(table, hook string) string { return "hook/" + table + "/" + hook }

// CounterName is the named counter of a rule.
func CounterName(k RuleKey) string { return k.Table + "/" + strconv.FormatUint(k.ID, 10) }

// Set names of an address list: static entries (intervals with timeouts) and dynamic
// ones (add-*-to-address-list; the kernel cannot add to interval sets from a rule).
func staticSet(list string) string  { return "list/" + list }
func dynamicSet(list string) string { return "dyn/" + list }

// hooks: the base chains of each table. NAT's RouterOS chains are regular chains that
// the hook chains jump to (dstnat runs for forwarded and locally sent packets).
type hookDef struct {
	name   string
	hook   *nftables.ChainHook
	prio   *nftables.ChainPriority
	typ    nftables.ChainType
	target string // the RouterOS chain it runs
}

func hookDefs(table string) []hookDef {
	f := nftables.ChainTypeFilter
	switch table {
	case "raw":
		return []hookDef{{"prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityRaw, f, "prerouting"},
			{"output", nftables.ChainHookOutput, nftables.ChainPriorityRaw, f, "output"}}
	case "mangle":
		return []hookDef{{"prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityMangle, f, "prerouting"},
			{"input", nftables.ChainHookInput, nftables.ChainPriorityMangle, f, "input"},
			{"forward", nftables.ChainHookForward, nftables.ChainPriorityMangle, f, "forward"},
			{"output", nftables.ChainHookOutput, nftables.ChainPriorityMangle, nftables.ChainTypeRoute, "output"},
			{"postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityMangle, f, "postrouting"}}
	case "nat":
		n := nftables.ChainTypeNAT
		// dstnat is for packets to and through the router; the router's own go through
		// output (RouterOS 7: a "force DNS" redirect in dstnat leaves the router's own
		// queries to its servers alone).
		return []hookDef{{"prerouting", nftables.ChainHookPrerouting, nftables.ChainPriorityNATDest, n, "dstnat"},
			{"output", nftables.ChainHookOutput, nftables.ChainPriorityNATDest, n, "output"},
			{"input", nftables.ChainHookInput, nftables.ChainPriorityNATSource, n, "input"},
			{"postrouting", nftables.ChainHookPostrouting, nftables.ChainPriorityNATSource, n, "srcnat"}}
	}
	return []hookDef{{"input", nftables.ChainHookInput, nftables.ChainPriorityFilter, f, "input"},
		{"forward", nftables.ChainHookForward, nftables.ChainPriorityFilter, f, "forward"},
		{"output", nftables.ChainHookOutput, nftables.ChainPriorityFilter, f, "output"}}
}

// Compile turns a family's rules into a Plan. Rules that cannot apply (bad jump targets,
// loops, actions not possible where the chain is reached) are left out and reported in
// Plan.Invalid; the rest is complete.
func Compile(cfg Config) *Plan {
	pl := &Plan{V6: cfg.V6, Invalid: map[RuleKey]string{}}
	pl.BridgePorts, cfg.ports = cfg.bridgePorts()
	for i, n := range pl.BridgePorts {
		pl.BridgeClasses = append(pl.BridgeClasses, cfg.ports[n])
		pl.BridgePorts[i] = cfg.kname(n) // the bridge table matches the kernel's name
	}
	if cfg.Marks == nil {
		cfg.Marks = NewMarks()
	}
	ctx := maphash.String(sumSeed, cfg.contextSum())
	next := map[uint64]compiled{}
	if cfg.Cache != nil {
		defer func() { cfg.Cache.m = next }()
	}
	lists := map[string]bool{}
	for name := range cfg.Lists {
		lists[name] = true
	}
	perTable := map[string]int{}
	for _, r := range cfg.Rules {
		perTable[r.Table]++
	}
	pl.Counters = make([]string, 0, len(cfg.Rules))
	cfg.Marks.allocate(cfg.Rules) // before compiling: setters take their numbers first
	for _, table := range menu.FirewallTables {
		rules := make([]*Rule, 0, perTable[table])
		for _, r := range cfg.Rules {
			if r.Table == table {
				rules = append(rules, r)
			}
		}
		if len(rules) == 0 {
			continue
		}
		// Chain-level checks settle which rules are valid before any is compiled.
		valid := validRules(table, rules, pl.Invalid)
		// By runs of one chain: map operations per run, not per rule.
		byChain := map[string][]*Rule{}
		var order []string
		for i, r := range rules {
			if i > 0 && r.Chain == rules[i-1].Chain {
				continue
			}
			if _, ok := byChain[r.Chain]; !ok {
				order = append(order, r.Chain)
				byChain[r.Chain] = nil
			}
		}
		for i := 0; i < len(valid); {
			j := i + 1
			for j < len(valid) && valid[j].Chain == valid[i].Chain {
				j++
			}
			byChain[valid[i].Chain] = append(byChain[valid[i].Chain], valid[i:j]...)
			i = j
		}
		// Regular chains: custom chains, and nat's built-in ones (jumped to by hooks).
		var chains []*ChainPlan
		for _, c := range order {
			cp := &ChainPlan{Name: ChainName(table, c), Rules: make([]RulePlan, 0, len(byChain[c]))}
			if IsBuiltinChain(table, c) && table != "nat" {
				for _, h := range hookDefs(table) {
					if h.target == c {
						cp.Hook, cp.Prio, cp.Type = h.hook, h.prio, h.typ
					}
				}
			}
			for _, r := range byChain[c] {
				k := RuleKey{table, r.ID}
				sum := ruleSum(ctx, r, cfg.Marks)
				var cr compiled
				if m := r.compiled; m != nil && m.sum == sum && cfg.Cache != nil {
					cr = m.cr // the Rule of an unchanged item: no map lookup, no entry in next
				} else {
					ok := false
					if cfg.Cache != nil {
						cr, ok = cfg.Cache.m[sum]
					}
					if !ok {
						cr.alts, cr.err = compileRule(cfg, r)
						if cr.err == nil {
							cr.meters = ruleMeters(cfg, r)
						}
					}
					next[sum] = cr
					if cfg.Cache != nil {
						r.compiled = &compiledMemo{sum: sum, cr: cr}
					}
				}
				if cr.err != nil {
					pl.Invalid[k] = cr.err.Error()
					continue
				}
				for _, l := range r.lists() {
					lists[l] = true
				}
				pl.Meters = append(pl.Meters, cr.meters...)
				pl.Counters = append(pl.Counters, r.facts().counter)
				cp.Rules = append(cp.Rules, RulePlan{Key: k, Exprs: cr.alts, Sum: sum})
			}
			chains = append(chains, cp)
		}
		if table == "nat" {
			// One base chain per hook, jumping to each RouterOS chain it runs that has rules.
			hooks := map[string]*ChainPlan{}
			for _, h := range hookDefs(table) {
				if _, ok := byChain[h.target]; !ok {
					continue
				}
				rules := []RulePlan{{Exprs: [][]expr.Any{{&expr.Verdict{Kind: expr.VerdictJump, Chain: ChainName(table, h.target)}}}}}
				if cp := hooks[h.name]; cp != nil {
					cp.Rules = append(cp.Rules, rules...)
					continue
				}
				if h.target == "srcnat" {
					// routerd's own IKE and ESP (the bypass mark ike/esp puts on their
					// sockets) leave with the address their SA names, whatever srcnat
					// does: the reference's "udp 500,4500 accept" made automatic from the
					// first packet on. The IPsec engine's dynamic accept comes a pass
					// later, and conntrack keeps the NAT its flow's first packet got.
					own := markMatch(routing.ReservedMark, routing.ReservedMark, false)[0]
					own = append(own[:len(own):len(own)], &expr.Verdict{Kind: expr.VerdictAccept})
					rules = append([]RulePlan{{Exprs: [][]expr.Any{own}}}, rules...)
				}
				hooks[h.name] = &ChainPlan{Name: hookChainName(table, h.name), Hook: h.hook, Prio: h.prio, Type: h.typ,
					Rules: rules}
				chains = append(chains, hooks[h.name])
			}
		}
		pl.Chains = append(pl.Chains, chains...)
	}
	if !cfg.NoTrack {
		pl.Chains = append(pl.Chains, helperChains(cfg.V6, cfg.Helpers)...)
		pl.Helpers = cfg.Helpers
	}
	if cfg.NoTrack {
		for _, h := range []struct {
			name string
			hook *nftables.ChainHook
		}{{"notrack-prerouting", nftables.ChainHookPrerouting}, {"notrack-output", nftables.ChainHookOutput}} {
			pl.Chains = append(pl.Chains, &ChainPlan{Name: h.name, Hook: h.hook, Prio: nftables.ChainPriorityRef(-350),
				Type: nftables.ChainTypeFilter, Rules: []RulePlan{{Exprs: [][]expr.Any{{&expr.Notrack{}}}}}})
		}
	}
	for l := range lists {
		pl.Lists = append(pl.Lists, l)
	}
	sort.Strings(pl.Lists)
	return pl
}

// priorityFromDSCP is set-priority's new-priority=from-dscp (the priority is the DSCP)
// and from-dscp-high-3-bits (its class, DSCP/8): the DSCP bits, as load reads them, are
// the key of a map of the 64 values to their priority, and the value the lookup leaves
// is the packet's priority (nft's meta priority set ip dscp map {...}): one kernel rule,
// where it was one per DSCP value (issue 15).
func priorityFromDSCP(v6, high3 bool) alt {
	f := trafficClass(v6, dscpBits)
	m := map[string][]byte{}
	for d := range 64 {
		prio := uint32(d)
		if high3 {
			prio = uint32(d) >> 3
		}
		m[string(f.bytes(uint16(d)))] = ne32(prio)
	}
	mask := f.bytes(1<<f.width - 1)
	load := []expr.Any{f.load(), &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(mask)), Mask: mask, Xor: make([]byte, len(mask))}}
	return one(append(mapOf(load, m, uint32(len(mask)), nftables.TypeClassID),
		&expr.Meta{Key: expr.MetaKeyPRIORITY, Register: 1, SourceRegister: true})...)
}

// Widths of the parts of the traffic class (trafficClass): the DSCP (dscp=,
// change-dscp) and the whole class (tos=).
const (
	dscpBits  = 6
	classBits = 8
)

// tcField is the top width bits of a packet's traffic class: IPv4's TOS byte (byte 1,
// under the header checksum), IPv6's Traffic Class (between the version and the flow
// label, across bytes 0 and 1). Both are read and written as the header's first 16 bits,
// as nft does: the kernel's checksum update for a payload write sums the written bytes as
// 16-bit words from the write's start, so a 1-byte write at IPv4's odd offset 1 made
// the header checksum wrong and the receiver dropped every packet change-dscp rewrote
// (qa15).
type tcField struct {
	v6    bool
	width int
}

func trafficClass(v6 bool, width int) tcField { return tcField{v6, width} }

// shift is where the field's lowest bit lies in what load reads.
func (f tcField) shift() int {
	if f.v6 {
		return 12 - f.width // 16 bits: version 4, class 8, flow label 4 of 20
	}
	return 8 - f.width // 16 bits: version and header length 8, TOS 8
}

// bytes is v, shifted in place, as load reads it.
func (f tcField) bytes(v uint16) []byte { return be16(v << f.shift()) }

func (f tcField) load() *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 2}
}

// match compares the field with n (neg: differs from it).
func (f tcField) match(n int, neg bool) []expr.Any {
	mask := f.bytes(1<<f.width - 1)
	return []expr.Any{f.load(), &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(mask)), Mask: mask, Xor: make([]byte, len(mask))},
		&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: f.bytes(uint16(n))}}
}

// set writes n into the field, keeping the other bits (ECN, version, flow label) and
// updating IPv4's header checksum.
func (f tcField) set(n int) []expr.Any {
	keep := f.bytes(1<<f.width - 1)
	for i := range keep {
		keep[i] = ^keep[i]
	}
	w := f.load()
	w.OperationType, w.SourceRegister, w.DestRegister = expr.PayloadWrite, 1, 0
	if !f.v6 {
		w.CsumType, w.CsumOffset = expr.CsumTypeInet, 10
	}
	return []expr.Any{f.load(), &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(len(keep)), Mask: keep, Xor: f.bytes(uint16(n))}, w}
}

// ttlSteps is new-ttl (new-hop-limit) increment:N and decrement:N. nftables cannot add
// to a header field, so the TTL is the key of a map of its 256 values to the result
// (stopping at 255 and at 0), written back with the header checksum updated: one kernel
// rule, where it was one per TTL value (issue 15).
func ttlSteps(v6 bool, op string, n uint8) alt {
	off := uint32(8)
	if v6 {
		off = 7
	}
	m := map[string][]byte{}
	for from := range 256 {
		to := max(from-int(n), 0)
		if op == "increment" {
			to = min(from+int(n), 255)
		}
		m[string([]byte{byte(from)})] = []byte{byte(to)}
	}
	w := &expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 1}
	if !v6 {
		w.CsumType, w.CsumOffset = expr.CsumTypeInet, 10
	}
	load := []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 1}}
	return one(append(mapOf(load, m, 1, intType(1)), w)...)
}

// ifaceKind reports whether an in-interface or out-interface value names every
// interface of a kind (all-ethernet, all-vlan, all-ppp, all-wireless), resolved as a
// list (link.IfaceKinds).
func ifaceKind(name string) bool { return slices.Contains(link.IfaceKinds, name) }

// contentMatch is content=: the kernel's xt_string match (Boyer-Moore over the whole
// packet from its network header) through nft_compat, as iptables-nft uses it; nftables
// itself matches payload only at fixed offsets, and content= looks anywhere.
func contentMatch(text string) expr.Any {
	const (
		algo    = 4   // struct xt_string_info: from_offset, to_offset (u16 each), algo[16],
		pattern = 20  // pattern[128], patlen, flags (revision 1), then the kernel's
		patlen  = 148 // ts_config pointer, aligned to 8
		size    = 160
	)
	info := make([]byte, size)
	binary.NativeEndian.PutUint16(info[2:], 0xffff) // to_offset: the whole packet
	copy(info[algo:algo+16], "bm")
	n := copy(info[pattern:pattern+128], text)
	info[patlen] = byte(n)
	x := xt.Unknown(info)
	return &expr.Match{Name: "string", Rev: 1, Info: &x}
}

// ipv6Headers is headers=: the kernel's ipv6header match through nft_compat (nftables'
// exthdr expression tests one header at a time and cannot say "exactly these").
// :contains needs each header named (each !header absent); :exact needs exactly the
// set named, or with every one negated anything else.
func ipv6Headers(v string) (expr.Any, error) {
	var match, inv, soft uint8
	negs := 0
	elems := strings.Split(v, ",")
	for _, e := range elems {
		neg := strings.HasPrefix(e, "!")
		name, mode, _ := strings.Cut(strings.TrimPrefix(e, "!"), ":")
		bit := menu.IPv6Headers[name]
		match |= bit
		if neg {
			inv |= bit
			negs++
		}
		if mode != "exact" {
			soft = 1
		}
	}
	if soft == 0 && negs != 0 {
		if negs != len(elems) {
			return nil, fmt.Errorf("headers: :exact with some headers negated is not translated (the kernel's match negates all or none): %w", ErrNotSupported)
		}
		inv = 0xff
	}
	info := []byte{match, inv, soft, 0, 0, 0, 0, 0} // struct ip6t_ipv6header_info, XT_ALIGNed
	x := xt.Unknown(info)
	return &expr.Match{Name: "ipv6header", Rev: 0, Info: &x}, nil
}

// physdevOut matches packets the bridge sends out through one of ports (or, neg,
// through none of them): the kernel's xt_physdev match (--physdev-out) through
// nft_compat, as iptables-nft does; nftables has no expression of its own for it.
// br_netfilter hands bridged IPv4 and IPv6 packets to the ip and ip6 forward and
// postrouting hooks with the port the bridge chose, only with /interface bridge
// settings use-ip-firewall=yes (bridge-nf-call-iptables, bridgefw.go), as on RouterOS;
// with the default no, bridged packets reach no ip hook and the matcher sees none. A packet that is not bridged (routed, or
// routerd's own) has no such port: ports never match it and !ports always does, as
// in-bridge-port's negation matches packets that entered through no port.
func physdevOut(cfg Config, ports []string, neg bool) alt {
	const (
		opOut   = 0x02 // XT_PHYSDEV_OP_OUT
		outDev  = 32   // struct xt_physdev_info: physindev, in_mask, physoutdev, out_mask
		outMask = 48   // (IFNAMSIZ each), invert, bitmask
		size    = 72   // 66, padded to XT_ALIGN
	)
	match := func(port string) expr.Any {
		info := make([]byte, size)
		name := cfg.kname(port)
		copy(info[outDev:outDev+16], name)
		for i := 0; i <= len(name) && i < 16; i++ {
			info[outMask+i] = 0xff // the name and the NUL after it: exactly this port
		}
		if neg {
			info[64] = opOut
		}
		info[65] = opOut
		x := xt.Unknown(info)
		return &expr.Match{Name: "physdev", Rev: 0, Info: &x}
	}
	if neg {
		var es []expr.Any
		for _, p := range ports {
			es = append(es, match(p))
		}
		return alt{es}
	}
	var out alt
	for _, p := range ports {
		out = append(out, []expr.Any{match(p)}) // one port per packet: exclusive already
	}
	return out
}

// bridgePortMatch matches packets that entered the bridge through one of ports (or, neg,
// through none of them: also packets that entered no bridge). Packets routerd sends (no
// input interface: the output path of dstnat) entered through no port, whatever their
// mark carries.
// portList resolves an in- or out-bridge-port-list value (prop) to the list's members.
// An empty list negated matches every packet (no members, no error: no match to add);
// an empty list is refused, since the rule could never match.
func portList(cfg Config, prop, v string) (members []string, neg bool, err error) {
	name, neg := strings.TrimPrefix(v, "!"), strings.HasPrefix(v, "!")
	if cfg.IfLists != nil {
		members = cfg.IfLists(name)
	}
	if len(members) == 0 && !neg {
		return nil, neg, fmt.Errorf("%s: list %s has no interfaces", prop, name)
	}
	return members, neg, nil
}

func bridgePortMatch(cfg Config, ports []string, neg bool) (alt, error) {
	var classes []uint32
	for _, n := range ports {
		c := cfg.ports[n]
		if c > maxPortClasses {
			return nil, fmt.Errorf("failure: in-bridge-port rules can tell apart at most %d groups of bridge ports; port %s would be group %d (earlier rules took the others)", maxPortClasses, n, c)
		}
		if !slices.Contains(classes, c) {
			classes = append(classes, c)
		}
	}
	slices.Sort(classes)
	iif := []expr.Any{&expr.Meta{Key: expr.MetaKeyIIF, Register: 1}}
	load := []expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(BridgePortMarkMask), Xor: ne32(0)}}
	received := append(slices.Clone(iif), &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(0)})
	if neg {
		none := append(slices.Clone(received), load...)
		for _, c := range classes {
			none = append(none, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ne32(c << bridgePortShift)})
		}
		sent := append(slices.Clone(iif), &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(0)})
		return alt{sent, none}, nil
	}
	// The ports' classes are one set of mark values (issue 15: it was a kernel rule per
	// class).
	var vals [][]byte
	for _, c := range classes {
		vals = append(vals, ne32(c<<bridgePortShift))
	}
	in := inSet(load[1], nftables.TypeMark, vals, false)[0]
	return alt{append(append(received, load[0]), in...)}, nil
}

// lists returns the address lists a rule uses.
func (r *Rule) lists() []string { return r.facts().lists }

// jumpLevels is how deep the kernel follows jumps from a hook chain (NFT_JUMP_STACK_SIZE).
const jumpLevels = 16

// validRules drops rules whose jump target has no rules, that close a jump loop, or
// whose action is not possible in a built-in chain that reaches them.
func validRules(table string, rules []*Rule, invalid map[RuleKey]string) []*Rule {
	// Chains exist when a configured rule is in them, valid or not, so one bad rule
	// does not turn the jumps to its chain bad as well.
	chains := map[string]bool{}
	last := ""
	for i, r := range rules {
		// Rules come in runs of one chain: a map write per run, not per rule (a pass
		// during an import goes through every rule).
		if i == 0 || r.Chain != last {
			chains[r.Chain], last = true, r.Chain
		}
	}
	keep := make([]*Rule, 0, len(rules))
	for _, r := range rules {
		if r.Action == "jump" && !chains[r.Props["jump-target"]] {
			invalid[RuleKey{table, r.ID}] = fmt.Sprintf("jump-target: no such chain %s", r.Props["jump-target"])
			continue
		}
		keep = append(keep, r)
	}
	rules = keep
	// Loops: a jump whose target reaches its own chain. Later rules are checked first, so
	// the jump that closed a loop is the one left out.
	edges := map[string][]*Rule{}
	for _, r := range rules {
		if r.Action == "jump" {
			edges[r.Chain] = append(edges[r.Chain], r)
		}
	}
	var reach func(from, to string, seen map[string]bool) bool
	reach = func(from, to string, seen map[string]bool) bool {
		if from == to {
			return true
		}
		if seen[from] {
			return false
		}
		seen[from] = true
		for _, e := range edges[from] {
			if reach(e.Props["jump-target"], to, seen) {
				return true
			}
		}
		return false
	}
	looping := map[*Rule]bool{}
	for i := len(rules) - 1; i >= 0; i-- {
		r := rules[i]
		if r.Action == "jump" && reach(r.Props["jump-target"], r.Chain, map[string]bool{}) {
			invalid[RuleKey{table, r.ID}] = fmt.Sprintf("failure: jump to %s makes a loop", r.Props["jump-target"])
			looping[r] = true
			edges[r.Chain] = slices.DeleteFunc(edges[r.Chain], func(e *Rule) bool { return e == r })
		}
	}
	rules = slices.DeleteFunc(rules, func(r *Rule) bool { return looping[r] })
	// Depth: the kernel follows jumps at most jumpLevels deep from a hook chain
	// (NFT_JUMP_STACK_SIZE) and refuses a whole table that nests deeper, so the jump
	// that goes too deep is left out and the rest applies. nat's built-in chains are
	// one level down already (hook chains jump to them).
	tooDeep := map[*Rule]bool{}
	deepest := map[string]int{}
	var descend func(c string, level int)
	descend = func(c string, level int) {
		if l, ok := deepest[c]; ok && l >= level {
			return
		}
		deepest[c] = level
		for _, e := range edges[c] {
			if level+1 >= jumpLevels {
				tooDeep[e] = true
				continue
			}
			descend(e.Props["jump-target"], level+1)
		}
	}
	for _, b := range builtinChains[table] {
		if table == "nat" {
			descend(b, 1)
		} else {
			descend(b, 0)
		}
	}
	for r := range tooDeep {
		invalid[RuleKey{table, r.ID}] = fmt.Sprintf("failure: jump to %s nests chains deeper than the kernel's %d levels", r.Props["jump-target"], jumpLevels)
	}
	rules = slices.DeleteFunc(rules, func(r *Rule) bool { return tooDeep[r] })
	// Which built-in chains reach each chain, for the hook-dependent checks.
	reachedBy := map[string][]string{}
	for _, b := range builtinChains[table] {
		seen := map[string]bool{}
		var walk func(c string)
		walk = func(c string) {
			if seen[c] {
				return
			}
			seen[c] = true
			reachedBy[c] = append(reachedBy[c], b)
			for _, e := range edges[c] {
				walk(e.Props["jump-target"])
			}
		}
		walk(b)
	}
	keep = make([]*Rule, 0, len(rules))
	var from []string // reachedBy[last], looked up once per run of a chain
	for i, r := range rules {
		if i == 0 || r.Chain != last {
			from, last = reachedBy[r.Chain], r.Chain
		}
		bad := ""
		for _, b := range from {
			if err := checkHook(r, b); err != nil {
				bad = err.Error()
				if b != r.Chain {
					bad = fmt.Sprintf("%v (chain %s is reached from %s)", err, r.Chain, b)
				}
				break
			}
		}
		if bad != "" {
			invalid[RuleKey{table, r.ID}] = bad
			continue
		}
		keep = append(keep, r)
	}
	return keep
}

// alt is a disjunction of mutually exclusive conjunctions.
type alt [][]expr.Any

func one(es ...expr.Any) alt { return alt{es} }

// and is the cross product of alternatives.
func and(a, b alt) alt {
	if a == nil {
		return b
	}
	var out alt
	for _, x := range a {
		for _, y := range b {
			out = append(out, append(slices.Clone(x), y...))
		}
	}
	return out
}

func compileRule(cfg Config, r *Rule) ([][]expr.Any, error) {
	if err := r.Check(cfg.V6); err != nil {
		return nil, err
	}
	// An interface removed since the rule was written is named by its id (*1A): the
	// rule is kept, as RouterOS keeps it, but matches no interface any more, and its
	// negation (!*1A) is not "every interface" either: invalid, as in RouterOS.
	for _, k := range append(slices.Clone(ifaceProps), ifListProps...) {
		if n := strings.TrimPrefix(r.Props[k], "!"); link.StaleRef(n) {
			what := "interface"
			if strings.HasSuffix(k, "-list") {
				what = "interface list" // removed the same way (control's staleRefs)
			}
			return nil, fmt.Errorf("%s %s not present", what, n)
		}
	}
	p := r.Props
	m := alt{{}}
	never := false // a matcher no packet can satisfy
	add := func(a alt, err error) error {
		if err != nil {
			return err
		}
		m = and(m, a)
		return nil
	}
	v6 := cfg.V6
	addrOff := func(src bool) (uint32, uint32) {
		if v6 {
			if src {
				return 8, 16
			}
			return 24, 16
		}
		if src {
			return 12, 4
		}
		return 16, 4
	}
	// Address lists come first: their alternatives must be decided before any stateful
	// matcher (limit, nth) runs, so that only one alternative reaches it.
	for _, d := range []string{"src", "dst"} {
		if v := p[d+"-address-list"]; v != "" {
			off, l := addrOff(d == "src")
			neg := strings.HasPrefix(v, "!")
			name := strings.TrimPrefix(v, "!")
			load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l}
			st := &expr.Lookup{SourceRegister: 1, SetName: staticSet(name)}
			dy := &expr.Lookup{SourceRegister: 1, SetName: dynamicSet(name)}
			if neg {
				st.Invert, dy.Invert = true, true
				m = and(m, one(load, st, dy))
			} else {
				inv := &expr.Lookup{SourceRegister: 1, SetName: staticSet(name), Invert: true}
				m = and(m, alt{{load, st}, {load, inv, dy}})
			}
		}
	}
	for _, d := range []string{"src", "dst"} {
		if v := p[d+"-address"]; v != "" {
			off, l := addrOff(d == "src")
			if err := add(addrMatch(v, off, l)); err != nil {
				return nil, err
			}
		}
	}
	if v := p["protocol"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		n, err := protoNumber(strings.TrimPrefix(v, "!"), v6)
		if err != nil {
			return nil, err
		}
		m = and(m, one(l4proto(n, neg)...))
	}
	if v := p["src-port"]; v != "" {
		m = and(m, portMatch(v, 0))
	}
	if v := p["dst-port"]; v != "" {
		m = and(m, portMatch(v, 2))
	}
	if v := p["port"]; v != "" {
		// Either port: src in P, or src not in P and dst in P.
		neg := strings.HasPrefix(v, "!")
		plain := strings.TrimPrefix(v, "!")
		if neg {
			m = and(m, and(portMatch(v, 0), portMatch(v, 2)))
		} else {
			a := portMatch(plain, 0)
			b := and(portMatch("!"+plain, 0), portMatch(plain, 2))
			m = and(m, append(a, b...))
		}
	}
	// in-interface=all-ethernet (all-vlan, all-ppp, all-wireless) names every
	// interface of the kind, as on RouterOS: the link engine resolves it like a list.
	type ifList struct {
		key expr.MetaKey
		v   string // [!]list
	}
	var ifLists []ifList
	for _, d := range []struct {
		prop string
		key  expr.MetaKey
	}{{"in-interface", expr.MetaKeyIIFNAME}, {"out-interface", expr.MetaKeyOIFNAME}} {
		if v := p[d.prop]; v != "" {
			if ifaceKind(strings.TrimPrefix(v, "!")) {
				ifLists = append(ifLists, ifList{d.key, v})
				continue
			}
			if ipsecIface(p) == d.prop {
				continue // combined with ipsec-policy below
			}
			neg := strings.HasPrefix(v, "!")
			m = and(m, one(&expr.Meta{Key: d.key, Register: 1}, &expr.Cmp{Op: cmpOp(neg), Register: 1, Data: ifname(cfg.kname(strings.TrimPrefix(v, "!")))}))
		}
	}
	for _, d := range []struct {
		prop string
		key  expr.MetaKey
	}{{"in-interface-list", expr.MetaKeyIIFNAME}, {"out-interface-list", expr.MetaKeyOIFNAME}} {
		if v := p[d.prop]; v != "" {
			ifLists = append(ifLists, ifList{d.key, v})
		}
	}
	for _, d := range ifLists {
		neg := strings.HasPrefix(d.v, "!")
		var members []string
		if cfg.IfLists != nil {
			members = cfg.IfLists(strings.TrimPrefix(d.v, "!"))
		}
		switch {
		case len(members) == 0 && neg:
			// Not in an empty list: always true.
		case len(members) == 0:
			// In an empty list: a rule that never matches, valid as in RouterOS (the
			// list may get members later); it keeps its counter and no kernel rule.
			never = true
		default:
			var vals [][]byte
			for _, n := range members {
				vals = append(vals, ifname(cfg.kname(n)))
			}
			m = and(m, inSet(&expr.Meta{Key: d.key, Register: 1}, nftables.TypeIFName, vals, neg))
		}
	}
	if v := p["in-bridge-port"]; v != "" {
		if err := add(bridgePortMatch(cfg, []string{strings.TrimPrefix(v, "!")}, strings.HasPrefix(v, "!"))); err != nil {
			return nil, err
		}
	}
	if v := p["in-bridge-port-list"]; v != "" {
		members, neg, err := portList(cfg, "in-bridge-port-list", v)
		if err != nil {
			return nil, err
		}
		if len(members) > 0 {
			if err := add(bridgePortMatch(cfg, members, neg)); err != nil {
				return nil, err
			}
		}
	}
	if v := p["out-bridge-port"]; v != "" {
		m = and(m, physdevOut(cfg, []string{strings.TrimPrefix(v, "!")}, strings.HasPrefix(v, "!")))
	}
	if v := p["out-bridge-port-list"]; v != "" {
		members, neg, err := portList(cfg, "out-bridge-port-list", v)
		if err != nil {
			return nil, err
		}
		if len(members) > 0 {
			m = and(m, physdevOut(cfg, members, neg))
		}
	}
	if v := p["connection-state"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		var bits uint32
		for _, s := range strings.Split(strings.TrimPrefix(v, "!"), ",") {
			bits |= map[string]uint32{"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}[s]
		}
		m = and(m, one(&expr.Ct{Key: expr.CtKeySTATE, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(bits), Xor: ne32(0)},
			&expr.Cmp{Op: cmpOp(!neg), Register: 1, Data: ne32(0)}))
	}
	if v := p["connection-nat-state"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		var bits uint32
		for _, s := range strings.Split(strings.TrimPrefix(v, "!"), ",") {
			bits |= map[string]uint32{"srcnat": ctStatusSNAT, "dstnat": ctStatusDNAT}[s]
		}
		m = and(m, one(&expr.Ct{Key: expr.CtKeySTATUS, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(bits), Xor: ne32(0)},
			&expr.Cmp{Op: cmpOp(!neg), Register: 1, Data: ne32(0)}))
	}
	if v := p["connection-type"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		a, err := connectionTypeMatch(cfg, strings.TrimPrefix(v, "!"), neg)
		if err != nil {
			return nil, err
		}
		m = and(m, a)
	}
	if v := p["connection-mark"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		m = and(m, one(&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(ConnMarkMask), Xor: ne32(0)},
			&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: ne32(cfg.Marks.Conn(strings.TrimPrefix(v, "!")))}))
	}
	if v := p["packet-mark"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		m = and(m, markMatch(cfg.Marks.Packet(strings.TrimPrefix(v, "!")), PacketMarkMask, neg))
	}
	if v := p["routing-mark"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		mark, err := cfg.routingMark(strings.TrimPrefix(v, "!"))
		if err != nil {
			return nil, err
		}
		m = and(m, markMatch(mark, RoutingMarkMask, neg))
	}
	if v := p["ipsec-policy"]; v != "" {
		// Two data paths: the kernel's XFRM (a decapsulated packet has a secpath; a route
		// through a policy has an xfrm dst) and routerd's userspace ESP, whose inner
		// packets come from and go to its TUN device.
		dir, pol, _ := strings.Cut(v, ",")
		var kern expr.Any = &expr.Meta{Key: metaSecpath, Register: 1}
		ifKey := expr.MetaKeyIIFNAME
		if dir == "out" {
			kern, ifKey = &expr.Rt{Key: rtXfrm, Register: 1}, expr.MetaKeyOIFNAME
		}
		no := &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{0}}
		yes := &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{1}}
		tun := &expr.Meta{Key: ifKey, Register: 1}
		if pol == "ipsec" {
			a := alt{{kern, yes}, {kern, no, tun, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(IPsecTun)}}}
			if prop := ipsecIface(p); prop != "" {
				// The kernel's decapsulated packets come in (and encapsulated ones leave)
				// on the interface itself; the userspace path's on its TUN, whichever
				// interface carried the ESP.
				a[0] = append(a[0], &expr.Meta{Key: ifKey, Register: 1}, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(cfg.kname(p[prop]))})
			}
			m = and(m, a)
		} else {
			m = and(m, one(kern, no, tun, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: ifname(IPsecTun)}))
		}
	}
	for _, d := range []struct {
		prop string
		src  bool
	}{{"src-address-type", true}, {"dst-address-type", false}} {
		if v := p[d.prop]; v != "" {
			neg := strings.HasPrefix(v, "!")
			f := &expr.Fib{Register: 1, ResultADDRTYPE: true, FlagSADDR: d.src, FlagDADDR: !d.src}
			var vals [][]byte
			for _, t := range strings.Split(strings.TrimPrefix(v, "!"), ",") {
				n := map[string]uint32{"unicast": unix.RTN_UNICAST, "local": unix.RTN_LOCAL, "broadcast": unix.RTN_BROADCAST,
					"multicast": unix.RTN_MULTICAST, "blackhole": unix.RTN_BLACKHOLE, "unreachable": unix.RTN_UNREACHABLE,
					"prohibit": unix.RTN_PROHIBIT}[t]
				vals = append(vals, ne32(n))
			}
			m = and(m, inSet(f, nftables.TypeInteger, vals, neg))
		}
	}
	if v := p["icmp-options"]; v != "" {
		m = and(m, icmpOptions(v))
	}
	if v := p["tcp-flags"]; v != "" {
		var set, mask byte
		for _, f := range strings.Split(v, ",") {
			clear := strings.HasPrefix(f, "!")
			bit := map[string]byte{"fin": 1, "syn": 2, "rst": 4, "psh": 8, "ack": 16, "urg": 32, "ece": 64, "cwr": 128}[strings.TrimPrefix(f, "!")]
			mask |= bit
			if !clear {
				set |= bit
			}
		}
		m = and(m, one(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{mask}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{set}}))
	}
	if v := p["tcp-mss"]; v != "" {
		m = and(m, rangeMatch(v, &expr.Exthdr{DestRegister: 1, Type: 2, Offset: 2, Len: 2, Op: expr.ExthdrOpTcpopt}, 2))
	}
	if v := p["packet-size"]; v != "" {
		m = and(m, rangeMatch(v, &expr.Meta{Key: expr.MetaKeyLEN, Register: 1}, 4))
	}
	if v := p["ttl"]; v != "" || p["hop-limit"] != "" {
		if v == "" {
			v = p["hop-limit"] // /ipv6 firewall's name of the same field
		}
		op, n, _ := parseTTLMatch(v)
		off := uint32(8)
		if v6 {
			off = 7
		}
		cop := map[string]expr.CmpOp{"equal": expr.CmpOpEq, "not-equal": expr.CmpOpNeq, "greater-than": expr.CmpOpGt, "less-than": expr.CmpOpLt}[op]
		m = and(m, one(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 1},
			&expr.Cmp{Op: cop, Register: 1, Data: []byte{n}}))
	}
	// dscp= is the class's top six bits, tos= all eight (IPv4's TOS byte).
	for _, f := range []struct {
		prop  string
		width int
	}{{"dscp", dscpBits}, {"tos", classBits}} {
		if v := p[f.prop]; v != "" {
			neg := strings.HasPrefix(v, "!")
			n, _ := strconv.Atoi(strings.TrimPrefix(v, "!"))
			m = and(m, one(trafficClass(v6, f.width).match(n, neg)...))
		}
	}
	if v := p["src-mac-address"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		mac := parseMAC(strings.TrimPrefix(v, "!"))
		m = and(m, one(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: 6, Len: 6},
			&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: mac}))
	}
	if v := p["fragment"]; v != "" {
		m = and(m, one(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 6, Len: 2},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 2, Mask: be16(0x1fff), Xor: be16(0)},
			&expr.Cmp{Op: cmpOp(v == "yes"), Register: 1, Data: be16(0)}))
	}
	if v := p["ipv4-options"]; v != "" {
		m = and(m, ipv4Options(v))
	}
	if v := p["priority"]; v != "" {
		neg := strings.HasPrefix(v, "!")
		n, _ := strconv.ParseUint(strings.TrimPrefix(v, "!"), 10, 32)
		m = and(m, one(&expr.Meta{Key: expr.MetaKeyPRIORITY, Register: 1}, &expr.Cmp{Op: cmpOp(neg), Register: 1, Data: ne32(uint32(n))}))
	}
	if v := p["headers"]; v != "" {
		x, err := ipv6Headers(v)
		if err != nil {
			return nil, err
		}
		m = and(m, one(x))
	}
	if v := p["content"]; v != "" {
		m = and(m, one(contentMatch(v)))
	}
	if v := p["connection-bytes"]; v != "" {
		if err := add(connectionBytes(v)); err != nil {
			return nil, err
		}
	}
	if v := p["time"]; v != "" {
		if err := add(timeMatch(v, cfg.zoneOffset(), cfg.dayOffset())); err != nil {
			return nil, err
		}
	}
	if v := p["per-connection-classifier"]; v != "" {
		if err := add(perConnectionClassifier(cfg, v, p["protocol"])); err != nil {
			return nil, err
		}
	}
	if r.Action == "change-mss" && p["protocol"] == "" {
		m = and(m, one(l4proto(unix.IPPROTO_TCP, false)...))
	}
	// Stateful matchers last.
	if v := p["dst-limit"]; v != "" {
		a, _, err := dstLimit(cfg, r, v)
		if err != nil {
			return nil, err
		}
		m = and(m, a)
	}
	if v := p["connection-limit"]; v != "" {
		a, _, err := connectionLimit(cfg, r, v)
		if err != nil {
			return nil, err
		}
		m = and(m, a)
	}
	if v := p["random"]; v != "" {
		n, _ := strconv.Atoi(v)
		m = and(m, one(&expr.Numgen{Register: 1, Modulus: 100, Type: unix.NFT_NG_RANDOM},
			&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: ne32(uint32(n))}))
	}
	if v := p["nth"]; v != "" {
		every, nth, _ := parseNth(v)
		m = and(m, one(&expr.Numgen{Register: 1, Modulus: every, Type: unix.NFT_NG_INCREMENTAL},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ne32(nth - 1)}))
	}
	if v := p["limit"]; v != "" {
		l, _ := parseLimit(v)
		m = and(m, one(limitExpr(l)))
	}
	if r.Action == "set-priority" && strings.HasPrefix(p["new-priority"], "from-dscp") {
		m = and(m, priorityFromDSCP(v6, p["new-priority"] == "from-dscp-high-3-bits"))
	}
	if prop := map[string]string{"change-ttl": "new-ttl", "change-hop-limit": "new-hop-limit"}[r.Action]; prop != "" {
		if op, n, _ := parseTTLChange(prop, p[prop]); op != "set" {
			m = and(m, ttlSteps(v6, op, n))
		}
	}
	act, err := actionExprs(cfg, r)
	if err != nil {
		return nil, err
	}
	if never {
		return [][]expr.Any{}, nil
	}
	// reject-with=tcp-reset resets TCP only; any other packet the rule matches gets the
	// default ICMP error (the kernel's reset silently drops a non-TCP packet, which would
	// make the rule a drop). A rule not limited to tcp splits on the protocol.
	acts := func(int) []expr.Any { return act }
	if r.Action == "reject" && p["reject-with"] == "tcp-reset" && p["protocol"] != "tcp" {
		icmp := rejectExprs("", v6)
		if p["protocol"] != "" && !strings.HasPrefix(p["protocol"], "!") {
			act = icmp
		} else {
			// The protocol test goes first, so that a stateful matcher (limit, nth) in
			// the rule runs in one alternative only: the TCP half, then the rest.
			tcpRules := len(m)
			m = and(alt{l4proto(unix.IPPROTO_TCP, false), l4proto(unix.IPPROTO_TCP, true)}, m)
			acts = func(i int) []expr.Any {
				if i < tcpRules {
					return act
				}
				return icmp
			}
		}
	}
	counter := &expr.Objref{Type: objCounter, Name: r.facts().counter}
	out := make([][]expr.Any, len(m))
	for i, es := range m {
		es = append(es, counter)
		if p["log"] == "yes" && r.Action != "log" {
			es = append(es, logExpr(r))
		}
		out[i] = append(es, acts(i)...)
	}
	return out, nil
}

func logExpr(r *Rule) expr.Any {
	return &expr.Log{Key: 1<<unix.NFTA_LOG_PREFIX | 1<<unix.NFTA_LOG_GROUP, Group: LogGroup,
		Data: []byte(logPrefix(r))}
}

// LogGroup is the nflog group routerd reads log lines from.
const LogGroup = 0x7f31

// logPrefix carries the rule's identity to the log reader: "table/chain/id prefix".
// logPrefix is the kernel's log prefix of a rule: "table/chain/id log-prefix", which the
// log reader turns into RouterOS's line. A chain whose name does not fit beside the
// rule's log-prefix is left out ("table//id"): the reader finds it by the rule's id.
func logPrefix(r *Rule) string {
	s := fmt.Sprintf("%s/%s/%d %s", r.Table, r.Chain, r.ID, r.Props["log-prefix"])
	if len(s) > logPrefixMax {
		s = fmt.Sprintf("%s//%d %s", r.Table, r.ID, r.Props["log-prefix"])
	}
	if len(s) > logPrefixMax {
		s = s[:logPrefixMax]
	}
	return s
}

func actionExprs(cfg Config, r *Rule) ([]expr.Any, error) {
	p := r.Props
	v6 := cfg.V6
	verdict := func(k expr.VerdictKind) []expr.Any { return []expr.Any{&expr.Verdict{Kind: k}} }
	// passthrough=no ends this table's evaluation for the packet (RouterOS: stop here).
	pass := func(es []expr.Any) []expr.Any {
		if p["passthrough"] == "no" {
			return append(es, &expr.Verdict{Kind: expr.VerdictAccept})
		}
		return es
	}
	// randomise-ports=yes: the kernel picks the translated port at random.
	random := p["randomise-ports"] == "yes"
	var redirFlags uint32
	if random {
		redirFlags = unix.NF_NAT_RANGE_PROTO_RANDOM
	}
	fam := uint32(unix.NFPROTO_IPV4)
	if v6 {
		fam = unix.NFPROTO_IPV6
	}
	switch r.Action {
	case "accept":
		return verdict(expr.VerdictAccept), nil
	case "drop":
		return verdict(expr.VerdictDrop), nil
	case "return":
		return verdict(expr.VerdictReturn), nil
	case "passthrough":
		return nil, nil
	case "fasttrack-connection":
		// The connection's conntrack mark gets FastTrackMark, which the XDP fast path
		// looks for; this packet continues (the next rule accepts established traffic,
		// as in RouterOS's default configuration).
		return []expr.Any{&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(ConnMarkMask), Xor: ne32(FastTrackMark)},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}}, nil
	case "jump":
		return []expr.Any{&expr.Verdict{Kind: expr.VerdictJump, Chain: ChainName(r.Table, p["jump-target"])}}, nil
	case "log":
		return []expr.Any{logExpr(r)}, nil
	case "reject":
		return rejectExprs(p["reject-with"], v6), nil
	case "notrack":
		return []expr.Any{&expr.Notrack{}}, nil
	case "add-src-to-address-list", "add-dst-to-address-list":
		off, l := uint32(12), uint32(4)
		if v6 {
			off, l = 8, 16
		}
		if r.Action == "add-dst-to-address-list" {
			off += l
		}
		var to time.Duration
		switch t := p["address-list-timeout"]; t {
		case "", "none-dynamic":
		case "none-static":
			to = keepTimeout // the engine saves these as configured entries (keep.go)
		default:
			to, _ = timeValue(t)
		}
		return []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l},
			&expr.Dynset{SrcRegKey: 1, SetName: dynamicSet(p["address-list"]), Operation: dynsetUpdate, Timeout: to}}, nil
	case "mark-connection":
		// The fasttrack bit stays as it is.
		return pass([]expr.Any{&expr.Ct{Key: expr.CtKeyMARK, Register: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(FastTrackMark), Xor: ne32(cfg.Marks.Conn(p["new-connection-mark"]))},
			&expr.Ct{Key: expr.CtKeyMARK, Register: 1, SourceRegister: true}}), nil
	case "mark-packet":
		return pass(setMark(cfg.Marks.Packet(p["new-packet-mark"]), RoutingMarkMask|BridgePortMarkMask)), nil
	case "mark-routing":
		mark, err := cfg.routingMark(p["new-routing-mark"])
		if err != nil {
			return nil, err
		}
		// routerd's own IKE and ESP packets may be marked too: the reference's "Using
		// different routing table" example sends them out a backup table so. They
		// lose the bypass mark then, but ike/esp's ip rules keep this host's ESP and
		// IKE out of the tunnel whatever mark they carry.
		return pass(setMark(mark, PacketMarkMask|BridgePortMarkMask)), nil
	case "change-dscp":
		n, _ := strconv.Atoi(p["new-dscp"])
		return pass(trafficClass(v6, dscpBits).set(n)), nil
	case "change-mss":
		es, err := changeMSS(r)
		if err != nil {
			return nil, err
		}
		return pass(es), nil
	case "set-priority":
		if strings.HasPrefix(p["new-priority"], "from-dscp") {
			return pass(nil), nil // the map priorityFromDSCP adds to the match sets it
		}
		n, err := strconv.ParseUint(p["new-priority"], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("invalid value for argument new-priority")
		}
		return pass([]expr.Any{&expr.Immediate{Register: 1, Data: ne32(uint32(n))},
			&expr.Meta{Key: expr.MetaKeyPRIORITY, Register: 1, SourceRegister: true}}), nil
	case "change-hop-limit":
		op, n, _ := parseTTLChange("new-hop-limit", p["new-hop-limit"])
		if op != "set" {
			return pass(nil), nil // the map ttlSteps adds to the match writes it
		}
		return pass([]expr.Any{&expr.Immediate{Register: 1, Data: []byte{n}},
			&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 7, Len: 1}}), nil
	case "change-ttl":
		op, n, _ := parseTTLChange("new-ttl", p["new-ttl"])
		if op != "set" {
			return pass(nil), nil
		}
		if v6 {
			return pass([]expr.Any{&expr.Immediate{Register: 1, Data: []byte{n}},
				&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 7, Len: 1}}), nil
		}
		return pass([]expr.Any{&expr.Immediate{Register: 1, Data: []byte{n}},
			&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 1,
				CsumType: expr.CsumTypeInet, CsumOffset: 10}}), nil
	case "masquerade":
		if tp := p["to-ports"]; tp != "" {
			a, b := portRange(tp)
			return []expr.Any{&expr.Immediate{Register: 3, Data: be16(a)}, &expr.Immediate{Register: 4, Data: be16(b)},
				&expr.Masq{ToPorts: true, RegProtoMin: 3, RegProtoMax: 4, Random: random}}, nil
		}
		return []expr.Any{&expr.Masq{Random: random}}, nil
	case "redirect":
		if tp := p["to-ports"]; tp != "" {
			a, b := portRange(tp)
			return []expr.Any{&expr.Immediate{Register: 3, Data: be16(a)}, &expr.Immediate{Register: 4, Data: be16(b)},
				&expr.Redir{RegisterProtoMin: 3, RegisterProtoMax: 4, Flags: redirFlags}}, nil
		}
		return []expr.Any{&expr.Redir{Flags: redirFlags}}, nil
	case "src-nat", "dst-nat", "same", "netmap":
		typ := expr.NATTypeSourceNAT
		if natDest(r) {
			typ = expr.NATTypeDestNAT
		}
		// same chooses the address by source and destination (the kernel's hash of
		// both), or with same-not-by-dst=yes by the source only (its persistent flag).
		n := &expr.NAT{Type: typ, Family: fam, Persistent: r.Action == "same" && p["same-not-by-dst"] == "yes",
			Prefix: r.Action == "netmap", Random: random}
		var es []expr.Any
		if ta := p["to-addresses"]; ta != "" {
			from, to, err := addrRange(ta)
			if err != nil {
				return nil, err
			}
			if from.Is6() != v6 {
				return nil, fmt.Errorf("invalid value for argument to-addresses")
			}
			es = append(es, &expr.Immediate{Register: 1, Data: from.AsSlice()}, &expr.Immediate{Register: 2, Data: to.AsSlice()})
			n.RegAddrMin, n.RegAddrMax = 1, 2
		}
		if tp := p["to-ports"]; tp != "" {
			a, b := portRange(tp)
			es = append(es, &expr.Immediate{Register: 3, Data: be16(a)}, &expr.Immediate{Register: 4, Data: be16(b)})
			n.RegProtoMin, n.RegProtoMax, n.Specified = 3, 4, true
		}
		return append(es, n), nil
	}
	return nil, fmt.Errorf("action %s: %w", r.Action, ErrNotSupported)
}

func setMark(v, keep uint32) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(keep), Xor: ne32(v)},
		&expr.Meta{Key: expr.MetaKeyMARK, Register: 1, SourceRegister: true}}
}

func markMatch(v, mask uint32, neg bool) alt {
	return one(&expr.Meta{Key: expr.MetaKeyMARK, Register: 1},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: ne32(mask), Xor: ne32(0)},
		&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: ne32(v)})
}

func rejectExprs(with string, v6 bool) []expr.Any {
	if with == "tcp-reset" {
		// Only for TCP packets: compileRule gives the others the default ICMP error.
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_TCP_RST}}
	}
	if v6 {
		code := map[string]uint8{"icmp-no-route": 0, "icmp-admin-prohibited": 1, "icmp-address-unreachable": 3,
			"icmp-port-unreachable": 4, "icmp-not-neighbour": 2}[with]
		return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: code}}
	}
	code, ok := map[string]uint8{"icmp-network-unreachable": 0, "icmp-host-unreachable": 1, "icmp-protocol-unreachable": 2,
		"icmp-port-unreachable": 3, "icmp-net-prohibited": 9, "icmp-host-prohibited": 10, "icmp-admin-prohibited": 13}[with]
	if !ok {
		code = 0 // RouterOS's default: icmp-network-unreachable
	}
	return []expr.Any{&expr.Reject{Type: unix.NFT_REJECT_ICMP_UNREACH, Code: code}}
}

// l4proto matches the packet's transport protocol n (neg: any other).
func l4proto(n uint8, neg bool) []expr.Any {
	return []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, &expr.Cmp{Op: cmpOp(neg), Register: 1, Data: []byte{n}}}
}

func cmpOp(neg bool) expr.CmpOp {
	if neg {
		return expr.CmpOpNeq
	}
	return expr.CmpOpEq
}

// addrMatch matches an address, prefix or range at off.
func addrMatch(v string, off, l uint32) (alt, error) {
	neg := strings.HasPrefix(v, "!")
	v = strings.TrimPrefix(v, "!")
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: l}
	if strings.Contains(v, "-") {
		from, to, err := addrRange(v)
		if err != nil {
			return nil, err
		}
		op := expr.CmpOpEq
		if neg {
			op = expr.CmpOpNeq
		}
		return one(load, &expr.Range{Op: op, Register: 1, FromData: from.AsSlice(), ToData: to.AsSlice()}), nil
	}
	pfx, err := parsePrefix(v)
	if err != nil {
		return nil, fmt.Errorf("invalid value for argument address: %s", v)
	}
	if int(l)*8 != pfx.Addr().BitLen() {
		return nil, fmt.Errorf("invalid value for argument address: %s is of the other family", v)
	}
	if pfx.Bits() == pfx.Addr().BitLen() {
		return one(load, &expr.Cmp{Op: cmpOp(neg), Register: 1, Data: pfx.Addr().AsSlice()}), nil
	}
	if pfx.Bits() == 0 {
		if neg {
			return nil, fmt.Errorf("address !%s matches nothing", v)
		}
		return alt{{}}, nil
	}
	mask := make([]byte, l)
	for i := 0; i < pfx.Bits(); i++ {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return one(load, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: l, Mask: mask, Xor: make([]byte, l)},
		&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: pfx.Masked().Addr().AsSlice()}), nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	return netip.ParsePrefix(s)
}

// addrRange reads an address, prefix or from-to range as a closed range.
func addrRange(s string) (netip.Addr, netip.Addr, error) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		x, e1 := netip.ParseAddr(a)
		y, e2 := netip.ParseAddr(b)
		if e1 != nil || e2 != nil || x.Is4() != y.Is4() || y.Less(x) {
			return netip.Addr{}, netip.Addr{}, fmt.Errorf("invalid address range %s", s)
		}
		return x, y, nil
	}
	p, err := parsePrefix(s)
	if err != nil {
		return netip.Addr{}, netip.Addr{}, fmt.Errorf("invalid address %s", s)
	}
	p = p.Masked()
	return p.Addr(), lastAddr(p), nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// portMatch matches ports at transport offset off (0 source, 2 destination).
func portMatch(v string, off uint32) alt {
	return portMatchLoad(v, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
}

// portMatchLoad matches ports that load puts in register 1 (2 bytes, network order):
// [!]list of ports and ranges, one set lookup (inPorts).
func portMatchLoad(v string, load expr.Any) alt {
	neg := strings.HasPrefix(v, "!")
	var ranges [][2]uint16
	for _, part := range strings.Split(strings.TrimPrefix(v, "!"), ",") {
		a, b := portRange(part)
		ranges = append(ranges, [2]uint16{min(a, b), max(a, b)})
	}
	return inPorts(load, ranges, neg)
}

func portRange(s string) (uint16, uint16) {
	a, b, ok := strings.Cut(s, "-")
	x, _ := strconv.Atoi(a)
	y := x
	if ok {
		y, _ = strconv.Atoi(b)
	}
	return uint16(x), uint16(y)
}

// rangeMatch matches a number or range loaded by load (n bytes: 2 big endian from a
// header, 4 in host order from meta len, turned to network order first because ranges
// compare bytes in order).
func rangeMatch(v string, load expr.Any, n int) alt {
	neg := strings.HasPrefix(v, "!")
	a, b := portRange(strings.TrimPrefix(v, "!"))
	op := expr.CmpOpEq
	if neg {
		op = expr.CmpOpNeq
	}
	if n == 2 {
		return one(load, &expr.Range{Op: op, Register: 1, FromData: be16(a), ToData: be16(b)})
	}
	return one(load, &expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Range{Op: op, Register: 1, FromData: be32(uint32(a)), ToData: be32(uint32(b))})
}

func ifname(s string) []byte {
	b := make([]byte, 16)
	copy(b, s)
	return b
}

func protoNumber(name string, v6 bool) (byte, error) {
	if n, ok := menu.FirewallProtocols[name]; ok {
		if name == "icmp" && v6 {
			n = 58
		}
		return byte(n), nil
	}
	n, err := strconv.Atoi(name)
	if err != nil || n < 0 || n > 255 {
		return 0, fmt.Errorf("input does not match any value of protocol")
	}
	return byte(n), nil
}

func parseMAC(s string) []byte {
	out := make([]byte, 0, 6)
	for _, part := range strings.Split(s, ":") {
		n, _ := strconv.ParseUint(part, 16, 8)
		out = append(out, byte(n))
	}
	return out
}

func timeValue(s string) (time.Duration, error) { return value.ParseDuration(s) }

func ne32(v uint32) []byte { b := make([]byte, 4); binary.NativeEndian.PutUint32(b, v); return b }
func be16(v uint16) []byte { b := make([]byte, 2); binary.BigEndian.PutUint16(b, v); return b }

// ruleMeters are the per-flow sets a compiled rule uses.
func ruleMeters(cfg Config, r *Rule) []Meter {
	var out []Meter
	if v := r.Props["dst-limit"]; v != "" {
		if _, m, err := dstLimit(cfg, r, v); err == nil {
			out = append(out, *m)
		}
	}
	if v := r.Props["connection-limit"]; v != "" {
		if _, m, err := connectionLimit(cfg, r, v); err == nil {
			out = append(out, *m)
		}
	}
	return out
}

// ipsecIface names the interface matcher a rule's ipsec-policy=DIR,ipsec combines with
// (in-interface for in, out-interface for out, when set without !), or "".
func ipsecIface(p map[string]string) string {
	dir, pol, _ := strings.Cut(p["ipsec-policy"], ",")
	prop := map[string]string{"in": "in-interface", "out": "out-interface"}[dir]
	if pol != "ipsec" || prop == "" || p[prop] == "" || strings.HasPrefix(p[prop], "!") || ifaceKind(p[prop]) {
		return ""
	}
	return prop
}

// ipsecIfaceNote is the status of a rule whose ipsec-policy=DIR,ipsec has an interface
// (ipsecIface): the kernel's IPsec packets are matched on the interface, but routerd's
// userspace ESP hands its packets in and out through its TUN device, which says nothing
// of the interface the ESP itself used, so for those the interface is not checked.
func ipsecIfaceNote(prop string) string {
	return fmt.Sprintf("%s is not checked for the packets of routerd's userspace ESP (they pass its %s device whichever interface carries the ESP): those match on ipsec-policy alone", prop, IPsecTun)
}

// icmpOptions matches icmp-options=[!]TYPE[:CODE[-CODE]]: the type alone, the type and one
// code, or the type and a range of codes (0-255: any code, the type alone).
func icmpOptions(v string) alt {
	neg := strings.HasPrefix(v, "!")
	t, c, hasCode := strings.Cut(strings.TrimPrefix(v, "!"), ":")
	tn, _ := strconv.Atoi(t)
	lo, hi := 0, 255
	if hasCode {
		a, b, isRange := strings.Cut(c, "-")
		lo, _ = strconv.Atoi(a)
		hi = lo
		if isRange {
			hi, _ = strconv.Atoi(b)
		}
		if lo > hi {
			lo, hi = hi, lo
		}
	}
	typ := func(op expr.CmpOp) []expr.Any {
		return []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
			&expr.Cmp{Op: op, Register: 1, Data: []byte{byte(tn)}}}
	}
	code := func(op expr.CmpOp) []expr.Any {
		return []expr.Any{&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 1, Len: 1},
			&expr.Range{Op: op, Register: 1, FromData: []byte{byte(lo)}, ToData: []byte{byte(hi)}}}
	}
	if lo == 0 && hi == 255 {
		return alt{typ(cmpOp(neg))}
	}
	if !neg {
		return alt{append(typ(expr.CmpOpEq), code(expr.CmpOpEq)...)}
	}
	// Not (this type with such a code): another type, or this type with another code.
	return alt{typ(expr.CmpOpNeq), append(typ(expr.CmpOpEq), code(expr.CmpOpNeq)...)}
}

// ipv4Options matches ipv4-options=: any and none by the header length, the source
// routing, record-route and router-alert options by the kernel's IPv4 option lookup
// (exthdr; it knows no other option, so timestamp is refused by Check).
func ipv4Options(v string) alt {
	ihl := func(op expr.CmpOp) alt {
		return one(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 1},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 1, Mask: []byte{0x0f}, Xor: []byte{0}},
			&expr.Cmp{Op: op, Register: 1, Data: []byte{5}})
	}
	present := func(typ uint8, yes bool) []expr.Any {
		return []expr.Any{&expr.Exthdr{DestRegister: 1, Type: typ, Offset: 0, Len: 1, Op: exthdrOpIPv4,
			Flags: unix.NFT_EXTHDR_F_PRESENT},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{map[bool]byte{true: 1, false: 0}[yes]}}}
	}
	const lsrr, ssrr, rr, ra = 131, 137, 7, 148
	switch v {
	case "any":
		return ihl(expr.CmpOpGt)
	case "none":
		return ihl(expr.CmpOpEq)
	case "loose-source-routing":
		return alt{present(lsrr, true)}
	case "strict-source-routing":
		return alt{present(ssrr, true)}
	case "record-route":
		return alt{present(rr, true)}
	case "router-alert":
		return alt{present(ra, true)}
	case "no-record-route":
		return alt{present(rr, false)}
	case "no-router-alert":
		return alt{present(ra, false)}
	case "no-source-routing":
		return alt{append(present(lsrr, false), present(ssrr, false)...)}
	}
	return nil
}

// exthdrOpIPv4 is NFT_EXTHDR_OP_IPV4 of the kernel's enum nft_exthdr_op (x/sys does not
// name it yet).
const exthdrOpIPv4 expr.ExthdrOp = 2

// connectionBytes matches connection-bytes=FROM-TO: the bytes the connection carried in
// both directions (conntrack accounting, which the kernel turns on for a ct bytes
// expression); TO 0 is no upper bound, as in RouterOS.
func connectionBytes(v string) (alt, error) {
	a, b, ok := strings.Cut(v, "-")
	from, err1 := strconv.ParseUint(a, 10, 64)
	to, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || (to != 0 && to < from) {
		return nil, fmt.Errorf("invalid value for argument connection-bytes")
	}
	be64 := func(v uint64) []byte { b := make([]byte, 8); binary.BigEndian.PutUint64(b, v); return b }
	load := []expr.Any{&expr.Ct{Key: expr.CtKeyBYTES, Register: 1},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 8, Size: 8}}
	if to == 0 {
		return alt{append(load, &expr.Cmp{Op: expr.CmpOpGte, Register: 1, Data: be64(from)})}, nil
	}
	return alt{append(load, &expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be64(from), ToData: be64(to)})}, nil
}
