package firewall

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/value"
)

// Kernel constants google/nftables does not name.
const (
	metaTimeDay    = expr.MetaKey(31) // NFT_META_TIME_DAY: 0 = Sunday
	metaTimeHour   = expr.MetaKey(32) // NFT_META_TIME_HOUR: seconds since midnight
	connlimitOver  = 1                // NFT_CONNLIMIT_F_INV
	reg32          = 8                // NFT_REG32_00: the first 4-byte register
	defaultExpire  = 10 * time.Minute // dst-limit's default expire
	meterSetMaxLen = 1 << 16
	pccSeed        = 0x72746431 // "rtd1"
)

// Meter is a per-rule dynamic set holding per-flow state (dst-limit's token buckets,
// connection-limit's connection counts).
type Meter struct {
	Name    string
	Key     nftables.SetDatatype
	Concat  bool
	Timeout time.Duration // 0: entries stay until their state is empty
}

// meterName names a rule's meter; the key's shape is in the name so that a changed
// mode makes a new set instead of reusing one of another key type.
func meterName(kind string, r *Rule, shape string) string {
	return fmt.Sprintf("%s/%s/%d/%s", kind, r.Table, r.ID, shape)
}

// loadKey loads the named packet fields into consecutive 4-byte registers from reg32
// and returns the loads, the set key type and whether it is a concatenation.
func loadKey(v6 bool, fields []string, mask *netip.Prefix) ([]expr.Any, nftables.SetDatatype, int) {
	var es []expr.Any
	var types []nftables.SetDatatype
	reg := uint32(reg32)
	alen, atype := uint32(4), nftables.TypeIPAddr
	src, dst := uint32(12), uint32(16)
	if v6 {
		alen, atype, src, dst = 16, nftables.TypeIP6Addr, 8, 24
	}
	for _, f := range fields {
		switch f {
		case "src", "dst":
			off := src
			if f == "dst" {
				off = dst
			}
			es = append(es, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: alen})
			if mask != nil && mask.Bits() < int(alen*8) {
				m := make([]byte, alen)
				for i := 0; i < mask.Bits(); i++ {
					m[i/8] |= 0x80 >> (i % 8)
				}
				es = append(es, &expr.Bitwise{SourceRegister: reg, DestRegister: reg, Len: alen, Mask: m, Xor: make([]byte, alen)})
			}
			types = append(types, atype)
			reg += alen / 4
		case "sport", "dport":
			off := uint32(0)
			if f == "dport" {
				off = 2
			}
			es = append(es, &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: off, Len: 2})
			types = append(types, nftables.TypeInetService)
			reg++
		}
	}
	if len(types) == 1 {
		return es, types[0], 0
	}
	t := nftables.MustConcatSetType(types...)
	n := 0
	for _, ty := range types {
		n += int((ty.Bytes + 3) / 4 * 4)
	}
	return es, t, n
}

// dstLimitModes are dst-limit's flow definitions as packet fields: RouterOS's five
// modes, spelled as RouterOS does (src-and-dst-addresses, as the manual's DDoS
// protection example and exports write it).
var dstLimitModes = map[string][]string{
	"dst-address":            {"dst"},
	"src-address":            {"src"},
	"src-and-dst-addresses":  {"src", "dst"},
	"dst-address-and-port":   {"dst", "dport"},
	"addresses-and-dst-port": {"src", "dst", "dport"},
}

// parseDstLimit reads count[/time],burst,mode[/expire].
func parseDstLimit(s string) (l limit, mode string, expire time.Duration, err error) {
	bad := fmt.Errorf("invalid value for argument dst-limit")
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return l, "", 0, bad
	}
	l, err = parseLimit(parts[0] + "," + parts[1])
	if err != nil {
		return l, "", 0, bad // the rate and burst are dst-limit's, not limit's
	}
	mode, exp, hasExp := strings.Cut(parts[2], "/")
	if _, ok := dstLimitModes[mode]; !ok {
		return l, "", 0, bad
	}
	expire = defaultExpire
	if hasExp {
		if expire, err = value.ParseDuration(exp); err != nil || expire <= 0 {
			return l, "", 0, bad
		}
	}
	return l, mode, expire, nil
}

func limitExpr(l limit) *expr.Limit {
	lim := &expr.Limit{Type: expr.LimitTypePkts, Rate: l.rate, Burst: l.burst}
	if l.bytes {
		lim.Type = expr.LimitTypePktBytes
	}
	lim.Unit = expr.LimitTime(l.unit / time.Second)
	return lim
}

// dstLimit: a meter keyed by the flow; a packet matches while its flow's bucket has
// tokens (the kernel's dynset stops the rule when the element's limit is over).
func dstLimit(cfg Config, r *Rule, v string) (alt, *Meter, error) {
	l, mode, expire, err := parseDstLimit(v)
	if err != nil {
		return nil, nil, err
	}
	loads, key, _ := loadKey(cfg.V6, dstLimitModes[mode], nil)
	m := &Meter{Name: meterName("dst-limit", r, mode), Key: key, Concat: strings.Contains(key.Name, " . "), Timeout: expire}
	es := append(loads, &expr.Dynset{SrcRegKey: reg32, SetName: m.Name, Operation: dynsetUpdate, Timeout: expire,
		Exprs: []expr.Any{limitExpr(l)}})
	return alt{es}, m, nil
}

// parseConnLimit reads limit,netmask.
func parseConnLimit(s string, v6 bool) (uint32, int, error) {
	bad := fmt.Errorf("invalid value for argument connection-limit")
	a, b, ok := strings.Cut(s, ",")
	n, e1 := strconv.ParseUint(a, 10, 32)
	bits, e2 := strconv.Atoi(b)
	max := 32
	if v6 {
		max = 128
	}
	if !ok || e1 != nil || e2 != nil || bits < 0 || bits > max {
		return 0, 0, bad
	}
	return uint32(n), bits, nil
}

// connectionLimit: a meter keyed by the source address block counts the block's
// connections (the kernel's connlimit); the rule matches when there are more than limit.
func connectionLimit(cfg Config, r *Rule, v string) (alt, *Meter, error) {
	n, bits, err := parseConnLimit(v, cfg.V6)
	if err != nil {
		return nil, nil, err
	}
	zero := netip.IPv4Unspecified()
	if cfg.V6 {
		zero = netip.IPv6Unspecified()
	}
	pfx := netip.PrefixFrom(zero, bits)
	loads, key, _ := loadKey(cfg.V6, []string{"src"}, &pfx)
	m := &Meter{Name: meterName("connection-limit", r, strconv.Itoa(bits)), Key: key}
	es := append(loads, &expr.Dynset{SrcRegKey: reg32, SetName: m.Name, Operation: dynsetAdd,
		Exprs: []expr.Any{&expr.Connlimit{Count: n, Flags: connlimitOver}}})
	return alt{es}, m, nil
}

// pccFields are per-connection-classifier's hashed fields.
var pccFields = map[string][]string{
	"both-addresses":           {"src", "dst"},
	"both-ports":               {"sport", "dport"},
	"both-addresses-and-ports": {"src", "dst", "sport", "dport"},
	"src-address":              {"src"},
	"dst-address":              {"dst"},
	"src-port":                 {"sport"},
	"dst-port":                 {"dport"},
	"src-address-and-port":     {"src", "sport"},
	"dst-address-and-port":     {"dst", "dport"},
}

// portProtos are the transport protocols whose header starts with the source and
// destination ports (nft's th sport and th dport).
var portProtos = []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP, unix.IPPROTO_UDPLITE, unix.IPPROTO_SCTP, unix.IPPROTO_DCCP}

// perConnectionClassifier reads [!]fields:every/remainder and hashes the fields with
// the kernel's jhash: the packets of one flow always get the same remainder. A
// classifier with ports hashes them for the protocols that have ports only: a packet of
// any other protocol hashes its ports as zero, as RouterOS, which has no ports for it,
// does. Read from the header, ICMP's "ports" are its type, code and checksum, which
// changes with every echo, so one ping's packets were spread over the classes. proto
// is the rule's protocol=: one with ports needs no guard.
func perConnectionClassifier(cfg Config, v, proto string) (alt, error) {
	bad := fmt.Errorf("invalid value for argument per-connection-classifier")
	neg := strings.HasPrefix(v, "!")
	f, rest, ok := strings.Cut(strings.TrimPrefix(v, "!"), ":")
	a, b, ok2 := strings.Cut(rest, "/")
	every, e1 := strconv.ParseUint(a, 10, 32)
	rem, e2 := strconv.ParseUint(b, 10, 32)
	fields, known := pccFields[f]
	if !ok || !ok2 || e1 != nil || e2 != nil || !known || every == 0 || rem >= every {
		return nil, bad
	}
	loads, _, n := loadKey(cfg.V6, fields, nil)
	if n == 0 {
		n = 4
		if cfg.V6 && (f == "src-address" || f == "dst-address") {
			n = 16
		}
	}
	// One seed for every rule (the kernel picks a random one per rule without it), so
	// that rules dividing the same flows agree on each flow's class.
	hash := func(loads []expr.Any) []expr.Any {
		return append(loads, &expr.Hash{SourceRegister: reg32, DestRegister: 1, Length: uint32(n), Modulus: uint32(every),
			Seed: pccSeed, Type: expr.HashTypeJenkins},
			&expr.Cmp{Op: cmpOp(neg), Register: 1, Data: ne32(uint32(rem))})
	}
	var portless []expr.Any // the loads with each port a zero
	ports := false
	for _, l := range loads {
		if pl, ok := l.(*expr.Payload); ok && pl.Base == expr.PayloadBaseTransportHeader {
			l, ports = &expr.Immediate{Register: pl.DestRegister, Data: make([]byte, 4)}, true
		}
		portless = append(portless, l)
	}
	pn, err := protoNumber(strings.TrimPrefix(proto, "!"), cfg.V6)
	if !ports || (proto != "" && !strings.HasPrefix(proto, "!") && err == nil && slices.Contains(portProtos, pn)) {
		return alt{hash(loads)}, nil
	}
	vals := make([][]byte, len(portProtos))
	for i, p := range portProtos {
		vals[i] = []byte{p}
	}
	load := &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}
	with := inSet(load, nftables.TypeInetProto, vals, false)[0]
	without := inSet(load, nftables.TypeInetProto, vals, true)[0]
	return alt{append(slices.Clone(with), hash(loads)...), append(slices.Clone(without), hash(portless)...)}, nil
}

var weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// parseTime reads from-to[,day...] (times of day as durations or hh:mm:ss).
func parseTime(s string) (from, to time.Duration, days []int, err error) {
	bad := fmt.Errorf("invalid value for argument time")
	parts := strings.Split(s, ",")
	a, b, ok := strings.Cut(parts[0], "-")
	if !ok {
		return 0, 0, nil, bad
	}
	if from, err = value.ParseDuration(a); err != nil {
		return 0, 0, nil, bad
	}
	if to, err = value.ParseDuration(b); err != nil {
		return 0, 0, nil, bad
	}
	if from < 0 || to < 0 || from > 24*time.Hour || to > 24*time.Hour {
		return 0, 0, nil, bad
	}
	for _, d := range parts[1:] {
		i := slices.Index(weekdays, d)
		if i < 0 {
			return 0, 0, nil, bad
		}
		if !slices.Contains(days, i) {
			days = append(days, i)
		}
	}
	if len(days) == 0 {
		days = []int{0, 1, 2, 3, 4, 5, 6}
	}
	return from, to, days, nil
}

// timeWindow is a window of seconds [from, to) of a day on some weekdays.
type timeWindow struct {
	from, to int
	days     []int
}

// timeWindows turns a local window on local days into the kernel's terms. The kernel's
// meta hour counts seconds of the UTC day, its meta day the weekday in the zone
// settimeofday gave it (sys_tz, nft_meta_weekday; usually UTC), and the rule's times are
// in /system clock's zone: offset and dayOffset are those zones' offsets east of UTC in
// seconds, as of the compile (a change of either recompiles, see zoneWatch). Each piece
// of the window that lies in one UTC day and one kernel day is a window of meta hour on
// that kernel weekday; pieces with the same hours share one window.
func timeWindows(from, to time.Duration, days []int, offset, dayOffset int) []timeWindow {
	const day, week = 24 * 3600, 7 * 24 * 3600
	f, t := int(from/time.Second), int(to/time.Second)
	if f == t {
		return nil
	}
	if t < f { // past midnight: the tail runs on the next day
		t += day
	}
	var out []timeWindow
	add := func(a, b int) { // [a, b) in UTC seconds of the week (from Sunday 0h), b <= week
		for a < b {
			// The piece ends at the next UTC or kernel day boundary.
			end := min(b, (a/day+1)*day)
			kb := ((a+dayOffset)%day + day) % day // seconds into the kernel's day
			end = min(end, a+day-kb)
			kday := (((a+dayOffset)%week + week) % week) / day
			h0, h1 := a%day, a%day+(end-a)
			i := slices.IndexFunc(out, func(w timeWindow) bool { return w.from == h0 && w.to == h1 })
			if i < 0 {
				out = append(out, timeWindow{from: h0, to: h1})
				i = len(out) - 1
			}
			if !slices.Contains(out[i].days, kday) {
				out[i].days = append(out[i].days, kday)
			}
			a = end
		}
	}
	for _, d := range days {
		a := ((d*day+f-offset)%week + week) % week
		b := a + (t - f)
		if b > week {
			add(a, week)
			add(0, b-week)
		} else {
			add(a, b)
		}
	}
	return out
}

// timeMatch: meta hour in the window and meta day one of its days; windows are disjoint
// in time, so at most one alternative matches a packet.
func timeMatch(v string, offset, dayOffset int) (alt, error) {
	from, to, days, err := parseTime(v)
	if err != nil {
		return nil, err
	}
	var out alt
	for _, w := range timeWindows(from, to, days, offset, dayOffset) {
		// Ranges compare bytes in order: the host-order hour goes to network order first.
		hour := []expr.Any{&expr.Meta{Key: metaTimeHour, Register: 1},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
			&expr.Range{Op: expr.CmpOpEq, Register: 1, FromData: be32(uint32(w.from)), ToData: be32(uint32(w.to - 1))}}
		if len(w.days) == 7 {
			out = append(out, hour)
			continue
		}
		slices.Sort(w.days)
		var vals [][]byte
		for _, d := range w.days {
			vals = append(vals, []byte{byte(d)})
		}
		out = append(out, and(alt{hour}, inSet(&expr.Meta{Key: metaTimeDay, Register: 1}, nftables.TypeTimeDay, vals, false))...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("time: the window %s is empty", v)
	}
	return out, nil
}

// changeMSS: the TCP MSS option set to new-mss, or to the route's MTU less the headers
// (clamp-to-pmtu); the kernel fixes the checksum. rt tcpmss loads the MSS in host byte
// order and the option is written as it sits in the register, so it is converted first
// (as nft does): unconverted, the kernel saw a larger MSS and, lowering only, left it.
func changeMSS(r *Rule) ([]expr.Any, error) {
	v := r.Props["new-mss"]
	var load []expr.Any
	if v == "clamp-to-pmtu" {
		load = []expr.Any{&expr.Rt{Register: 1, Key: expr.RtTCPMSS},
			&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 2, Size: 2}}
	} else {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("invalid value for argument new-mss")
		}
		load = []expr.Any{&expr.Immediate{Register: 1, Data: be16(uint16(n))}}
	}
	return append(load, &expr.Exthdr{SourceRegister: 1, Type: 2, Offset: 2, Len: 2, Op: expr.ExthdrOpTcpopt}), nil
}

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
