package value

import "time"

// Constructors of the value types. Each returns a Type whose Parse accepts every input form
// RouterOS accepts and returns the form RouterOS prints.

// String accepts any text.
func String() Type { return stringType{} }

// Int accepts decimal (and 0x hex) integers in [min, max].
func Int(min, max int64) Type { return intType{min, max} }

// Bool accepts yes/no (and true/false); canonical yes/no.
func Bool() Type { return boolType{} }

// Enum accepts one of values.
func Enum(values ...string) Type { return enumType{values} }

// EnumList accepts a comma list of values (each optionally prefixed with ! when neg is
// allowed by the caller through List); canonical: as given, deduplicated, comma-joined.
func EnumList(values ...string) Type { return List(Enum(values...)) }

// List accepts a comma-separated list of t; the empty string is the empty list.
func List(t Type) Type { return listType{t} }

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

// MAC accepts a MAC address in colon, dash or dotted form; canonical upper-case colons.
func MAC() Type { return macType{} }

// Pair accepts "a,b" (keepalive 10s,10); canonical "A,B".
func Pair(a, b Type) Type { return pairType{a, b} }

// OneOf accepts the first of ts that parses (dscp: inherit or 0..63).
func OneOf(ts ...Type) Type { return oneOfType{ts} }
