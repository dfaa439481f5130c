package security

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A RouterOS 6 peer line that /import refuses leaves no peer, profile or identity
// behind; the next line's rsa-signature becomes identity auth-method=digital-signature.
func TestImportV6PeerRefusedChangesNothing(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	text := "/ip ipsec peer add address=198.18.50.2/32 auth-method=bogus dh-group=modp2048\n" +
		"/ip ipsec peer add address=198.18.50.3/32 auth-method=rsa-signature certificate=none\n"
	if err := os.WriteFile(filepath.Join(r.data, "files", "v6.rsc"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := r.ctl(nil, "/import file-name=v6.rsc verbose=yes")
	if err == nil || !strings.Contains(out, "1 refused") {
		t.Errorf("import: err=%v\n%s", err, out)
	}
	if got := strings.TrimSpace(r.must(":put [:len [/ip ipsec peer find]]")); got != "1" {
		t.Errorf("peers = %s, want 1 (the refused line's peer left behind?)", got)
	}
	if got := strings.TrimSpace(r.must(":put [:len [/ip ipsec profile find where name~\"peer\"]]")); got != "0" {
		t.Errorf("v6 profiles = %s, want 0 (the refused line's profile left behind?)", got)
	}
	if got := strings.TrimSpace(r.must(":put [/ip ipsec identity get [find] auth-method]")); got != "digital-signature" {
		t.Errorf("identity auth-method = %q, want digital-signature", got)
	}
}
