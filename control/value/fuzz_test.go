package value

import (
	"testing"
	"time"
)

// FuzzParse checks for every constructor that Parse does not panic and that canonical
// forms are fixed points: Parse(Parse(x)) == Parse(x).
func FuzzParse(f *testing.F) {
	types := []Type{
		String(), Int(0, 65535), Int(-1<<63, 1<<63-1), Bool(), Enum("none", "auto", ""),
		EnumList("a", "b", "c"), List(Int(0, 10)), List(String()), List(Time(0, 1<<62)),
		Time(0, 24*time.Hour), Time(-1<<63, 1<<63-1), TimeOfDay(), Date(), Offset(), DateTime(),
		IPv4(), IPv6(), IP(), Prefix4(), Prefix6(), Prefix(), AddrList(), MAC(),
		Pair(Time(0, 24*time.Hour), Int(0, 4294967295)), Pair(String(), IP()),
		OneOf(Enum("inherit"), Int(0, 63)), OneOf(Enum("auto"), Time(0, time.Hour), IP()),
	}
	for _, s := range []string{
		"", "0", "-1", "0x1F", "yes", "auto", "a,b,a", "1,2", "10s", "1d02:03:04", "2d11h12",
		"0.5", "12:30:15.250", "9:00", "oct/30/2008", "2008-10-30", "10.1", "10.1.2",
		"10.0.0.1/24", "2001:db8::1/64", "::ffff:1.2.3.4", "fe80::1%eth0", "0200.00aa.bbcc",
		"02-00-00-AA-BB-CC", "10s,10", "inherit", "99", "15250w1d23h47m16s854ms775us807ns",
		"-00:00:00.000000001", "+05:30", "jan/01/1970 00:00:00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, typ := range types {
			canon, err := typ.Parse(s)
			if err != nil {
				if Message("p", err) == "" {
					t.Errorf("%s: empty message for %q", typ.Name(), s)
				}
				continue
			}
			again, err := typ.Parse(canon)
			if err != nil || again != canon {
				t.Errorf("%s: %q -> %q -> %q, %v", typ.Name(), s, canon, again, err)
			}
			if c, ok := typ.(Comparer); ok && c.Compare(canon, canon) != 0 {
				t.Errorf("%s: Compare(%q, itself) != 0", typ.Name(), canon)
			}
		}
		// The script form of a duration must read back as the same duration.
		if d, err := ParseDuration(s); err == nil {
			for _, form := range []string{FormatDuration(d), FormatClock(d)} {
				if back, err := ParseDuration(form); err != nil || back != d {
					t.Errorf("%q: %v -> %q -> %v, %v", s, d, form, back, err)
				}
			}
		}
	})
}
