package firewall

import (
	"testing"

	"github.com/ti-mo/netfilter"
)

// FuzzLogPacket: the log reader takes packets and prefixes from the kernel; any bytes
// must render without panicking.
func FuzzLogPacket(f *testing.F) {
	f.Add([]byte("filter/input/3 drop"), []byte{0x45, 0, 0, 84, 0, 0, 0, 0, 64, 1, 0, 0, 198, 19, 2, 2, 198, 19, 2, 1, 8, 0})
	f.Add([]byte("x"), []byte{0x60})
	f.Fuzz(func(t *testing.T, prefix, payload []byte) {
		l, ok := parseLog([]netfilter.Attribute{{Type: nfulaPrefix, Data: prefix}, {Type: nfulaPayload, Data: payload},
			{Type: nfulaIfIn, Data: payload[:min(4, len(payload))]}}, func(uint32) string { return "if" })
		if ok {
			_ = l.Message()
		}
		_ = describePacket(payload)
	})
}

// FuzzRuleValues: the matcher values a console, API or import sends (time=, dst-limit=,
// connection-limit=, per-connection-classifier=, limit=, nth=, ttl=) either are refused
// by Check or compile, and never panic.
func FuzzRuleValues(f *testing.F) {
	for _, s := range []string{"8h-17h,mon,fri", "22h-2h", "2,2,dst-address/1m", "3,24", "both-addresses:2/1", "!src-port:3/0",
		"10/1m,5:packet", "1M/1s,64k:bit", "4,1", "equal:64", "0s-24h,sun,sat", "1,1,addresses-and-dst-port"} {
		f.Add("time", s, false)
		f.Add("dst-limit", s, true)
	}
	f.Fuzz(func(t *testing.T, prop, val string, v6 bool) {
		switch prop {
		case "time", "dst-limit", "connection-limit", "per-connection-classifier", "limit", "nth", "ttl":
		default:
			prop = "time"
		}
		r := &Rule{ID: 1, Table: "filter", Chain: "forward", Action: "accept", Props: map[string]string{"chain": "forward", prop: val}}
		if r.Check(v6) != nil {
			return
		}
		off := 3600
		pl := Compile(Config{V6: v6, Rules: []*Rule{r}, ZoneOffset: &off})
		if len(pl.Invalid) == 0 && len(pl.Chains) == 0 {
			t.Fatalf("%s=%q: valid but compiled to nothing", prop, val)
		}
	})
}
