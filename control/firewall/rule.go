package firewall

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/control/value"
)

// ErrNotSupported: the rule uses a matcher or action the kernel cannot express here. Such
// a rule is refused, never applied with the part left out.
var ErrNotSupported = errors.New("not supported")

// Rule is one firewall rule decoded from its menu item.
type Rule struct {
	ID    uint64
	Table string // filter, nat, mangle, raw
	Chain string
	// Action and its parameters.
	Action string
	Props  map[string]string
	// Comment names the rule in metrics.
	Comment string
	// own is the fingerprint of the fields above (ownSum), taken once: the compiler
	// never changes a Rule, and a pass reuses the Rules of unchanged items.
	own uint64
	// factsMemo is what Compile reads of every rule on every pass besides compiling it,
	// taken once (see ruleFacts).
	factsMemo *ruleFacts
	// compiled is what Compile last made of the rule, with the fingerprint it made it
	// under (ruleSum): a pass reuses the Rules of unchanged items, so it finds their
	// kernel rules here rather than in CompileCache's map, whose lookups over 10,000
	// rules were a tenth of an unchanged pass.
	compiled *compiledMemo
}

type compiledMemo struct {
	sum uint64
	cr  compiled
}

// ruleFacts are the properties that Compile's whole-ruleset work reads of each rule on
// every pass (interface and bridge-port names for the context's fingerprint and the port
// classes, address lists, the hook checks) and its counter's name, taken from Props once
// per Rule. A pass during an import reads every rule again; looking the same
// properties up in 10,000 maps on each pass was half of an unchanged pass's CPU.
type ruleFacts struct {
	counter                   string
	inIface, outIface         string // without "!"
	inIfaceList, outIfaceList string
	inPort, inPortList        string
	anyIn, anyOut             bool // in-/out-interface or its list set
	anyInPort, anyOutPort     bool // in-/out-bridge-port or its list set
	srcMAC                    bool
	ipsecDir                  string // ipsec-policy's direction
	newMSS                    string
	keepStatic                bool // address-list-timeout=none-static (keep.go)
	lists                     []string
	hooks                     []hookCheck // checkHook's answers so far
}

type hookCheck struct {
	builtin string
	err     error
}

// facts returns the rule's ruleFacts, taking them on first use (a Rule is used by one
// pass at a time).
func (r *Rule) facts() *ruleFacts {
	if r.factsMemo != nil {
		return r.factsMemo
	}
	p := r.Props
	f := &ruleFacts{
		counter:      CounterName(RuleKey{r.Table, r.ID}),
		inIface:      strings.TrimPrefix(p["in-interface"], "!"),
		outIface:     strings.TrimPrefix(p["out-interface"], "!"),
		inIfaceList:  strings.TrimPrefix(p["in-interface-list"], "!"),
		outIfaceList: strings.TrimPrefix(p["out-interface-list"], "!"),
		inPort:       strings.TrimPrefix(p["in-bridge-port"], "!"),
		inPortList:   strings.TrimPrefix(p["in-bridge-port-list"], "!"),
		anyIn:        p["in-interface"] != "" || p["in-interface-list"] != "",
		anyOut:       p["out-interface"] != "" || p["out-interface-list"] != "",
		anyInPort:    p["in-bridge-port"] != "" || p["in-bridge-port-list"] != "",
		anyOutPort:   p["out-bridge-port"] != "" || p["out-bridge-port-list"] != "",
		srcMAC:       p["src-mac-address"] != "",
		newMSS:       p["new-mss"],
		keepStatic:   p["address-list-timeout"] == "none-static",
	}
	if v := p["ipsec-policy"]; v != "" {
		f.ipsecDir, _, _ = strings.Cut(strings.TrimPrefix(v, "!"), ",")
	}
	for _, k := range []string{"src-address-list", "dst-address-list"} {
		if v := strings.TrimPrefix(p[k], "!"); v != "" {
			f.lists = append(f.lists, v)
		}
	}
	if strings.HasPrefix(r.Action, "add-") && p["address-list"] != "" {
		f.lists = append(f.lists, p["address-list"])
	}
	r.factsMemo = f
	return f
}

// builtinChains are RouterOS's chains of each table.
var builtinChains = map[string][]string{
	"filter": {"input", "forward", "output"},
	"nat":    {"srcnat", "dstnat", "input", "output"}, // RouterOS 7 added input and output
	"mangle": {"prerouting", "input", "forward", "output", "postrouting"},
	"raw":    {"prerouting", "output"},
}

// IsBuiltinChain reports whether chain is one of table's built-in chains.
func IsBuiltinChain(table, chain string) bool { return slices.Contains(builtinChains[table], chain) }

// unsupportedActions are RouterOS's actions the kernel here cannot carry out; a rule with
// one is kept and shows invalid with this reason (its matchers that nothing carries out
// are declared in the schema, menu.Prop.Unsupported).
var unsupportedActions = map[string]string{
	"tarpit":                   "no kernel support: tarpit needs the xtables TARPIT target, which this kernel lacks",
	"endpoint-independent-nat": "no kernel support: endpoint-independent NAT",
	"route":                    "no kernel support: nftables cannot choose a packet's gateway (mark-routing to a table whose default route is that gateway does)",
	"clear-df":                 "no kernel support: clear-df has no nftables statement",
	"sniff-pc":                 "no kernel support: there is no packet sniffer here",
	"sniff-tzsp":               "no kernel support: there is no TZSP sender here",
	"strip-ipv4-options":       "no kernel support: strip-ipv4-options has no nftables statement",
	"snpt":                     "no kernel support: nftables cannot rewrite a prefix checksum-neutrally (RFC 6296), and the kernel's SNPT target works only in an iptables mangle table",
	"dnpt":                     "no kernel support: nftables cannot rewrite a prefix checksum-neutrally (RFC 6296), and the kernel's DNPT target works only in an iptables mangle table",
}

// portProtocols carry ports.
var portProtocols = []string{"tcp", "udp", "udp-lite", "dccp", "sctp"}

// Check validates a rule on its own (its chain, action and parameters), with RouterOS's
// words; chain-wide problems (loops, missing jump targets) are found by Compile.
func (r *Rule) Check(v6 bool) error {
	p := r.Props
	if r.Chain == "" {
		return fmt.Errorf("failure: chain not specified")
	}
	if err := checkLimits(r); err != nil {
		return err
	}
	// An action nothing here carries out still has its parameters checked: the rule is
	// kept (invalid), so what it stores must be right.
	var notSupported error
	if why, ok := unsupportedActions[r.Action]; ok {
		notSupported = fmt.Errorf("action %s: %s: %w", r.Action, why, ErrNotSupported)
	}
	need := func(prop string) error {
		if p[prop] == "" {
			return fmt.Errorf("failure: %s must be specified for action=%s", prop, r.Action)
		}
		return nil
	}
	switch r.Action {
	case "jump":
		if err := need("jump-target"); err != nil {
			return err
		}
		if IsBuiltinChain(r.Table, p["jump-target"]) {
			return fmt.Errorf("failure: can not jump to builtin chain %s", p["jump-target"])
		}
	case "add-src-to-address-list", "add-dst-to-address-list":
		if err := need("address-list"); err != nil {
			return err
		}
	case "mark-connection":
		if err := need("new-connection-mark"); err != nil {
			return err
		}
	case "mark-packet":
		if err := need("new-packet-mark"); err != nil {
			return err
		}
	case "mark-routing":
		if err := need("new-routing-mark"); err != nil {
			return err
		}
		if IsBuiltinChain(r.Table, r.Chain) && r.Chain != "prerouting" && r.Chain != "output" {
			return fmt.Errorf("failure: mark-routing is possible only in prerouting and output chains")
		}
	case "src-nat", "dst-nat", "netmap", "same":
		if err := need("to-addresses"); err != nil && r.Action != "dst-nat" {
			return err
		}
		if r.Action == "dst-nat" && p["to-addresses"] == "" && p["to-ports"] == "" {
			return fmt.Errorf("failure: to-addresses or to-ports must be specified for action=dst-nat")
		}
	case "change-ttl":
		if err := need("new-ttl"); err != nil {
			return err
		}
		if _, _, err := parseTTLChange("new-ttl", p["new-ttl"]); err != nil {
			return err
		}
	case "change-dscp":
		if err := need("new-dscp"); err != nil {
			return err
		}
	case "change-hop-limit":
		if err := need("new-hop-limit"); err != nil {
			return err
		}
		if _, _, err := parseTTLChange("new-hop-limit", p["new-hop-limit"]); err != nil {
			return err
		}
	case "set-priority":
		if err := need("new-priority"); err != nil {
			return err
		}
		if p["new-priority"] == "from-ingress" {
			return fmt.Errorf("new-priority: from-ingress: no kernel support: Linux keeps no ingress priority on the packet for nftables: %w", ErrNotSupported)
		}
	case "change-mss":
		if err := need("new-mss"); err != nil {
			return err
		}
		if pr := p["protocol"]; pr != "tcp" {
			return fmt.Errorf("failure: change-mss can be used only with protocol=tcp")
		}
	}
	if p["to-ports"] != "" || p["to-addresses"] != "" {
		switch r.Action {
		case "src-nat", "dst-nat", "netmap", "same", "masquerade", "redirect":
		default:
			return fmt.Errorf("failure: to-addresses and to-ports are for NAT actions only")
		}
	}
	if p["to-ports"] != "" && !slices.Contains(portProtocols, strings.TrimPrefix(p["protocol"], "!")) {
		return fmt.Errorf("failure: to-ports can be specified only for protocols tcp, udp, udp-lite, dccp, sctp")
	}
	for _, k := range []string{"src-port", "dst-port", "port"} {
		if p[k] != "" && (strings.HasPrefix(p["protocol"], "!") || !slices.Contains(portProtocols, p["protocol"])) {
			return fmt.Errorf("failure: %s can be specified only for protocols tcp, udp, udp-lite, dccp, sctp", k)
		}
	}
	if p["tcp-flags"] != "" || p["tcp-mss"] != "" {
		if p["protocol"] != "tcp" {
			return fmt.Errorf("failure: tcp-flags and tcp-mss can be specified only for protocol tcp")
		}
	}
	if p["icmp-options"] != "" {
		if proto := p["protocol"]; proto != "icmp" && proto != "icmpv6" {
			return fmt.Errorf("failure: icmp-options can be specified only for protocol icmp or icmpv6")
		}
	}
	if v := p["connection-bytes"]; v != "" {
		if _, err := connectionBytes(v); err != nil {
			return err
		}
	}
	if o := p["ipv4-options"]; o == "timestamp" || o == "no-timestamp" {
		return fmt.Errorf("ipv4-options: the kernel's IPv4 option match knows no timestamp option: %w", ErrNotSupported)
	}
	if p["fragment"] == "yes" && v6 {
		return fmt.Errorf("fragment: IPv6 fragment matching is not translated yet: %w", ErrNotSupported)
	}
	if IsBuiltinChain(r.Table, r.Chain) {
		if err := checkHook(r, r.Chain); err != nil {
			return err
		}
	}
	if p["limit"] != "" {
		if _, err := parseLimit(p["limit"]); err != nil {
			return err
		}
	}
	if v := p["dst-limit"]; v != "" {
		if _, _, _, err := parseDstLimit(v); err != nil {
			return err
		}
	}
	if v := p["connection-limit"]; v != "" {
		if _, _, err := parseConnLimit(v, v6); err != nil {
			return err
		}
	}
	if v := p["per-connection-classifier"]; v != "" {
		if _, err := perConnectionClassifier(Config{V6: v6}, v, p["protocol"]); err != nil {
			return err
		}
	}
	if v := p["time"]; v != "" {
		if _, _, _, err := parseTime(v); err != nil {
			return err
		}
	}
	if p["nth"] != "" {
		if _, _, err := parseNth(p["nth"]); err != nil {
			return err
		}
	}
	if p["hop-limit"] != "" {
		if _, _, err := parseTTLMatch(p["hop-limit"]); err != nil {
			return fmt.Errorf("invalid value for argument hop-limit")
		}
	}
	if p["ttl"] != "" {
		if _, _, err := parseTTLMatch(p["ttl"]); err != nil {
			return err
		}
	}
	return notSupported
}

// natDest reports whether r translates destinations: dst-nat, and netmap in the chains
// that translate destinations.
func natDest(r *Rule) bool {
	return r.Action == "dst-nat" || (r.Action == "netmap" && (r.Chain == "dstnat" || r.Chain == "output"))
}

// checkHook validates what depends on the built-in chain the rule is reached from.
func checkHook(r *Rule, builtin string) error {
	f := r.facts()
	for _, h := range f.hooks {
		if h.builtin == builtin {
			return h.err
		}
	}
	err := checkHookOnce(r, f, builtin)
	f.hooks = append(f.hooks, hookCheck{builtin, err})
	return err
}

func checkHookOnce(r *Rule, f *ruleFacts, builtin string) error {
	inOnly := builtin == "input" || builtin == "prerouting" || builtin == "dstnat"
	outOnly := builtin == "output" || builtin == "postrouting" || builtin == "srcnat"
	if inOnly && f.anyOut {
		return fmt.Errorf("failure: outgoing interface matching not possible in %s chain", builtin)
	}
	if outOnly && f.anyIn {
		return fmt.Errorf("failure: incoming interface matching not possible in %s chain", builtin)
	}
	if f.anyInPort && !inOnly && builtin != "forward" {
		// The port rides on the packet mark (bridgePortShift), which routerd's own
		// packets never carry; RouterOS matches no port in these chains either.
		return fmt.Errorf("failure: incoming bridge port matching not possible in %s chain", builtin)
	}
	if f.anyOutPort && (inOnly || builtin == "output") {
		// The bridge chooses the port of bridged packets (physdevOut); routerd's own
		// packets are not bridged, and input and prerouting come before the choice.
		return fmt.Errorf("failure: outgoing bridge port matching not possible in %s chain", builtin)
	}
	if f.srcMAC && outOnly {
		return fmt.Errorf("failure: src-mac-address matching possible only in prerouting, input and forward chains")
	}
	if f.ipsecDir == "in" && (builtin == "output") {
		return fmt.Errorf("failure: ipsec-policy=in is not possible in output chain")
	}
	if f.ipsecDir == "out" && (builtin == "input" || builtin == "prerouting" || builtin == "dstnat") {
		return fmt.Errorf("failure: ipsec-policy=out is not possible in %s chain", builtin)
	}
	// NAT's input chain translates sources of packets for the router, its output chain
	// destinations of the router's own (the kernel's SNAT at input, DNAT at output).
	switch r.Action {
	case "masquerade":
		if builtin != "srcnat" {
			return fmt.Errorf("failure: action %s is possible only in srcnat chain", r.Action)
		}
	case "src-nat", "same":
		if builtin != "srcnat" && builtin != "input" {
			return fmt.Errorf("failure: action %s is possible only in srcnat and input chains", r.Action)
		}
	case "dst-nat", "redirect":
		if builtin != "dstnat" && builtin != "output" {
			return fmt.Errorf("failure: action %s is possible only in dstnat and output chains", r.Action)
		}
	case "netmap":
		// It translates destinations in dstnat and output, sources elsewhere (natDest).
		if dest := natDest(r); (dest && builtin != "dstnat" && builtin != "output") ||
			(!dest && builtin != "srcnat" && builtin != "input") {
			return fmt.Errorf("failure: action netmap is possible only in srcnat, dstnat, input and output chains")
		}
	case "mark-routing":
		if builtin != "prerouting" && builtin != "output" {
			return fmt.Errorf("failure: mark-routing is possible only in prerouting and output chains")
		}
	case "change-mss":
		// The route's MTU is known once the packet is routed.
		if f.newMSS == "clamp-to-pmtu" && builtin != "forward" && builtin != "output" && builtin != "postrouting" {
			return fmt.Errorf("failure: new-mss=clamp-to-pmtu is possible only in forward, output and postrouting chains")
		}
	}
	return nil
}

// Mark numbers. RouterOS marks are names; the kernel's are numbers. The packet mark
// carries the routing mark in its high 12 bits (routing.MarkMask: the routing table's
// mark, matched by policy routing's fwmark rules), the class of the bridge port the
// packet entered through in bits 16-19 (BridgePortMarkMask, see bridgePortShift) and the
// packet mark in the low 16 bits (PacketMarkBits).
// Connection marks use the conntrack mark's low 31 bits. Packet and connection mark names
// get their numbers from the engine's Marks table (the hash first, kept across restarts:
// conntrack keeps its marks).
const (
	RoutingMarkMask    = routing.MarkMask
	BridgePortMarkMask = 0x000f0000
	PacketMarkMask     = ^uint32(routing.MarkMask) &^ BridgePortMarkMask
	// PacketMarkBits is the width of the packet-mark part of the packet mark.
	PacketMarkBits = 16
)

// NameMark returns the hash of a mark name within bits bits (never 0: 0 is no-mark):
// the number Marks gives the name when no other name has it.
func NameMark(name string, bits uint) uint32 {
	if name == "" || name == "no-mark" {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(name))
	v := h.Sum32() & (1<<bits - 1)
	if v == 0 {
		v = 1
	}
	return v
}

// FastTrackMark is the conntrack mark bit of a fasttracked connection: action
// fasttrack-connection sets it, and the XDP fast path (dataplane) forwards the packets of
// connections that have it, bypassing the firewall. Connection marks use the other 31
// bits (ConnMarkMask), so marking a connection keeps it fasttracked and fasttracking keeps
// its mark.
const (
	FastTrackMark uint32 = 1 << 31
	ConnMarkMask         = ^FastTrackMark
)

// ConnMark is the conntrack mark number of a connection-mark name (0 for no-mark).
func ConnMark(name string) uint32 { return NameMark(name, 31) }

// limit is a parsed limit= value: rate per unit and burst.
type limit struct {
	rate  uint64
	unit  time.Duration
	burst uint32
	bytes bool
}

// limitUnits are the units nftables' limit has names for, finest first.
var limitUnits = []time.Duration{time.Second, time.Minute, time.Hour, 24 * time.Hour, 7 * 24 * time.Hour}

// perUnit turns n per d (RouterOS takes any time, limit=50/5s) into a count per one of
// limitUnits: the finest in which the count is whole (50/5s is 10/second, 100/10m
// 10/minute), else per week, rounded (within half a packet a week of the rate).
func perUnit(n uint64, d time.Duration) (uint64, time.Duration, error) {
	for _, u := range limitUnits {
		hi, lo := bits.Mul64(n, uint64(u))
		if hi >= uint64(d) {
			return 0, 0, fmt.Errorf("rate too high")
		}
		q, rem := bits.Div64(hi, lo, uint64(d))
		if rem == 0 {
			return q, u, nil
		}
		if u == limitUnits[len(limitUnits)-1] {
			if rem >= uint64(d)-rem {
				q++
			}
			return max(q, 1), u, nil
		}
	}
	panic("unreachable")
}

// parseLimit reads count[/time][,burst[:mode]], RouterOS's limit: mode packet (the
// default) counts packets, mode bit counts bits, count and burst both, which take k, M
// and G as a bit rate does (limit=1000000/1s,64000:bit is 1 Mbit/s with a 64 kbit
// burst); nftables limits bytes, so a bit rate and burst are taken in bytes (an eighth,
// rounded, at least one).
func parseLimit(s string) (limit, error) {
	bad := fmt.Errorf("invalid value for argument limit")
	l := limit{unit: time.Second}
	rate, rest, _ := strings.Cut(s, ",")
	b, mode, _ := strings.Cut(rest, ":")
	num := func(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }
	switch mode {
	case "", "packet":
	case "bit":
		l.bytes, num = true, value.ParseRate
	default:
		return l, bad
	}
	cnt, per, hasPer := strings.Cut(rate, "/")
	n, err := num(cnt)
	if err != nil || n == 0 {
		return l, bad
	}
	l.rate = n
	if hasPer {
		d, err := value.ParseDuration(per)
		if err != nil || d <= 0 {
			return l, bad
		}
		if l.rate, l.unit, err = perUnit(n, d); err != nil {
			return l, bad
		}
	}
	if rest != "" {
		bn, err := num(b)
		if l.bytes && err == nil && bn > 0 {
			bn = bitsToBytes(bn)
		}
		if err != nil || bn > math.MaxUint32 {
			return l, bad
		}
		l.burst = uint32(bn)
	}
	if l.bytes {
		l.rate = bitsToBytes(l.rate)
	}
	return l, nil
}

// bitsToBytes is n bits in whole bytes, rounded, at least one.
func bitsToBytes(n uint64) uint64 { return max(n/8+(n%8)/4, 1) }

// parseNth reads every,nth (1 <= nth <= every).
func parseNth(s string) (every, nth uint32, err error) {
	a, b, ok := strings.Cut(s, ",")
	x, e1 := strconv.ParseUint(a, 10, 32)
	y, e2 := strconv.ParseUint(b, 10, 32)
	if !ok || e1 != nil || e2 != nil || x == 0 || y == 0 || y > x {
		return 0, 0, fmt.Errorf("invalid value for argument nth")
	}
	return uint32(x), uint32(y), nil
}

// parseTTLMatch reads equal:N, not-equal:N, greater-than:N, less-than:N.
func parseTTLMatch(s string) (op string, n uint8, err error) {
	op, num, ok := strings.Cut(s, ":")
	v, e := strconv.ParseUint(num, 10, 8)
	if !ok || e != nil || !slices.Contains([]string{"equal", "not-equal", "greater-than", "less-than"}, op) {
		return "", 0, fmt.Errorf("invalid value for argument ttl")
	}
	return op, uint8(v), nil
}

// parseTTLChange reads set:N, increment:N, decrement:N (new-ttl, new-hop-limit: prop).
func parseTTLChange(prop, s string) (op string, n uint8, err error) {
	op, num, ok := strings.Cut(s, ":")
	v, e := strconv.ParseUint(num, 10, 8)
	if !ok || e != nil || !slices.Contains([]string{"set", "increment", "decrement"}, op) {
		return "", 0, fmt.Errorf("invalid value for argument %s", prop)
	}
	return op, uint8(v), nil
}
