package security

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// /import dry-run refuses exactly what the real import refuses: a write user's /user
// add (policy), a reference to a missing interface, a dont-require-permissions script
// beyond the user's policies; and changes nothing.
func TestImportDryRunParity(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("w", "write", "w-password-1")
	files := filepath.Join(r.data, "files")
	cases := map[string]string{
		"user.rsc":    "/user add name=evil group=full password=evil-pw-1\n",
		"ref.rsc":     "/ip address add address=198.18.0.1/24 interface=nosuch0\n",
		"waiver.rsc":  "/system script add name=s dont-require-permissions=yes source=\":put 1\"\n",
		"backup.rsc":  "/system backup save name=x\n",
		"good.rsc":    "/system script add name=fine source=\":put 1\"\n:delay 2s\n/system identity set name=dry\n",
		"nesting.rsc": ":put " + strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500) + "\n",
	}
	for name, text := range cases {
		if err := os.WriteFile(filepath.Join(files, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tc := r.console("w", "w-password-1")
	for name := range cases {
		dry := tc.run(t, "/import file-name="+name+" dry-run")
		dryOK := strings.Contains(dry, "loaded and executed successfully")
		real := tc.run(t, "/import file-name="+name+" verbose=yes")
		realOK := strings.Contains(real, "loaded and executed successfully")
		t.Logf("%s: dry-run ok=%v, real ok=%v", name, dryOK, realOK)
		if dryOK != realOK {
			t.Errorf("%s: dry-run says ok=%v, the real import ok=%v\ndry-run:\n%s\nreal:\n%s", name, dryOK, realOK, dry, real)
		}
		if name == "good.rsc" && !dryOK {
			t.Errorf("good.rsc fails its dry run:\n%s", dry)
		}
	}
	r.noEvil()
	// The dry runs changed nothing: only the real imports' items exist.
	if out := r.must(":put [:len [/system script find name=fine]]"); strings.TrimSpace(out) != "1" {
		t.Errorf("scripts called fine: %s (want the real import's one)", out)
	}
}
