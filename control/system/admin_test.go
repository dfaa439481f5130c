package system

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
)

// TestFile: exports, backups and files written by others (ftp, tftp uploads) all show
// in /file print with type, size and creation time; contents of small text files;
// set contents and remove work, a bad name changes nothing.
func TestFile(t *testing.T) {
	r := newRig(t)
	r.mustRun(t, "/system identity set name=filetest\n/export file=cfg\n/system backup save name=b1")
	up := filepath.Join(r.dataDir, "files", "upload.txt")
	if err := os.WriteFile(up, []byte("hello from ftp\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := r.mustRun(t, "/file print")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^ *\d+ +b1\.backup +backup +\d+(\.\d)?[KM]?i?B? +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`),
		regexp.MustCompile(`(?m)^ *\d+ +cfg\.rsc +script +`),
		regexp.MustCompile(`(?m)^ *\d+ +upload\.txt +\.txt file +15B? +`),
	} {
		if !want.MatchString(out) {
			t.Errorf("/file print lacks %v:\n%s", want, out)
		}
	}
	if got := r.mustRun(t, ":put [/file get upload.txt contents]"); got != "hello from ftp\n\n" {
		t.Errorf("contents = %q", got)
	}
	if got := r.mustRun(t, ":put [/file get upload.txt size]"); got != "15\n" {
		t.Errorf("size over the language = %q, want the plain byte count", got)
	}
	r.mustRun(t, `/file set upload.txt contents="changed"`)
	if b, _ := os.ReadFile(up); string(b) != "changed" {
		t.Errorf("after set: %q", b)
	}
	r.mustRun(t, "/file remove upload.txt,cfg.rsc")
	out = r.mustRun(t, "/file print")
	if strings.Contains(out, "upload.txt") || strings.Contains(out, "cfg.rsc") || !strings.Contains(out, "b1.backup") {
		t.Errorf("after remove:\n%s", out)
	}
	if _, err := r.run(t, "/file remove nosuch"); err == nil || !strings.Contains(err.Error(), "no such item") {
		t.Errorf("remove of a missing file: %v", err)
	}
	if _, err := r.run(t, `/file add name="../escape" contents=x`); err == nil {
		t.Error("add outside files/ accepted")
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, "escape")); err == nil {
		t.Error("file written outside files/")
	}
}

// TestClockPackageRouterboard: the clock shows the process's zone and refuses to be set
// without --allow-clock-set; package and routerboard answer as RouterOS CHR does.
func TestClockPackageRouterboard(t *testing.T) {
	r := newRig(t)
	t.Setenv("TZ", "Europe/Riga")
	out := r.mustRun(t, "/system clock print")
	for _, want := range []string{"time-zone-name: Europe/Riga", "time: ", "date: "} {
		if !strings.Contains(out, want) {
			t.Errorf("clock print lacks %q:\n%s", want, out)
		}
	}
	AllowClockSet = false
	if _, err := r.run(t, "/system clock set time=01:02:03"); err == nil || !strings.Contains(err.Error(), "--allow-clock-set") {
		t.Errorf("clock set without the flag: %v", err)
	}
	// A zone does not change the machine's clock: exports set one, so it needs no flag.
	r.mustRun(t, "/system clock set time-zone-autodetect=no time-zone-name=Europe/Riga")
	if out := r.mustRun(t, "/system clock print"); !strings.Contains(out, "time-zone-name: Europe/Riga") || !strings.Contains(out, "time-zone-autodetect: no") {
		t.Errorf("after setting the zone without the flag:\n%s", out)
	}
	r.mustRun(t, "/system clock set time-zone-name=America/New_York")
	if out := r.mustRun(t, "/system clock print"); !strings.Contains(out, "time-zone-name: America/New_York") || !regexp.MustCompile(`gmt-offset: -0[45]:00`).MatchString(out) {
		t.Errorf("after setting a western zone without the flag:\n%s", out)
	}
	if _, err := r.run(t, "/system clock set time-zone-name=No/Such_Zone"); err == nil {
		t.Error("unknown zone accepted without the flag")
	}
	// The zone survives a restart (the clock menu is not in the store).
	restarted := &system{dataDir: r.dataDir, zone: &clockZone{}}
	restarted.loadZone()
	if name, _, _ := restarted.zone.get(); name != "America/New_York" {
		t.Errorf("after a restart the zone is %q", name)
	}
	// With the flag, the shown zone can be set (the machine's clock is left alone here).
	AllowClockSet = true
	t.Cleanup(func() { AllowClockSet = false })
	r.mustRun(t, "/system clock set time-zone-name=Asia/Tokyo")
	if out := r.mustRun(t, "/system clock print"); !strings.Contains(out, "time-zone-name: Asia/Tokyo") || !strings.Contains(out, "gmt-offset: +09:00") {
		t.Errorf("after setting the zone:\n%s", out)
	}
	if _, err := r.run(t, "/system clock set time-zone-name=No/Such_Zone"); err == nil {
		t.Error("unknown zone accepted")
	}
	if out := r.mustRun(t, "/system routerboard print"); !strings.Contains(out, "routerboard: no") {
		t.Errorf("routerboard:\n%s", out)
	}
	if out := r.mustRun(t, "/system package print"); !regexp.MustCompile(`(?m)^ *0 +routerd +\S+`).MatchString(out) {
		t.Errorf("package:\n%s", out)
	}
}

// TestHistoryUndoRedo: console changes show in /system history; /undo reverts the last
// one (a removed item comes back with its id, a set goes back), /redo makes it again,
// and a new change ends what could be redone.
func TestHistoryUndoRedo(t *testing.T) {
	r := newRig(t)
	r.mustRun(t, "/system script add name=h1\n/system script set h1 source=\":put 1\"\n/system script remove h1")
	out := r.mustRun(t, "/system history print")
	if strings.Count(out, "in /system/script") != 3 || !strings.Contains(out, "item removed") || !strings.Contains(out, "admin") {
		t.Fatalf("history:\n%s", out)
	}
	r.mustRun(t, "/undo")
	if got := r.mustRun(t, ":put [/system script get h1 source]"); got != ":put 1\n" {
		t.Fatalf("after undo of remove: %q", got)
	}
	r.mustRun(t, "/undo")
	if got := r.mustRun(t, ":put [/system script get h1 source]"); got != "\n" {
		t.Fatalf("after undo of set: %q", got)
	}
	r.mustRun(t, "/redo")
	if got := r.mustRun(t, ":put [/system script get h1 source]"); got != ":put 1\n" {
		t.Fatalf("after redo of set: %q", got)
	}
	out = r.mustRun(t, "/system history print detail")
	if !regexp.MustCompile(`(?m)^ *\d+ R `).MatchString(out) {
		t.Fatalf("the undone remove is not redoable:\n%s", out)
	}
	r.mustRun(t, "/system script add name=h2")
	if _, err := r.run(t, "/redo"); err == nil || !strings.Contains(err.Error(), "nothing to redo") {
		t.Fatalf("redo after a new change: %v", err)
	}
	r.mustRun(t, "/undo\n/undo\n/undo")
	if got := r.mustRun(t, ":put [:len [/system script find]]"); got != "0\n" {
		t.Fatalf("after undoing everything: %q scripts", got)
	}
}

// /file print shows an exported private key's text only to a session with the sensitive
// policy (the export passphrase only slows offline guessing); certificates to anyone.
func TestFileKeyContentsNeedSensitive(t *testing.T) {
	r := newRig(t)
	files := filepath.Join(r.dataDir, "files")
	os.MkdirAll(files, 0o700)
	key := "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n"
	crt := "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	os.WriteFile(filepath.Join(files, "cert_export_c.key"), []byte(key), 0o600)
	os.WriteFile(filepath.Join(files, "cert_export_c.crt"), []byte(crt), 0o600)
	ro := &control.Session{User: "ro", Policies: map[string]bool{"local": true, "read": true, "api": true, "test": true}}
	if got := fileContents(t, r, ro); got["cert_export_c.key"] != "" || got["cert_export_c.crt"] != crt {
		t.Errorf("without sensitive: key %q, certificate %q", got["cert_export_c.key"], got["cert_export_c.crt"])
	}
	sens := &control.Session{User: "s", ShowSensitive: true, Policies: map[string]bool{"read": true, "sensitive": true}}
	if got := fileContents(t, r, sens); got["cert_export_c.key"] != key {
		t.Errorf("with sensitive: key %q", got["cert_export_c.key"])
	}
}

// An export written with show-sensitive holds every secret of what it exports: /file
// shows its text only to a session with the sensitive policy; a plain export to anyone.
func TestFileSensitiveExportNeedsSensitive(t *testing.T) {
	r := newRig(t)
	r.mustRun(t, "/system identity set name=qa\n/export file=plain\n/export show-sensitive file=all")
	ro := &control.Session{User: "ro", Policies: map[string]bool{"local": true, "read": true, "write": true, "ftp": true}}
	if got := fileContents(t, r, ro); got["all.rsc"] != "" || !strings.Contains(got["plain.rsc"], "name=qa") {
		t.Errorf("without sensitive: all.rsc %q, plain.rsc %q", got["all.rsc"], got["plain.rsc"])
	}
	sens := &control.Session{User: "s", ShowSensitive: true, Policies: map[string]bool{"read": true, "sensitive": true}}
	if got := fileContents(t, r, sens); !strings.Contains(got["all.rsc"], control.SensitiveExportLine) {
		t.Errorf("with sensitive: all.rsc %q", got["all.rsc"])
	}
}

// fileContents is /file print as sess sees it: each file's contents by name.
func fileContents(t *testing.T, r *rig, sess *control.Session) map[string]string {
	t.Helper()
	rep, err := r.ex.Exec(context.Background(), sess, &control.Sentence{Path: "/file", Cmd: "print"})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, row := range rep.Rows {
		m[row.Props["name"]] = row.Props["contents"]
	}
	return m
}

// TestClockManualZone: time-zone-name=manual, as RouterOS 6.43 exports it with /system
// clock manual, is accepted, and the clock shows time at manual's offset, with
// dst-delta added inside the dst-start..dst-end window; the machine's clock is not
// touched (no --allow-clock-set). Export writes both back.
func TestClockManualZone(t *testing.T) {
	r := newRig(t)
	AllowClockSet = false
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	r.ex.Now = func() time.Time { return now }
	r.mustRun(t, "/system clock set time-zone-autodetect=yes time-zone-name=manual")
	r.mustRun(t, `/system clock manual set dst-delta=+00:00 dst-end="jan/01/1970 00:00:00" dst-start="jan/01/1970 00:00:00" time-zone=+00:00`)
	out := r.mustRun(t, "/system clock print")
	for _, want := range []string{"time-zone-name: manual", "gmt-offset: +00:00", "time: 12:00:00", "dst-active: no"} {
		if !strings.Contains(out, want) {
			t.Errorf("manual zone at the defaults: print lacks %q:\n%s", want, out)
		}
	}
	r.mustRun(t, "/system clock manual set time-zone=-05:30")
	if out := r.mustRun(t, "/system clock print"); !strings.Contains(out, "gmt-offset: -05:30") || !strings.Contains(out, "time: 06:30:00") {
		t.Errorf("manual zone -05:30:\n%s", out)
	}
	// Central European summer time 2026, as one window.
	r.mustRun(t, `/system clock manual set time-zone=+01:00 dst-delta=+01:00 dst-start="mar/29/2026 02:00:00" dst-end="oct/25/2026 03:00:00"`)
	for _, c := range []struct {
		at         time.Time
		off, clock string
		dst        string
	}{
		{time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC), "+02:00", "14:00:00", "yes"},
		{time.Date(2026, 3, 29, 0, 59, 59, 0, time.UTC), "+01:00", "01:59:59", "no"},
		{time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), "+02:00", "03:00:00", "yes"},
		{time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC), "+01:00", "02:00:00", "no"},
		{time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), "+01:00", "13:00:00", "no"},
	} {
		now = c.at
		out := r.mustRun(t, "/system clock print")
		for _, want := range []string{"gmt-offset: " + c.off, "time: " + c.clock, "dst-active: " + c.dst} {
			if !strings.Contains(out, want) {
				t.Errorf("at %s: print lacks %q:\n%s", c.at, want, out)
			}
		}
	}
	exp := r.mustRun(t, "/export")
	for _, want := range []string{"time-zone-name=manual", `dst-start="2026-03-29 02:00:00"`, "time-zone=+01:00"} {
		if !strings.Contains(exp, want) {
			t.Errorf("export lacks %q:\n%s", want, exp)
		}
	}
	// A restart keeps manual, with manual's offset.
	restarted := &system{ex: r.ex, dataDir: r.dataDir, zone: &clockZone{}}
	restarted.loadZone()
	if name, loc, _ := restarted.zoneNow(); name != "manual" || now.In(loc).Format("-07:00") != "+01:00" {
		t.Errorf("after a restart: %q %v", name, loc)
	}
	if _, err := r.run(t, "/system clock manual set time-zone=+15:00"); err == nil {
		t.Error("time-zone=+15:00 accepted")
	}
}
