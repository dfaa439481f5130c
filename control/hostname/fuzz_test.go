package hostname

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/menu"
)

// FuzzHostName: the host-name syntax (menu.HostName, what remote-address=, a peer's
// address= and /ping take besides an address, and what the Resolver asks the servers)
// never panics, and what it accepts is a name a DNS query can carry: at most 253
// characters of labels of 1-63 letters, digits and inner hyphens, not an address, and
// accepted again unchanged.
func FuzzHostName(f *testing.F) {
	for _, s := range []string{"hq.example.net", "hq.example.net.", "n.mynetname.net", "a", "198.18.0.1",
		"1.2.3.4.example", "x-1.example", "-x.example", "a..b", "", ".", strings.Repeat("a", 64) + ".net",
		strings.Repeat("a.", 130) + "net", "2001:db8::1", "h\x00st.example", "ÿ.example", "123"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := menu.HostName{}.Parse(s)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > 253 {
			t.Fatalf("%q accepted as %q: length %d", s, got, len(got))
		}
		if _, err := netip.ParseAddr(got); err == nil {
			t.Fatalf("%q accepted as a host name, but it is an address", s)
		}
		for _, l := range strings.Split(got, ".") {
			if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
				t.Fatalf("%q accepted with label %q", s, l)
			}
			for _, c := range []byte(l) {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
					t.Fatalf("%q accepted with byte %q", s, c)
				}
			}
		}
		if again, err := (menu.HostName{}).Parse(got); err != nil || again != got {
			t.Fatalf("%q accepted as %q, which parses as %q, %v", s, got, again, err)
		}
	})
}
