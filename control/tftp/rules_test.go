package tftp

import (
	"net/netip"
	"slices"
	"testing"
)

func TestSplitGroups(t *testing.T) {
	for _, tc := range []struct {
		in   string
		name string
		need []int
	}{
		{"/sata1/ccc.bin\\0", "/sata1/ccc.bin", []int{0}},
		{"filename\\0\\5\\6", "filename", []int{0, 5, 6}},
		{"plain.bin", "plain.bin", nil},
		{"a\\b", "a\\b", nil},
		{"", "", nil},
	} {
		name, need := splitGroups(tc.in)
		if name != tc.name || !slices.Equal(need, tc.need) {
			t.Errorf("splitGroups(%q) = %q %v, want %q %v", tc.in, name, need, tc.name, tc.need)
		}
	}
}

// The reference's examples and regular expressions, decided as it describes them.
func TestRules(t *testing.T) {
	client := netip.MustParseAddr("198.18.0.2")
	other := netip.MustParseAddr("198.19.0.9")
	for _, tc := range []struct {
		props map[string]string
		addr  netip.Addr
		req   string
		real  string // "" means no match
	}{
		{map[string]string{"req-filename": "file.txt", "real-filename": "/sata1/file.txt"}, client, "file.txt", "/sata1/file.txt"},
		{map[string]string{"req-filename": "file.txt", "real-filename": "/sata1/file.txt"}, client, "other.txt", ""},
		{map[string]string{"req-filename": ".*", "real-filename": "/sata1/file.txt"}, client, "anything/at/all", "/sata1/file.txt"},
		{map[string]string{"req-filename": "(aaa.bin)|(bbb.bin)", "real-filename": "/sata1/ccc.bin\\0"}, client, "aaa.bin", "/sata1/ccc.bin"},
		{map[string]string{"req-filename": "(aaa.bin)|(bbb.bin)", "real-filename": "/sata1/ccc.bin\\0"}, client, "bbb.bin", "/sata1/ccc.bin"},
		{map[string]string{"req-filename": "(aaa.bin)|(bbb.bin)", "real-filename": "/sata1/ccc.bin\\0"}, client, "ccc.bin", ""},
		// Only requests where group 2 took part are served.
		{map[string]string{"req-filename": "(aaa.bin)|(bbb.bin)", "real-filename": "x\\2"}, client, "aaa.bin", ""},
		{map[string]string{"req-filename": "(aaa.bin)|(bbb.bin)", "real-filename": "x\\2"}, client, "bbb.bin", "x"},
		{map[string]string{"req-filename": "a(sd|fg)"}, client, "afg", "afg"},
		{map[string]string{"req-filename": "^as*df$"}, client, "adf", "adf"},
		{map[string]string{"req-filename": "^as*df$"}, client, "xadf", ""},
		{map[string]string{"req-filename": "as+df"}, client, "adf", ""},
		{map[string]string{"req-filename": "^asd?f$"}, client, "asf", "asf"},
		{map[string]string{"req-filename": "^as[df]$"}, client, "asd", "asd"},
		{map[string]string{"req-filename": "^as[df]$"}, client, "ase", ""},
		{map[string]string{}, client, "x", "x"},
		{map[string]string{"ip-addresses": "198.18.0.0/24,2001:db8::/32"}, client, "x", "x"},
		{map[string]string{"ip-addresses": "198.18.0.0/24"}, other, "x", ""},
		{map[string]string{"ip-addresses": "2001:db8::/32"}, netip.MustParseAddr("2001:db8::5"), "x", "x"},
		{map[string]string{"ip-addresses": "198.18.0.0/24"}, netip.MustParseAddr("::ffff:198.18.0.7"), "x", "x"},
	} {
		r, err := CompileRule(1, tc.props)
		if err != nil {
			t.Fatalf("%v: %v", tc.props, err)
		}
		real, ok := r.Match(tc.addr, tc.req)
		if ok != (tc.real != "") || real != tc.real {
			t.Errorf("%v: %s asks %q: got %q %v, want %q", tc.props, tc.addr, tc.req, real, ok, tc.real)
		}
	}
}

func TestRuleErrors(t *testing.T) {
	for _, props := range []map[string]string{
		{"req-filename": "a(b"},
		{"req-filename": "(a)", "real-filename": "x\\2"},
		{"ip-addresses": "nonsense"},
	} {
		if _, err := CompileRule(1, props); err == nil {
			t.Errorf("%v compiled", props)
		}
	}
}

func TestFirstRuleDecides(t *testing.T) {
	deny, _ := CompileRule(1, map[string]string{"req-filename": "^secret", "allow": "no"})
	all, _ := CompileRule(2, map[string]string{})
	addr := netip.MustParseAddr("198.18.0.2")
	if r, _ := decide([]*Rule{deny, all}, addr, "secret.txt"); r != deny {
		t.Fatalf("secret.txt decided by %v", r)
	}
	if r, _ := decide([]*Rule{deny, all}, addr, "public.txt"); r != all {
		t.Fatalf("public.txt decided by %v", r)
	}
	if r, _ := decide(nil, addr, "x"); r != nil {
		t.Fatal("no rules allowed a request")
	}
}
