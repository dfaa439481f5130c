package script

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/value"
)

// Value is a script value (console-language.md §5.1).
type Value interface{}

type (
	// Str is a string.
	Str string
	// Num is a 64-bit signed number.
	Num int64
	// Bool is true or false.
	Bool bool
	// IP is an IPv4 or IPv6 address (types ip and ip6).
	IP netip.Addr
	// Prefix is an IPv4 or IPv6 prefix.
	Prefix netip.Prefix
	// Time is a duration.
	Time time.Duration
	// ID is an item id (*1A).
	ID uint64
	// Nothing is the absent value; Nil the value of a failed lookup.
	Nothing struct{}
	Nil     struct{}
	// Code is a function: code from do={...} or :parse.
	Code struct {
		Src   string
		Stmts []Stmt
		Path  string
	}
)

// Array is an ordered list with optional keyed elements; keyed elements iterate after the
// list elements, sorted by key.
type Array struct {
	List []Value
	Keys map[string]Value

	// bytes and elems are the array's measure, kept by setPath as it writes once
	// sized (see measured).
	bytes, elems int
	sized        bool
	// held: a variable or another array holds this array (see own); frozen: a
	// global's, never written again (see freeze).
	held, frozen bool
}

func (a *Array) keys() []string {
	ks := make([]string, 0, len(a.Keys))
	for k := range a.Keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Len is the element count.
func (a *Array) Len() int { return len(a.List) + len(a.Keys) }

// Get reads element k (a number index or a key).
func (a *Array) Get(k Value) Value {
	if n, ok := k.(Num); ok {
		if int(n) >= 0 && int(n) < len(a.List) {
			return a.List[n]
		}
		return Nothing{}
	}
	if v, ok := a.Keys[ToString(k)]; ok {
		return v
	}
	if n, err := strconv.Atoi(ToString(k)); err == nil && n >= 0 && n < len(a.List) {
		return a.List[n]
	}
	return Nothing{}
}

// Set writes element k.
func (a *Array) Set(k, v Value) {
	if n, ok := k.(Num); ok && int(n) >= 0 && int(n) <= len(a.List) {
		if int(n) == len(a.List) {
			a.List = append(a.List, v)
		} else {
			a.List[n] = v
		}
		return
	}
	if a.Keys == nil {
		a.Keys = map[string]Value{}
	}
	a.Keys[ToString(k)] = v
}

// each calls fn for every element in iteration order.
func (a *Array) each(fn func(k Value, v Value) bool) {
	for i, v := range a.List {
		if !fn(Num(i), v) {
			return
		}
	}
	for _, k := range a.keys() {
		if !fn(Str(k), a.Keys[k]) {
			return
		}
	}
}

// TypeOf is :typeof.
func TypeOf(v Value) string {
	switch x := v.(type) {
	case Str:
		return "str"
	case Num:
		return "num"
	case Bool:
		return "bool"
	case IP:
		if netip.Addr(x).Is4() {
			return "ip"
		}
		return "ip6"
	case Prefix:
		if netip.Prefix(x).Addr().Is4() {
			return "ip-prefix"
		}
		return "ip6-prefix"
	case Time:
		return "time"
	case ID:
		return "id"
	case *Array:
		return "array"
	case Nil:
		return "nil"
	case *Code:
		return "code"
	}
	return "nothing"
}

// ToString renders a value as :put shows it.
func ToString(v Value) string {
	switch x := v.(type) {
	case Str:
		return string(x)
	case Num:
		return strconv.FormatInt(int64(x), 10)
	case Bool:
		if x {
			return "true"
		}
		return "false"
	case IP:
		return netip.Addr(x).String()
	case Prefix:
		return netip.Prefix(x).String()
	case Time:
		return value.FormatClock(time.Duration(x))
	case ID:
		return control.FormatID(uint64(x))
	case *Array:
		var parts []string
		x.each(func(k, e Value) bool {
			if s, ok := k.(Str); ok {
				parts = append(parts, string(s)+"="+ToString(e))
			} else {
				parts = append(parts, ToString(e))
			}
			return true
		})
		return strings.Join(parts, ";")
	case *Code:
		return "(evl " + x.Src + ")"
	}
	return ""
}

// ToArg renders a value as a command argument: lists are comma-joined (an id list from
// find names several items) and times use the compact configuration form.
func ToArg(v Value) string {
	switch x := v.(type) {
	case *Array:
		var parts []string
		x.each(func(_, e Value) bool { parts = append(parts, ToArg(e)); return true })
		return strings.Join(parts, ",")
	case Time:
		return value.FormatDuration(time.Duration(x))
	case Bool:
		if x {
			return "yes"
		}
		return "no"
	}
	return ToString(v)
}

// classify types a bare word in an expression: number, address, prefix, time, boolean.
// nil means it stays a word.
func classify(w string) Value {
	switch w {
	case "true", "yes":
		return Bool(true)
	case "false", "no":
		return Bool(false)
	}
	if n, err := strconv.ParseInt(w, 0, 64); err == nil && (isDigit(w[0]) || w[0] == '-') {
		return Num(n)
	}
	if strings.Contains(w, "/") {
		if pf, err := netip.ParsePrefix(w); err == nil {
			return Prefix(pf)
		}
		if _, err := value.Prefix4().Parse(w); err == nil && strings.Count(w, ".") > 0 {
			c, _ := value.Prefix4().Parse(w)
			pf, _ := netip.ParsePrefix(c)
			return Prefix(pf)
		}
		return nil
	}
	if strings.Count(w, ".") == 3 || strings.Contains(w, "::") || strings.Count(w, ":") >= 2 && !isClock(w) {
		if a, err := netip.ParseAddr(w); err == nil {
			return IP(a)
		}
	}
	if isDigit(w[0]) {
		if d, err := value.ParseDuration(w); err == nil {
			return Time(d)
		}
	}
	return nil
}

func isClock(w string) bool {
	for i := 0; i < len(w); i++ {
		if !isDigit(w[i]) && w[i] != ':' && w[i] != '.' && w[i] != 'd' && w[i] != 'w' {
			return false
		}
	}
	return true
}

// typed converts a property's canonical string to a script value by the property's type,
// so that `where mtu>1400` and `[get x mtu] + 1` compare and compute as numbers.
func typed(t value.Type, s string) Value {
	if t == nil {
		return Str(s)
	}
	name := t.Name()
	switch {
	case strings.HasPrefix(name, "integer"):
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return Num(n)
		}
	case name == "yes | no":
		return Bool(s == "yes")
	case name == "time":
		if d, err := value.ParseDuration(s); err == nil {
			return Time(d)
		}
	case strings.HasSuffix(name, "address") && !strings.Contains(name, "MAC"):
		if a, err := netip.ParseAddr(s); err == nil {
			return IP(a)
		}
	}
	return Str(s)
}

// toBool is the truth of a condition.
func toBool(v Value) (bool, error) {
	switch x := v.(type) {
	case Bool:
		return bool(x), nil
	case Str:
		switch x {
		case "true", "yes":
			return true, nil
		case "false", "no", "":
			return false, nil
		}
	case Num:
		return x != 0, nil
	case Nothing, Nil:
		return false, nil
	}
	return false, &Error{Msg: fmt.Sprintf("cannot convert %s to bool", TypeOf(v))}
}

// toNum converts for arithmetic.
func toNum(v Value) (int64, bool) {
	switch x := v.(type) {
	case Num:
		return int64(x), true
	case Str:
		n, err := strconv.ParseInt(strings.TrimSpace(string(x)), 0, 64)
		return n, err == nil
	case Bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}
