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
