package tunnel

import (
	"net/netip"
	"testing"
)

// TestProtected: the first inbound rule matching a tunnel's outer packets decides, as
// the policies' order does; rules of another protocol or other addresses do not.
func TestProtected(t *testing.T) {
	e := New("")
	pfx := netip.MustParsePrefix
	a := netip.MustParseAddr
	e.setProtect([]ProtectRule{
		{Src: pfx("198.18.5.2/32"), Dst: pfx("198.18.5.1/32"), Proto: 47, Drop: false}, // none
		{Src: pfx("198.18.6.0/24"), Dst: pfx("0.0.0.0/0"), Proto: 4, Drop: true},
		{Src: pfx("198.18.0.0/16"), Dst: pfx("198.18.0.0/16"), Drop: true},
	})
	for _, c := range []struct {
		remote, local string
		proto         uint8
		want          bool
	}{
		{"198.18.5.2", "198.18.5.1", 47, false}, // the none policy comes first
		{"198.18.5.2", "198.18.5.1", 4, true},   // ... but only for GRE
		{"198.18.6.9", "198.19.0.1", 4, true},
		{"198.18.6.9", "198.19.0.1", 47, false},
		{"198.18.7.1", "198.18.7.2", 41, true},
		{"198.19.7.1", "198.18.7.2", 47, false},
	} {
		if got := e.protected(a(c.remote), a(c.local), c.proto); got != c.want {
			t.Errorf("%s -> %s proto %d: protected %v, want %v", c.remote, c.local, c.proto, got, c.want)
		}
	}
	e.setProtect(nil)
	if e.protected(a("198.18.7.1"), a("198.18.7.2"), 47) {
		t.Error("still protected after the rules went")
	}
}
