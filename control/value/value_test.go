package value

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// Error kinds expected by the tables.
const (
	ok = iota
	invalid
	noMatch
	outOfRange
)

type parseCase struct {
	in   string
	want string // canonical form when kind == ok, else the RangeError "min..max" or ""
	kind int
}

func checkParse(t *testing.T, typ Type, cases []parseCase) {
	t.Helper()
	for _, c := range cases {
		got, err := typ.Parse(c.in)
		switch c.kind {
		case ok:
			if err != nil || got != c.want {
				t.Errorf("%s: Parse(%q) = %q, %v; want %q", typ.Name(), c.in, got, err, c.want)
				continue
			}
			again, err := typ.Parse(got)
			if err != nil || again != got {
				t.Errorf("%s: Parse(%q) = %q, %v; canonical form does not round trip", typ.Name(), got, again, err)
			}
		case invalid:
			var re *RangeError
			if !errors.Is(err, ErrInvalid) || errors.As(err, &re) {
				t.Errorf("%s: Parse(%q) = %q, %v; want ErrInvalid", typ.Name(), c.in, got, err)
			}
		case noMatch:
			if !errors.Is(err, ErrNoMatch) {
				t.Errorf("%s: Parse(%q) = %q, %v; want ErrNoMatch", typ.Name(), c.in, got, err)
			}
		case outOfRange:
			var re *RangeError
			if !errors.As(err, &re) {
				t.Errorf("%s: Parse(%q) = %q, %v; want RangeError", typ.Name(), c.in, got, err)
			} else if c.want != "" && re.Min+".."+re.Max != c.want {
				t.Errorf("%s: Parse(%q): range %s..%s, want %s", typ.Name(), c.in, re.Min, re.Max, c.want)
			}
		}
	}
}

func TestString(t *testing.T) {
	checkParse(t, String(), []parseCase{
		{"", "", ok},
		{"ether1", "ether1", ok},
		{" a b,c ", " a b,c ", ok},
		{"ünïcode", "ünïcode", ok},
	})
}

func TestInt(t *testing.T) {
	checkParse(t, Int(0, 65535), []parseCase{
		{"0", "0", ok},
		{"1500", "1500", ok},
		{"007", "7", ok},
		{"-0", "0", ok},
		{"0x1F", "31", ok},
		{"0XfF", "255", ok},
		{"65535", "65535", ok},
		{"65536", "0..65535", outOfRange},
		{"-1", "0..65535", outOfRange},
		{"0x10000", "0..65535", outOfRange},
		{"99999999999999999999999", "0..65535", outOfRange},
		{"", "", invalid},
		{"-", "", invalid},
		{"+5", "", invalid},
		{"1_000", "", invalid},
		{"0x", "", invalid},
		{"0xg", "", invalid},
		{"1.5", "", invalid},
		{"12a", "", invalid},
		{" 1", "", invalid},
		{"abc", "", invalid},
	})
	checkParse(t, Int(-100, 100), []parseCase{
		{"-100", "-100", ok},
		{"-0x10", "-16", ok},
		{"-101", "-100..100", outOfRange},
	})
	checkParse(t, Int(-1<<63, 1<<63-1), []parseCase{
		{"-9223372036854775808", "-9223372036854775808", ok},
		{"9223372036854775807", "9223372036854775807", ok},
		{"9223372036854775808", "", outOfRange},
		{"0xFFFFFFFFFFFFFFFF", "", outOfRange},
	})
	if n := Int(0, 65535).Name(); n != "integer [0..65535]" {
		t.Errorf("Name() = %q", n)
	}
}

func TestBool(t *testing.T) {
	checkParse(t, Bool(), []parseCase{
		{"yes", "yes", ok},
		{"true", "yes", ok},
		{"no", "no", ok},
		{"false", "no", ok},
		{"", "", invalid},
		{"Yes", "", invalid},
		{"1", "", invalid},
		{"on", "", invalid},
	})
	if l, ok := Bool().(Lister); !ok || !slices.Equal(l.Values(), []string{"yes", "no"}) {
		t.Errorf("Bool is not a Lister of yes,no")
	}
	if n := Bool().Name(); n != "yes | no" {
		t.Errorf("Name() = %q", n)
	}
}

func TestEnum(t *testing.T) {
	e := Enum("none", "auto", "full")
	checkParse(t, e, []parseCase{
		{"auto", "auto", ok},
		{"full", "full", ok},
		{"Auto", "", noMatch},
		{"", "", noMatch},
		{"fu", "", noMatch},
	})
	if n := e.Name(); n != "none | auto | full" {
		t.Errorf("Name() = %q", n)
	}
	l := e.(Lister)
	vs := l.Values()
	if !slices.Equal(vs, []string{"none", "auto", "full"}) {
		t.Errorf("Values() = %q", vs)
	}
	vs[0] = "changed"
	if l.Values()[0] != "none" {
		t.Errorf("Values() exposes the enum's own slice")
	}
}

func TestList(t *testing.T) {
	checkParse(t, List(Int(0, 10)), []parseCase{
		{"", "", ok},
		{"1", "1", ok},
		{"3,1,2", "3,1,2", ok},
		{"1,0x1,01,2", "1,2", ok},
		{"1,11", "0..10", outOfRange},
		{"1,x", "", invalid},
		{"1,,2", "", invalid},
		{"1,", "", invalid},
		{",", "", invalid},
	})
	checkParse(t, EnumList("a", "b", "c"), []parseCase{
		{"c,a", "c,a", ok},
		{"a,a,b,a", "a,b", ok},
		{"a,d", "", noMatch},
	})
	checkParse(t, AddrList(), []parseCase{
		{"10.0.0.0/8,2001:db8::/32,192.0.2.1", "10.0.0.0/8,2001:db8::/32,192.0.2.1/32", ok},
		{"10.0.0.1,10.1", "10.0.0.1/32", ok},
		{"10.0.0.0/33", "", invalid},
	})
	if _, ok := List(Int(0, 1)).(Lister); ok {
		t.Errorf("list of integers claims to be a Lister")
	}
	l, ok := EnumList("x", "y").(Lister)
	if !ok || !slices.Equal(l.Values(), []string{"x", "y"}) {
		t.Errorf("EnumList is not a Lister of its values")
	}
}

func TestTime(t *testing.T) {
	typ := Time(0, 365*24*time.Hour)
	checkParse(t, typ, []parseCase{
		{"0", "0s", ok},
		{"0s", "0s", ok},
		{"30", "30s", ok},
		{"0.5", "500ms", ok},
		{"10s", "10s", ok},
		{"24h", "1d", ok},
		{"90m", "1h30m", ok},
		{"1h30m", "1h30m", ok},
		{"8d", "1w1d", ok},
		{"1w2d", "1w2d", ok},
		{"1500ms", "1s500ms", ok},
		{"250ms", "250ms", ok},
		{"0.5s", "500ms", ok},
		{"1.5h", "1h30m", ok},
		{"0.1d1.2s", "2h24m1s200ms", ok},
		{"1d2h3m4s", "1d2h3m4s", ok},
		{"3m1d", "1d3m", ok},
		{"2d11h12", "2d11h12s", ok},
		{"1h30", "1h30s", ok},
		{"00:00:05", "5s", ok},
		{"9:00:00", "9h", ok},
		{"12:30:15.250", "12h30m15s250ms", ok},
		{"36:00:00", "1d12h", ok},
		{"1d02:03:04", "1d2h3m4s", ok},
		{"1w1d00:00:00", "1w1d", ok},
		{"1500us", "1ms500us", ok},
		{"7ns", "7ns", ok},
		{"0.0000000001s", "0s", ok},
		{"365d", "52w1d", ok},
		{"366d", "0s..52w1d", outOfRange},
		{"-1s", "0s..52w1d", outOfRange},
		{"99999999999999999999w", "0s..52w1d", outOfRange},
		{"", "", invalid},
		{"s", "", invalid},
		{"1x", "", invalid},
		{"1min", "", invalid},
		{"1H", "", invalid},
		{"1.s", "", invalid},
		{".5s", "", invalid},
		{"1 s", "", invalid},
		{"1s ", "", invalid},
		{"00:60:00", "", invalid},
		{"00:00:60", "", invalid},
		{"0:0:5", "", invalid},
		{"10:00", "", invalid},
		{"00:00:05.", "", invalid},
		{"1h02:03:04", "", invalid},
		{"02:03:04s", "", invalid},
		{"1.5:00:00", "", invalid},
		{"--1s", "", invalid},
	})
	checkParse(t, Time(10*time.Second, 24*time.Hour), []parseCase{
		{"5s", "10s..1d", outOfRange},
	})
}

func TestParseDuration(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"-1h30m", -90 * time.Minute},
		{"-00:00:05", -5 * time.Second},
		{"1d2h3m4s", 26*time.Hour + 3*time.Minute + 4*time.Second},
		{"12:30:15.250", 12*time.Hour + 30*time.Minute + 15*time.Second + 250*time.Millisecond},
		{"0.123456789123s", 123456789},
		{"15250w1d23h47m16s854ms775us807ns", 1<<63 - 1},
	} {
		got, err := ParseDuration(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "-", "15250w1d23h47m16s854ms775us808ns", "1y"} {
		if _, err := ParseDuration(in); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseDuration(%q) error = %v; want ErrInvalid", in, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{10 * time.Second, "10s"},
		{24 * time.Hour, "1d"},
		{90 * time.Minute, "1h30m"},
		{8 * 24 * time.Hour, "1w1d"},
		{1500 * time.Millisecond, "1s500ms"},
		{time.Millisecond + 7, "1ms7ns"},
		{-90 * time.Minute, "-1h30m"},
		{-1 << 63, "-15250w1d23h47m16s854ms775us808ns"},
	} {
		if got := FormatDuration(c.in); got != c.want {
			t.Errorf("FormatDuration(%v) = %q; want %q", c.in, got, c.want)
		}
	}
}

func TestFormatClock(t *testing.T) {
	for _, c := range []struct {
		in   time.Duration
		want string
	}{
		{0, "00:00:00"},
		{5 * time.Second, "00:00:05"},
		{26*time.Hour + 3*time.Minute, "1d02:03:00"},
		{8 * 24 * time.Hour, "1w1d00:00:00"},
		{14 * 24 * time.Hour, "2w00:00:00"},
		{3005 * time.Millisecond, "00:00:03.005"},
		{time.Second + 120*time.Millisecond, "00:00:01.12"},
		{1, "00:00:00.000000001"},
		{59*time.Hour + 12*time.Second, "2d11:00:12"},
		{-5 * time.Second, "-00:00:05"},
	} {
		got := FormatClock(c.in)
		if got != c.want {
			t.Errorf("FormatClock(%v) = %q; want %q", c.in, got, c.want)
		}
		if back, err := ParseDuration(got); err != nil || back != c.in {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", got, back, err, c.in)
		}
	}
}

func TestTimeOfDay(t *testing.T) {
	checkParse(t, TimeOfDay(), []parseCase{
		{"09:00:00", "09:00:00", ok},
		{"9:00:00", "09:00:00", ok},
		{"23:59:59", "23:59:59", ok},
		{"00:00:00", "00:00:00", ok},
		{"12:30", "12:30:00", ok},
		{"7:05", "07:05:00", ok},
		{"24:00:00", "", invalid},
		{"12:60:00", "", invalid},
		{"12:00:60", "", invalid},
		{"12:0:00", "", invalid},
		{"123:00:00", "", invalid},
		{"12:00:00.5", "", invalid},
		{"12", "", invalid},
		{"", "", invalid},
		{"1h", "", invalid},
	})
}

func TestDate(t *testing.T) {
	checkParse(t, Date(), []parseCase{
		{"oct/30/2008", "2008-10-30", ok},
		{"OCT/30/2008", "2008-10-30", ok},
		{"Jan/1/2024", "2024-01-01", ok},
		{"2008-10-30", "2008-10-30", ok},
		{"feb/29/2024", "2024-02-29", ok},
		{"2000-02-29", "2000-02-29", ok},
		{"feb/30/2008", "", invalid},
		{"feb/29/2023", "", invalid},
		{"2008-13-01", "", invalid},
		{"2008-00-01", "", invalid},
		{"2008-10-00", "", invalid},
		{"2008-10-32", "", invalid},
		{"2008-1-30", "", invalid},
		{"08-10-30", "", invalid},
		{"foo/30/2008", "", invalid},
		{"10/30/2008", "", invalid},
		{"oct/30/08", "", invalid},
		{"", "", invalid},
	})
}

func TestIP(t *testing.T) {
	checkParse(t, IPv4(), []parseCase{
		{"192.168.88.1", "192.168.88.1", ok},
		{"10.1", "10.0.0.1", ok},
		{"10.1.2", "10.1.0.2", ok},
		{"0.0.0.0", "0.0.0.0", ok},
		{"2001:db8::1", "", invalid},
		{"::ffff:10.0.0.1", "", invalid},
		{"10", "", invalid},
		{"256.1.1.1", "", invalid},
		{"10.256", "", invalid},
		{"010.1", "", invalid},
		{"10..1", "", invalid},
		{"10.0.0.1/24", "", invalid},
		{"", "", invalid},
	})
	checkParse(t, IPv6(), []parseCase{
		{"2001:DB8:0:0::1", "2001:db8::1", ok},
		{"::", "::", ok},
		{"::ffff:10.0.0.1", "::ffff:10.0.0.1", ok},
		{"fe80::1%ether1", "", invalid},
		{"10.0.0.1", "", invalid},
		{"2001:db8::g", "", invalid},
	})
	checkParse(t, IP(), []parseCase{
		{"10.0.0.1", "10.0.0.1", ok},
		{"10.1", "10.0.0.1", ok},
		{"2001:db8::1", "2001:db8::1", ok},
		{"fe80::1%2", "", invalid},
		{"host", "", invalid},
	})
	names := map[string]Type{"IPv4 address": IPv4(), "IPv6 address": IPv6(), "IP address": IP()}
	for want, typ := range names {
		if typ.Name() != want {
			t.Errorf("Name() = %q; want %q", typ.Name(), want)
		}
	}
}

func TestPrefix(t *testing.T) {
	checkParse(t, Prefix4(), []parseCase{
		{"10.0.0.0/8", "10.0.0.0/8", ok},
		{"10.0.0.1/24", "10.0.0.1/24", ok},
		{"10.0.0.1", "10.0.0.1/32", ok},
		{"0.0.0.0/0", "0.0.0.0/0", ok},
		{"10.1/8", "10.0.0.1/8", ok},
		{"10.0.0.0/024", "10.0.0.0/24", ok},
		{"10.0.0.0/33", "", invalid},
		{"10.0.0.0/", "", invalid},
		{"10.0.0.0/-1", "", invalid},
		{"10.0.0.0/+8", "", invalid},
		{"10.0.0.0/8/8", "", invalid},
		{"2001:db8::/32", "", invalid},
		{"/8", "", invalid},
	})
	checkParse(t, Prefix6(), []parseCase{
		{"2001:db8::/32", "2001:db8::/32", ok},
		{"2001:db8::1/64", "2001:db8::1/64", ok},
		{"2001:db8::1", "2001:db8::1/128", ok},
		{"2001:db8::/129", "", invalid},
		{"fe80::1%ether1/64", "", invalid},
		{"10.0.0.0/8", "", invalid},
	})
	checkParse(t, Prefix(), []parseCase{
		{"10.0.0.0/8", "10.0.0.0/8", ok},
		{"2001:db8::/32", "2001:db8::/32", ok},
		{"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104", ok},
	})
}

func TestMAC(t *testing.T) {
	checkParse(t, MAC(), []parseCase{
		{"02:00:00:aa:bb:cc", "02:00:00:AA:BB:CC", ok},
		{"02-00-00-AA-BB-CC", "02:00:00:AA:BB:CC", ok},
		{"0200.00aa.bbcc", "02:00:00:AA:BB:CC", ok},
		{"020000AABBCC", "02:00:00:AA:BB:CC", ok},
		{"02:00:00:aa:bb", "", invalid},
		{"02:00:00:aa:bb:cc:dd", "", invalid},
		{"02:00-00:aa:bb:cc", "", invalid},
		{"02:00:00:aa:bb:cg", "", invalid},
		{"2:0:0:aa:bb:cc", "", invalid},
		{"0200:00aa:bbcc", "", invalid},
		{"02000aabbccd0", "", invalid},
		{"", "", invalid},
	})
}

func TestPair(t *testing.T) {
	keepalive := Pair(Time(0, 24*time.Hour), Int(0, 4294967295))
	checkParse(t, keepalive, []parseCase{
		{"10s,10", "10s,10", ok},
		{"00:00:10,0x10", "10s,16", ok},
		{"10s", "", invalid},
		{"10s,10,1", "", invalid},
		{"2d,10", "0s..1d", outOfRange},
		{"10s,4294967296", "0..4294967295", outOfRange},
		{"x,10", "", invalid},
		{",10", "", invalid},
	})
	if n := keepalive.Name(); n != "time,integer [0..4294967295]" {
		t.Errorf("Name() = %q", n)
	}
	checkParse(t, Pair(Enum("a"), Int(0, 1)), []parseCase{
		{"b,1", "", noMatch},
	})
}

func TestOneOf(t *testing.T) {
	dscp := OneOf(Enum("inherit"), Int(0, 63))
	checkParse(t, dscp, []parseCase{
		{"inherit", "inherit", ok},
		{"10", "10", ok},
		{"0x3f", "63", ok},
		{"99", "0..63", outOfRange},
		{"abc", "", invalid},
	})
	checkParse(t, OneOf(Enum("a"), Enum("b")), []parseCase{
		{"b", "b", ok},
		{"c", "", noMatch},
	})
	checkParse(t, OneOf(Enum("auto"), Time(0, time.Hour), Int(0, 10)), []parseCase{
		{"5", "5s", ok},
		{"2h", "", invalid}, // the last non-enum member's error wins
	})
	if n := dscp.Name(); n != "inherit | integer [0..63]" {
		t.Errorf("Name() = %q", n)
	}
	l, isLister := dscp.(Lister)
	if !isLister || !slices.Equal(l.Values(), []string{"inherit"}) {
		t.Errorf("OneOf with an enum is not a Lister of its words")
	}
	if _, isLister := OneOf(Int(0, 1), IP()).(Lister); isLister {
		t.Errorf("OneOf without listers claims to be a Lister")
	}
	if _, isComparer := OneOf(Enum("a"), String()).(Comparer); isComparer {
		t.Errorf("OneOf without comparers claims to be a Comparer")
	}
	c := dscp.(Comparer)
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"2", "10", -1},
		{"10", "10", 0},
		{"inherit", "0", -1},
		{"63", "inherit", 1},
	} {
		if got := c.Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("dscp Compare(%q, %q) = %d; want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		typ    Type
		sorted []string // canonical values in ascending order
	}{
		{Int(-1000, 1000), []string{"-1000", "-5", "0", "9", "10", "100"}},
		{Time(0, 1<<62), []string{"0s", "1ns", "500ms", "1s", "59s", "1m", "1h30m", "1d", "1w1d"}},
		{TimeOfDay(), []string{"00:00:00", "09:00:00", "10:00:00", "23:59:59"}},
		{Date(), []string{"1999-12-31", "2008-10-30", "2008-11-01", "2024-01-01"}},
		{IP(), []string{"9.0.0.0", "10.0.0.1", "10.0.0.2", "192.168.0.1", "::", "::ffff:0.0.0.1", "2001:db8::1"}},
		{Prefix(), []string{"9.0.0.0/8", "10.0.0.0/8", "10.0.0.0/24", "10.0.0.1/8", "2001:db8::/32", "2001:db8::/64"}},
		{MAC(), []string{"00:00:00:00:00:01", "02:00:00:AA:BB:CC", "0A:00:00:00:00:00", "FF:FF:FF:FF:FF:FF"}},
	} {
		c, isComparer := tc.typ.(Comparer)
		if !isComparer {
			t.Errorf("%s is not a Comparer", tc.typ.Name())
			continue
		}
		for i, a := range tc.sorted {
			if canon, err := tc.typ.Parse(a); err != nil || canon != a {
				t.Errorf("%s: %q is not canonical (%q, %v)", tc.typ.Name(), a, canon, err)
			}
			for j, b := range tc.sorted {
				want := 0
				if i < j {
					want = -1
				} else if i > j {
					want = 1
				}
				if got := c.Compare(a, b); got != want {
					t.Errorf("%s: Compare(%q, %q) = %d; want %d", tc.typ.Name(), a, b, got, want)
				}
			}
		}
	}
	for _, typ := range []Type{String(), Bool(), Enum("a"), List(Int(0, 1)), Pair(Int(0, 1), Int(0, 1))} {
		if _, isComparer := typ.(Comparer); isComparer {
			t.Errorf("%s claims to be a Comparer", typ.Name())
		}
	}
}

func TestNames(t *testing.T) {
	for _, c := range []struct {
		typ  Type
		want string
	}{
		{String(), "string"},
		{Time(0, time.Second), "time"},
		{TimeOfDay(), "time of day"},
		{Date(), "date"},
		{Prefix4(), "IPv4 prefix"},
		{Prefix6(), "IPv6 prefix"},
		{Prefix(), "IP prefix"},
		{MAC(), "MAC address"},
		{List(Int(0, 1)), "list of integer [0..1]"},
		{OneOf(Bool(), Date()), "yes | no | date"},
	} {
		if got := c.typ.Name(); got != c.want {
			t.Errorf("Name() = %q; want %q", got, c.want)
		}
	}
}

// TestComparable guards callers that keep types in maps or compare them with ==.
func TestComparable(t *testing.T) {
	m := map[Type]bool{}
	for _, typ := range []Type{
		String(), Int(0, 1), Bool(), Enum("a"), EnumList("a"), List(Int(0, 1)),
		Time(0, 1), TimeOfDay(), Date(), IP(), Prefix(), AddrList(), MAC(),
		Pair(Enum("a"), Int(0, 1)), OneOf(Enum("a"), Int(0, 1)), OneOf(String()),
	} {
		m[typ] = true
		if typ != typ {
			t.Errorf("%s is not equal to itself", typ.Name())
		}
	}
}

func TestMessage(t *testing.T) {
	_, errRange := Int(0, 65536).Parse("70000")
	_, errNoMatch := Enum("auto", "manual").Parse("foo")
	_, errInvalid := IP().Parse("10.0.0.256")
	_, errList := List(Enum("a")).Parse("a,b")
	_, errTime := Time(10*time.Second, 24*time.Hour).Parse("1s")
	for _, c := range []struct {
		prop string
		err  error
		want string
	}{
		{"mtu", errRange, "value of mtu out of range (0..65536)"},
		{"delay-mode", errNoMatch, "input does not match any value of delay-mode"},
		{"remote-address", errInvalid, "invalid value for argument remote-address"},
		{"ports", errList, "input does not match any value of ports"},
		{"interval", errTime, "value of interval out of range (10s..1d)"},
		{"x", errors.New("other"), "invalid value for argument x"},
	} {
		if got := Message(c.prop, c.err); got != c.want {
			t.Errorf("Message(%q, %v) = %q; want %q", c.prop, c.err, got, c.want)
		}
	}
}

// TestRoundTrip checks that every accepted input's canonical form parses to itself.
func TestRoundTrip(t *testing.T) {
	inputs := []string{
		"", "0", "1", "-1", "0x1F", "10", "30", "0.5", "1.5h", "24h", "90m", "8d", "1500ms",
		"2d11h12", "1d02:03:04", "12:30:15.250", "9:00:00", "12:30", "yes", "true", "false",
		"oct/30/2008", "2008-10-30", "10.1", "10.1.2", "10.0.0.1/24", "2001:DB8::1",
		"::ffff:1.2.3.4", "0200.00aa.bbcc", "020000aabbcc", "10s,10", "a,b,a", "1,2,1",
		"inherit", "auto",
	}
	types := []Type{
		String(), Int(-1000, 1000), Bool(), Enum("auto", "inherit"), List(Int(0, 10)),
		EnumList("a", "b"), Time(0, 1<<62), TimeOfDay(), Date(), IPv4(), IPv6(), IP(),
		Prefix4(), Prefix6(), Prefix(), AddrList(), MAC(),
		Pair(Time(0, time.Hour), Int(0, 100)), OneOf(Enum("inherit"), Int(0, 63)),
	}
	accepted := 0
	for _, typ := range types {
		for _, in := range inputs {
			canon, err := typ.Parse(in)
			if err != nil {
				continue
			}
			accepted++
			if again, err := typ.Parse(canon); err != nil || again != canon {
				t.Errorf("%s: %q -> %q -> %q, %v", typ.Name(), in, canon, again, err)
			}
		}
	}
	if accepted < 50 {
		t.Errorf("only %d inputs accepted; the table has gone stale", accepted)
	}
}

func TestOffset(t *testing.T) {
	checkParse(t, Offset(), []parseCase{
		{"+00:00", "+00:00", ok},
		{"00:00", "+00:00", ok},
		{"-05:30", "-05:30", ok},
		{"+5:45", "+05:45", ok},
		{"+14:00", "+14:00", ok},
		{"-12:00", "-12:00", ok},
		{"+14:01", "-12:00..+14:00", outOfRange},
		{"-13:00", "-12:00..+14:00", outOfRange},
		{"+01:60", "", invalid},
		{"+1", "", invalid},
		{"", "", invalid},
		{"+01:00:00", "", invalid},
	})
}

func TestDateTime(t *testing.T) {
	checkParse(t, DateTime(), []parseCase{
		{"jan/01/1970 00:00:00", "1970-01-01 00:00:00", ok},
		{"mar/29/2026 2:00:00", "2026-03-29 02:00:00", ok},
		{"2026-10-25 03:00:00", "2026-10-25 03:00:00", ok},
		{"jan/01/1970", "", invalid},
		{"feb/30/2026 00:00:00", "", invalid},
		{"jan/01/1970 25:00:00", "", invalid},
	})
}
