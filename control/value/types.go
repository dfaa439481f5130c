package value

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Constructors of the value types. Each returns a Type whose Parse accepts every input form
// RouterOS accepts and returns the form RouterOS prints.

// String accepts any text.
func String() Type { return stringType{} }

// Int accepts decimal (and 0x hex) integers in [min, max].
func Int(min, max int64) Type { return intType{min, max} }

// Bool accepts yes/no (and true/false); canonical yes/no.
func Bool() Type { return boolType{} }

// IsBool reports whether t is Bool(), whose empty value reads as no.
func IsBool(t Type) bool { _, ok := t.(boolType); return ok }

// Enum accepts one of values.
func Enum(values ...string) Type { return &enumType{slices.Clone(values)} }

// EnumList accepts a comma list of values; canonical: in the order given, deduplicated,
// comma-joined. A '!' prefix is not understood; a caller that allows negated elements
// must strip it before parsing.
func EnumList(values ...string) Type { return List(Enum(values...)) }

// List accepts a comma-separated list of t; the empty string is the empty list, an empty
// element ("a,,b", "a,") is invalid, and later duplicates of a canonical element are
// dropped. The list is a Lister when t is.
func List(t Type) Type {
	if _, ok := t.(Lister); ok {
		return listLister{listType{t}}
	}
	return listType{t}
}

// Time accepts durations (10s, 1d2h, 00:00:05, bare seconds) in [min, max]; canonical is
// the compact form (1d2h, 10s, 0s).
func Time(min, max time.Duration) Type { return timeType{min, max} }

// TimeOfDay accepts HH:MM:SS (and H:MM:SS); canonical HH:MM:SS.
func TimeOfDay() Type { return todType{} }

// Date accepts mmm/DD/YYYY and YYYY-MM-DD; canonical ISO.
func Date() Type { return dateType{} }

// IPv4, IPv6 and IP (either family) accept addresses; canonical as net/netip prints them.
func IPv4() Type { return ipType{v4: true} }
func IPv6() Type { return ipType{v6: true} }
func IP() Type   { return ipType{v4: true, v6: true} }

// Prefix4, Prefix6 and Prefix accept address/len (a bare address means /32 or /128);
// host bits are kept as written.
func Prefix4() Type { return prefixType{v4: true} }
func Prefix6() Type { return prefixType{v6: true} }
func Prefix() Type  { return prefixType{v4: true, v6: true} }

// AddrList accepts a comma list of IPv4/IPv6 addresses and prefixes.
func AddrList() Type { return List(Prefix()) }

// MAC accepts a MAC address in colon, dash, dotted (0200.00aa.bbcc) or bare 12-digit hex
// form; canonical upper-case colons.
func MAC() Type { return macType{} }

// Pair accepts "a,b" (keepalive 10s,10); canonical "A,B".
func Pair(a, b Type) Type { return pairType{a, b} }

// OneOf accepts the first of ts that parses (dscp: inherit or 0..63). When none does, the
// error is ErrNoMatch if every member said so, else the last other member's error, so
// "dscp=99" is out of range rather than an unknown word. It is a Lister (and a Comparer)
// when any member is.
func OneOf(ts ...Type) Type {
	t := &oneOfType{slices.Clone(ts)}
	var lister, comparer bool
	for _, m := range ts {
		_, l := m.(Lister)
		_, c := m.(Comparer)
		lister, comparer = lister || l, comparer || c
	}
	switch {
	case lister && comparer:
		return oneOfBoth{t}
	case lister:
		return oneOfLister{t}
	case comparer:
		return oneOfComparer{t}
	}
	return t
}

type stringType struct{}

func (stringType) Name() string                   { return "string" }
func (stringType) Parse(s string) (string, error) { return s, nil }

// Name is the type of a value that names something: a chain, an address list, a
// connection mark. It takes any text, as String does, but the console's print detail
// shows it bare (quoted only when it must be), as RouterOS prints chain=forward beside
// log-prefix="": there only free text, its string type, is always quoted.
func Name() Type { return wordType{"name"} }

// Form is Name for a structured value whose form the schema does not check (a rate
// limit, a TTL test): form is that form as the properties table shows it.
func Form(form string) Type { return wordType{form} }

type wordType struct{ name string }

func (t wordType) Name() string                 { return t.name }
func (wordType) Parse(s string) (string, error) { return s, nil }

type intType struct{ min, max int64 }

func (t intType) Name() string { return fmt.Sprintf("integer [%d..%d]", t.min, t.max) }

func (t intType) Parse(s string) (string, error) {
	n, err := parseInt(s)
	if err != nil || n < t.min || n > t.max {
		if err == nil || errors.Is(err, strconv.ErrRange) {
			return "", &RangeError{Min: strconv.FormatInt(t.min, 10), Max: strconv.FormatInt(t.max, 10)}
		}
		return "", ErrInvalid
	}
	return strconv.FormatInt(n, 10), nil
}

func (t intType) Compare(a, b string) int {
	x, errA := parseInt(a)
	y, errB := parseInt(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return cmp.Compare(x, y)
}

// parseInt reads decimal or 0x hex with an optional '-'. A well-formed number too large
// for int64 yields strconv.ErrRange so that the caller reports it as out of range rather
// than as bad syntax.
func parseInt(s string) (int64, error) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	base := 10
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		base, s = 16, s[2:]
	}
	if s == "" {
		return 0, ErrInvalid
	}
	for i := 0; i < len(s); i++ {
		// strconv would also take a sign or (base 0) underscores; RouterOS takes neither.
		if base == 10 && !isDigit(s[i]) || base == 16 && !isHex(s[i]) {
			return 0, ErrInvalid
		}
	}
	u, err := strconv.ParseUint(s, base, 64)
	if err != nil {
		return 0, strconv.ErrRange
	}
	switch {
	case !neg && u <= math.MaxInt64:
		return int64(u), nil
	case neg && u <= 1<<63:
		return int64(-u), nil
	}
	return 0, strconv.ErrRange
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

type boolType struct{}

func (boolType) Name() string     { return "yes | no" }
func (boolType) Values() []string { return []string{"yes", "no"} }

func (boolType) Parse(s string) (string, error) {
	switch s {
	case "yes", "true":
		return "yes", nil
	case "no", "false":
		return "no", nil
	}
	return "", ErrInvalid
}

// enumType and oneOfType are used through pointers so that every Type stays comparable and
// hashable (a struct holding a slice would panic as a map key or under ==).
type enumType struct{ values []string }

func (t *enumType) Name() string     { return strings.Join(t.values, " | ") }
func (t *enumType) Values() []string { return slices.Clone(t.values) }

func (t *enumType) Parse(s string) (string, error) {
	if slices.Contains(t.values, s) {
		return s, nil
	}
	return "", ErrNoMatch
}

type listType struct{ elem Type }

// listLister is a list whose element type has fixed words; a separate type so that a type
// assertion to Lister tells the truth for lists of free-form elements.
type listLister struct{ listType }

func (t listLister) Values() []string { return t.elem.(Lister).Values() }

func (t listType) Name() string { return "list of " + t.elem.Name() }

func (t listType) Parse(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	parts := strings.Split(s, ",")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		// An empty element is almost always a typo ("a,,b", "a,"), so it is refused rather
		// than handed to an element type that might accept it.
		if p == "" {
			return "", ErrInvalid
		}
		c, err := t.elem.Parse(p)
		if err != nil {
			return "", err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return strings.Join(out, ","), nil
}

type timeType struct{ min, max time.Duration }

func (timeType) Name() string { return "time" }

func (t timeType) Parse(s string) (string, error) {
	d, err := ParseDuration(s)
	if err != nil && !errors.Is(err, errOverflow) {
		return "", err
	}
	if err != nil || d < t.min || d > t.max {
		return "", &RangeError{Min: FormatDuration(t.min), Max: FormatDuration(t.max)}
	}
	return FormatDuration(d), nil
}

func (timeType) Compare(a, b string) int {
	x, errA := ParseDuration(a)
	y, errB := ParseDuration(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return cmp.Compare(x, y)
}

// errOverflow is a well-formed duration too long for time.Duration; it wraps ErrInvalid
// for callers of ParseDuration, while Time reports it as out of range.
var errOverflow = fmt.Errorf("%w: duration too long", ErrInvalid)

type unit struct {
	name string
	d    time.Duration
}

var units = []unit{
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
	{"us", time.Microsecond},
	{"ns", time.Nanosecond},
}

// ParseDuration parses a RouterOS duration: unit parts summed ("1d2h3m4s", "250ms", "0.5s"),
// a bare number of seconds, clock notation ("00:00:05", "12:30:15.250"), weeks and days
// followed by a clock ("1w1d02:03:04"), and a trailing bare number as seconds ("2d11h12").
// A leading '-' negates. Errors wrap ErrInvalid.
func ParseDuration(s string) (time.Duration, error) {
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if s == "" {
		return 0, ErrInvalid
	}
	var total time.Duration
	onlyDays := true // clock notation may follow only week and day parts
	for s != "" {
		whole, frac, rest := scanNumber(s)
		if whole == "" {
			return 0, ErrInvalid
		}
		s = rest
		if strings.HasPrefix(s, ":") {
			if frac != "" || !onlyDays {
				return 0, ErrInvalid
			}
			c, err := parseClock(whole, s)
			if err != nil {
				return 0, err
			}
			return sumDuration(total, c, neg)
		}
		n := 0
		for n < len(s) && 'a' <= s[n] && s[n] <= 'z' {
			n++
		}
		per := time.Second // a bare trailing number counts seconds
		if n == 0 && s != "" {
			return 0, ErrInvalid
		}
		if n > 0 {
			i := slices.IndexFunc(units, func(u unit) bool { return u.name == s[:n] })
			if i < 0 {
				return 0, ErrInvalid
			}
			per = units[i].d
			onlyDays = onlyDays && per >= 24*time.Hour
			s = s[n:]
		}
		part, err := scaled(whole, frac, per)
		if err != nil {
			return 0, err
		}
		if total > math.MaxInt64-part {
			return 0, errOverflow
		}
		total += part
	}
	return sumDuration(total, 0, neg)
}

func sumDuration(total, more time.Duration, neg bool) (time.Duration, error) {
	if total > math.MaxInt64-more {
		return 0, errOverflow
	}
	total += more
	if neg {
		total = -total
	}
	return total, nil
}

// scanNumber splits a leading "digits[.digits]" off s.
func scanNumber(s string) (whole, frac, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	whole, rest = s[:i], s[i:]
	if whole != "" && strings.HasPrefix(rest, ".") {
		j := 1
		for j < len(rest) && isDigit(rest[j]) {
			j++
		}
		if j == 1 {
			return "", "", s // "5." is not a number
		}
		frac, rest = rest[1:j], rest[j:]
	}
	return whole, frac, rest
}

// scaled returns whole.frac units, truncated to the nanosecond.
func scaled(whole, frac string, unit time.Duration) (time.Duration, error) {
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil || w > uint64(math.MaxInt64/unit) {
		return 0, errOverflow
	}
	d := time.Duration(w) * unit
	// Every unit is a multiple of a power of ten nanoseconds, so dividing the unit by ten
	// per fraction digit is exact down to where it reaches below a nanosecond.
	for i, scale := 0, unit; i < len(frac) && scale >= 10; i++ {
		scale /= 10
		d += time.Duration(frac[i]-'0') * scale
	}
	if d < 0 {
		return 0, errOverflow
	}
	return d, nil
}

// parseClock parses hours (already split off) and ":MM:SS[.frac]" making up all of rest.
func parseClock(hours, rest string) (time.Duration, error) {
	if len(rest) < 6 || rest[0] != ':' || rest[3] != ':' {
		return 0, ErrInvalid
	}
	mm, ss := rest[1:3], rest[4:6]
	frac := rest[6:]
	if frac != "" {
		if frac[0] != '.' || len(frac) == 1 {
			return 0, ErrInvalid
		}
		frac = frac[1:]
	}
	if !allDigits(mm) || !allDigits(ss) || !allDigits(frac) || mm > "59" || ss > "59" {
		return 0, ErrInvalid
	}
	h, err := scaled(hours, "", time.Hour)
	if err != nil {
		return 0, err
	}
	m, _ := strconv.Atoi(mm)
	sec, _ := scaled(ss, frac, time.Second)
	return sumDuration(h, time.Duration(m)*time.Minute+sec, false)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// FormatDuration renders d in the compact form of print and export: the nonzero parts
// largest first ("1w1d", "1h30m", "1s500ms"), "0s" for zero. Parts below a millisecond
// appear as us and ns only when present, so that ParseDuration(FormatDuration(d)) == d.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = -u
	}
	for _, un := range units {
		if n := u / uint64(un.d); n > 0 {
			b.WriteString(strconv.FormatUint(n, 10))
			b.WriteString(un.name)
			u %= uint64(un.d)
		}
	}
	return b.String()
}

// FormatClock renders d as scripts print a time value: [Nw][Nd]HH:MM:SS[.fraction], the
// fraction without trailing zeros ("1d02:03:00", "1w1d00:00:00", "00:00:03.005").
func FormatClock(d time.Duration) string {
	var b strings.Builder
	u := uint64(d)
	if d < 0 {
		b.WriteByte('-')
		u = -u
	}
	day := uint64(24 * time.Hour)
	if w := u / (7 * day); w > 0 {
		fmt.Fprintf(&b, "%dw", w)
	}
	if n := u / day % 7; n > 0 {
		fmt.Fprintf(&b, "%dd", n)
	}
	u %= day
	sec := uint64(time.Second)
	fmt.Fprintf(&b, "%02d:%02d:%02d", u/uint64(time.Hour), u/uint64(time.Minute)%60, u/sec%60)
	if ns := u % sec; ns > 0 {
		b.WriteByte('.')
		b.WriteString(strings.TrimRight(fmt.Sprintf("%09d", ns), "0"))
	}
	return b.String()
}

type todType struct{}

func (todType) Name() string { return "time of day" }

func (todType) Parse(s string) (string, error) {
	h, rest, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || !allDigits(h) {
		return "", ErrInvalid
	}
	m, sec, hasSec := strings.Cut(rest, ":")
	if !hasSec {
		sec = "00"
	}
	if len(m) != 2 || len(sec) != 2 || !allDigits(m) || !allDigits(sec) || m > "59" || sec > "59" {
		return "", ErrInvalid
	}
	if len(h) == 1 {
		h = "0" + h
	}
	if h > "23" {
		return "", ErrInvalid
	}
	return h + ":" + m + ":" + sec, nil
}

// Canonical times of day are fixed-width, so text order is time order.
func (todType) Compare(a, b string) int { return strings.Compare(a, b) }

type dateType struct{}

func (dateType) Name() string { return "date" }

var months = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func (dateType) Parse(s string) (string, error) {
	var y, m, d string
	var month int
	if parts := strings.Split(s, "/"); len(parts) == 3 {
		m, d, y = parts[0], parts[1], parts[2]
		month = slices.Index(months, strings.ToLower(m)) + 1
		if len(d) == 1 {
			d = "0" + d
		}
	} else if parts := strings.Split(s, "-"); len(parts) == 3 {
		y, m, d = parts[0], parts[1], parts[2]
		if len(m) == 2 && allDigits(m) {
			month, _ = strconv.Atoi(m)
		}
	}
	if month < 1 || len(y) != 4 || len(d) != 2 || !allDigits(y) || !allDigits(d) {
		return "", ErrInvalid
	}
	year, _ := strconv.Atoi(y)
	day, _ := strconv.Atoi(d)
	t := time.Date(year, time.Month(month), day, 0, 0, 0, 0, time.UTC)
	// time.Date normalises feb/30 into March; a changed day means the date does not exist.
	if t.Day() != day || int(t.Month()) != month {
		return "", ErrInvalid
	}
	return fmt.Sprintf("%s-%02d-%s", y, month, d), nil
}

// Canonical dates are fixed-width ISO, so text order is date order.
func (dateType) Compare(a, b string) int { return strings.Compare(a, b) }

type ipType struct{ v4, v6 bool }

func (t ipType) Name() string {
	switch {
	case t.v4 && t.v6:
		return "IP address"
	case t.v4:
		return "IPv4 address"
	}
	return "IPv6 address"
}

func (t ipType) Parse(s string) (string, error) {
	a, err := parseAddr(s)
	if err != nil || !t.family(a) {
		return "", ErrInvalid
	}
	return a.String(), nil
}

func (t ipType) family(a netip.Addr) bool {
	if a.Is4() {
		return t.v4
	}
	return t.v6
}

func (ipType) Compare(a, b string) int {
	x, errA := parseAddr(a)
	y, errB := parseAddr(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	return x.Compare(y) // IPv4 sorts before IPv6
}

// parseAddr parses an address without zone, including the IPv4 short forms "10.1"
// (10.0.0.1) and "10.1.2" (10.1.0.2).
func parseAddr(s string) (netip.Addr, error) {
	if n := strings.Count(s, "."); (n == 1 || n == 2) && !strings.Contains(s, ":") {
		parts := strings.Split(s, ".")
		var b [4]byte
		for i, p := range parts {
			// Same leading-zero rule as netip: "010" could be read as octal.
			if p == "" || len(p) > 3 || !allDigits(p) || len(p) > 1 && p[0] == '0' {
				return netip.Addr{}, ErrInvalid
			}
			v, _ := strconv.Atoi(p)
			if v > 255 {
				return netip.Addr{}, ErrInvalid
			}
			pos := i
			if i == len(parts)-1 {
				pos = 3
			}
			b[pos] = byte(v)
		}
		return netip.AddrFrom4(b), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, ErrInvalid
	}
	return a, nil
}

type prefixType struct{ v4, v6 bool }

func (t prefixType) Name() string {
	switch {
	case t.v4 && t.v6:
		return "IP prefix"
	case t.v4:
		return "IPv4 prefix"
	}
	return "IPv6 prefix"
}

func (t prefixType) Parse(s string) (string, error) {
	p, err := parsePrefix(s)
	if err != nil || !ipType(t).family(p.Addr()) {
		return "", ErrInvalid
	}
	return p.String(), nil
}

// Prefixes order by address, then by length, so that "address<10.0.0.0" reads naturally.
func (prefixType) Compare(a, b string) int {
	x, errA := parsePrefix(a)
	y, errB := parsePrefix(b)
	if errA != nil || errB != nil {
		return strings.Compare(a, b)
	}
	if c := x.Addr().Compare(y.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(x.Bits(), y.Bits())
}

func parsePrefix(s string) (netip.Prefix, error) {
	addr, length, hasLen := strings.Cut(s, "/")
	a, err := parseAddr(addr)
	if err != nil {
		return netip.Prefix{}, err
	}
	bits := a.BitLen()
	if hasLen {
		if length == "" || len(length) > 3 || !allDigits(length) {
			return netip.Prefix{}, ErrInvalid
		}
		bits, _ = strconv.Atoi(length)
	}
	p := netip.PrefixFrom(a, bits)
	if !p.IsValid() {
		return netip.Prefix{}, ErrInvalid
	}
	return p, nil
}

type macType struct{}

func (macType) Name() string { return "MAC address" }

func (macType) Parse(s string) (string, error) {
	var hex string
	switch {
	case len(s) == 17 && (s[2] == ':' || s[2] == '-'):
		sep := s[2]
		for i := 0; i < 17; i += 3 {
			if i > 0 && s[i-1] != sep {
				return "", ErrInvalid
			}
			hex += s[i : i+2]
		}
	case len(s) == 14 && s[4] == '.' && s[9] == '.':
		hex = s[0:4] + s[5:9] + s[10:14]
	case len(s) == 12:
		hex = s
	default:
		return "", ErrInvalid
	}
	var b strings.Builder
	for i := 0; i < 12; i++ {
		if !isHex(hex[i]) {
			return "", ErrInvalid
		}
		if i > 0 && i%2 == 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(hex[i : i+1]))
	}
	return b.String(), nil
}

// Canonical MACs are fixed-width upper-case hex, so text order is byte order.
func (macType) Compare(a, b string) int { return strings.Compare(a, b) }

type pairType struct{ a, b Type }

func (t pairType) Name() string { return t.a.Name() + "," + t.b.Name() }

func (t pairType) Parse(s string) (string, error) {
	x, y, ok := strings.Cut(s, ",")
	if !ok || strings.Contains(y, ",") {
		return "", ErrInvalid
	}
	x, err := t.a.Parse(x)
	if err != nil {
		return "", err
	}
	y, err = t.b.Parse(y)
	if err != nil {
		return "", err
	}
	return x + "," + y, nil
}

type oneOfType struct{ types []Type }

func (t *oneOfType) Name() string {
	names := make([]string, len(t.types))
	for i, m := range t.types {
		names[i] = m.Name()
	}
	return strings.Join(names, " | ")
}

func (t *oneOfType) Parse(s string) (string, error) {
	err := ErrNoMatch
	for _, m := range t.types {
		c, e := m.Parse(s)
		if e == nil {
			return c, nil
		}
		// A word the enum members do not know is most likely meant for the other member
		// ("dscp=99" is a number out of range, not an unknown word).
		if !errors.Is(e, ErrNoMatch) {
			err = e
		}
	}
	return "", err
}

// Lister and Comparer are offered only when a member provides them, so a type assertion
// on the result answers truthfully; hence four variants.
type (
	oneOfLister   struct{ *oneOfType }
	oneOfComparer struct{ *oneOfType }
	oneOfBoth     struct{ *oneOfType }
)

func (t oneOfLister) Values() []string { return t.values() }
func (t oneOfBoth) Values() []string   { return t.values() }

func (t oneOfComparer) Compare(a, b string) int { return t.compare(a, b) }
func (t oneOfBoth) Compare(a, b string) int     { return t.compare(a, b) }

func (t *oneOfType) values() []string {
	var vs []string
	for _, m := range t.types {
		if l, ok := m.(Lister); ok {
			vs = append(vs, l.Values()...)
		}
	}
	return vs
}

// compare orders values by the member that owns them (in member order), and values of
// the same ordered member by that member's order.
func (t *oneOfType) compare(a, b string) int {
	i, j := t.owner(a), t.owner(b)
	if i != j {
		return cmp.Compare(i, j)
	}
	if i < len(t.types) {
		if c, ok := t.types[i].(Comparer); ok {
			return c.Compare(a, b)
		}
	}
	return strings.Compare(a, b)
}

// owner returns the index of the first member that parses v, len(types) if none does.
func (t *oneOfType) owner(v string) int {
	for i, m := range t.types {
		if _, err := m.Parse(v); err == nil {
			return i
		}
	}
	return len(t.types)
}

// Offset accepts an offset from UTC as RouterOS writes one ([+|-]HH:MM, -12:00..+14:00 as
// /system clock manual's time-zone takes it; a bare HH:MM is east); canonical "+HH:MM".
func Offset() Type { return offsetType{} }

// DateTime accepts a date and a time of day separated by a space, as /system clock
// manual's dst-start takes them ("jan/01/1970 00:00:00"); canonical
// "YYYY-MM-DD HH:MM:SS", as RouterOS 7 writes it.
func DateTime() Type { return dateTimeType{} }

type offsetType struct{}

func (offsetType) Name() string { return "time offset" }

func (offsetType) Parse(s string) (string, error) {
	sec, err := ParseOffset(s)
	if err != nil {
		return "", err
	}
	return FormatOffset(sec), nil
}

// Canonical offsets are fixed-width with a sign, so compare them as numbers.
func (offsetType) Compare(a, b string) int {
	x, _ := ParseOffset(a)
	y, _ := ParseOffset(b)
	return cmp.Compare(x, y)
}

// ParseOffset returns the seconds east of UTC an offset ([+|-]HH:MM) names.
func ParseOffset(s string) (int, error) {
	sign := 1
	switch {
	case strings.HasPrefix(s, "+"):
		s = s[1:]
	case strings.HasPrefix(s, "-"):
		sign, s = -1, s[1:]
	}
	h, m, ok := strings.Cut(s, ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 || !allDigits(h) || !allDigits(m) || m > "59" {
		return 0, ErrInvalid
	}
	hh, _ := strconv.Atoi(h)
	mm, _ := strconv.Atoi(m)
	sec := sign * (hh*3600 + mm*60)
	if sec < -12*3600 || sec > 14*3600 {
		return 0, &RangeError{Min: "-12:00", Max: "+14:00"}
	}
	return sec, nil
}

// FormatOffset writes seconds east of UTC as an offset, "+HH:MM".
func FormatOffset(sec int) string {
	sign := "+"
	if sec < 0 {
		sign, sec = "-", -sec
	}
	return fmt.Sprintf("%s%02d:%02d", sign, sec/3600, sec%3600/60)
}

type dateTimeType struct{}

func (dateTimeType) Name() string { return "date and time" }

func (dateTimeType) Parse(s string) (string, error) {
	d, t, ok := strings.Cut(strings.TrimSpace(s), " ")
	if !ok {
		return "", ErrInvalid
	}
	dc, err := dateType{}.Parse(d)
	if err != nil {
		return "", err
	}
	tc, err := todType{}.Parse(strings.TrimSpace(t))
	if err != nil {
		return "", err
	}
	return dc + " " + tc, nil
}

// Canonical dates and times are fixed-width, so text order is time order.
func (dateTimeType) Compare(a, b string) int { return strings.Compare(a, b) }
