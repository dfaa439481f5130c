package security

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startFails starts routerd on r's data dir with args and expects it to exit with an
// error mentioning want.
func (r *router) startFails(want string, args ...string) {
	r.t.Helper()
	r.args = args
	if err := r.start(); err == nil {
		r.t.Fatalf("routerd started on an unreadable store\n%s", tail(r.Log.String(), 2000))
	} else if !strings.Contains(err.Error(), want) {
		r.t.Fatalf("routerd's refusal does not say %q:\n%v", want, err)
	}
}

// A zero-length or damaged store file stops routerd with the reason, and the file is
// left exactly as it was; --store-recover=backup starts from the newest backup and
// keeps the file aside, --store-recover=empty from factory defaults.
func TestUnreadableStore(t *testing.T) {
	r := startRouter(t, "")
	r.script("/system script add name=precious source=\":put 1\"\n/system backup save name=good\n")
	r.stop()
	db := filepath.Join(r.data, "routerd.db")
	good, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}

	// Zero length.
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	r.startFails("empty (0 bytes)")
	if fi, _ := os.Stat(db); fi.Size() != 0 {
		t.Fatalf("the empty store file was replaced (%d bytes)", fi.Size())
	}

	// Damaged pages: everything after the two meta pages overwritten.
	bad := append([]byte(nil), good...)
	for i := 2 * 4096; i < len(bad); i++ {
		bad[i] = byte(i*7 + 13)
	}
	os.WriteFile(db, bad, 0o600)
	r.startFails("cannot be read")
	if now, _ := os.ReadFile(db); !bytes.Equal(now, bad) {
		t.Fatal("the damaged store file was changed")
	}
	// Damaged meta pages.
	bad2 := append([]byte(nil), good...)
	for i := 0; i < 2*4096; i++ {
		bad2[i] ^= 0x5a
	}
	os.WriteFile(db, bad2, 0o600)
	r.startFails("cannot be read")

	// Recovery, when asked for: the newest backup.
	r.args = []string{"--store-recover=backup"}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	if out := r.must(":put [:len [/system script find name=precious]]"); strings.TrimSpace(out) != "1" {
		t.Errorf("the backup's script is missing after --store-recover=backup:\n%s", r.must("/system/script/print"))
	}
	r.stop()
	kept, _ := filepath.Glob(db + ".unreadable-*")
	if len(kept) != 1 {
		t.Fatalf("the unreadable file was not kept aside: %v", kept)
	}
	if b, _ := os.ReadFile(kept[0]); !bytes.Equal(b, bad2) {
		t.Error("the file kept aside is not the unreadable one")
	}

	// Recovery to factory defaults.
	os.WriteFile(db, nil, 0o600)
	r.args = []string{"--store-recover=empty"}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	if out := r.must(":put [:len [/system script find]]"); strings.TrimSpace(out) != "0" {
		t.Errorf("--store-recover=empty kept scripts")
	}
	r.alive()
}
