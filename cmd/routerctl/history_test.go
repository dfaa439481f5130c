package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHistoryLineHidesSecrets(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`/ip ipsec identity set [find] secret=TOPSECRET-psk-42`, `/ip ipsec identity set [find] secret=***`},
		{`/interface gre add name=hx remote-address=198.18.9.9 ipsec-secret=TOPSECRET-gre-43`,
			`/interface gre add name=hx remote-address=198.18.9.9 ipsec-secret=***`},
		{`/user add name=u9 group=read password="TOP SECRET \"pw\" 44"; /ip address print`,
			`/user add name=u9 group=read password=***; /ip address print`},
		{`/password old-password=a new-password=b confirm-new-password=b`,
			`/password old-password=*** new-password=*** confirm-new-password=***`},
		{`/ip address add address=198.18.0.1/24 interface=ether1`, `/ip address add address=198.18.0.1/24 interface=ether1`},
		{`:put [/ip ipsec identity get [find secret=abc] peer]`, `:put [/ip ipsec identity get [find secret=***] peer]`},
	} {
		if got := historyLine(tc.in); got != tc.want {
			t.Errorf("historyLine(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestHistoryFilePrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h")
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := openHistory(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("history file mode %v %v, want 0600", fi.Mode(), err)
	}
}
