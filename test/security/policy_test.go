package security

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// users: a write-group user without policy or sensitive, and a check that no user
// called evil ever appears.
func escalationRouter(t *testing.T) *router {
	r := newRouter(t, []string{"telnet"})
	r.addUser("w", "write", "w-password-1")
	return r
}

func (r *router) noEvil() {
	r.t.Helper()
	if out := r.must(":put [:len [/user find name=evil]]"); strings.TrimSpace(out) != "0" {
		r.t.Fatalf("a write-group user made itself a full user:\n%s", r.must("/user/print"))
	}
}

// Escalation 1: a write user edits the source of a script that a full-policy scheduler
// item runs by name. The script now belongs to the editor and runs with the editor's
// policies at most, so its /user add fails.
func TestEscalationSchedulerScript(t *testing.T) {
	r := escalationRouter(t)
	r.script(`/system script add name=job source=":global ran 1"
/system scheduler add name=every interval=1s on-event=job
`)
	tc := r.console("w", "w-password-1")
	out := tc.run(t, `/system script set job source="/user add name=evil group=full password=evil-pw-1"`)
	if strings.Contains(out, "failure") || strings.Contains(out, "permissions") {
		t.Fatalf("the write user could not edit the script (the test needs it to):\n%s", out)
	}
	if o := r.must(":put [/system script get job owner]"); strings.TrimSpace(o) != "w" {
		t.Errorf("owner after the edit is %q, want w", strings.TrimSpace(o))
	}
	// Two scheduled runs of the edited script, then nothing it did may show.
	runs := func() int {
		n, _ := strconv.Atoi(strings.TrimSpace(r.must(":put [/system scheduler get every run-count]")))
		return n
	}
	n0 := runs()
	testbin.Eventually(t, "two scheduled runs of the edited script", 0, func() (bool, string) {
		n := runs()
		return n >= n0+2, fmt.Sprintf("run-count %d, was %d", n, n0)
	})
	r.noEvil()
	// Run by hand by the full admin, it still has only its owner's rights.
	r.ctl(nil, "/system/script/run", "job")
	r.noEvil()
}

// Escalation 2: a write user adds a script with every policy and
// dont-require-permissions=yes and runs it (with use-script-permissions too).
func TestEscalationDontRequirePermissions(t *testing.T) {
	r := escalationRouter(t)
	tc := r.console("w", "w-password-1")
	out := tc.run(t, `/system script add name=x dont-require-permissions=yes source="/user add name=evil group=full password=evil-pw-1"`)
	if !strings.Contains(out, "not enough permissions") {
		t.Errorf("dont-require-permissions with policies the user lacks was accepted:\n%s", out)
	}
	// With only its own policies the waiver is fine, and the script still cannot
	// manage users.
	out = tc.run(t, `/system script add name=y policy=read,write,test dont-require-permissions=yes source="/user add name=evil group=full password=evil-pw-1"`)
	if strings.Contains(out, "permissions") {
		t.Errorf("dont-require-permissions within the user's own policies refused:\n%s", out)
	}
	tc.run(t, `/system script add name=z source="/user add name=evil group=full password=evil-pw-1"`)
	for _, cmd := range []string{"/system script run y", "/system script run z", "/system script run z use-script-permissions"} {
		tc.run(t, cmd)
	}
	// A full admin leaving the waiver on someone's script makes it run with that
	// someone's policies (the owner is whoever wrote it last: now the admin).
	r.noEvil()
	// The write user cannot switch the waiver on for a script that lists more than it
	// holds either.
	out = tc.run(t, `/system script set z dont-require-permissions=yes`)
	if !strings.Contains(out, "not enough permissions") {
		t.Errorf("set dont-require-permissions=yes accepted:\n%s", out)
	}
	r.noEvil()
}

// Escalation 3: a write user saves a backup, edits it and loads it. Both need policy and
// sensitive now; the backup carries password hashes, which no export shows.
func TestEscalationBackup(t *testing.T) {
	r := escalationRouter(t)
	// A User Manager user of an older store keeps only its NT hash: backup-only too.
	const umHash = "nt:de8f10fc58552919de7c4ef318631a05"
	r.script("/user-manager user add name=um-old password-hash=" + umHash + "\n")
	tc := r.console("w", "w-password-1")
	// A backup an admin saved is not readable through /file by the write user.
	r.must("/system/backup/save", "name=adm")
	if out := r.must(":put [/file get [find name=adm.backup] contents]"); !strings.Contains(out, "routerd backup") {
		t.Fatalf("root cannot read the backup through /file (the check below needs it):\n%s", tail(out, 300))
	}
	if out := tc.run(t, `:put [/file get [find name=adm.backup] contents]`); strings.Contains(out, "password-hash") || strings.Contains(out, "routerd backup") {
		t.Errorf("a write user reads the admin's backup through /file:\n%s", tail(out, 300))
	}
	for _, cmd := range []string{"/system backup save name=b", "/system backup load name=b"} {
		if out := tc.run(t, cmd); !strings.Contains(out, "not enough permissions") {
			t.Errorf("%s by a write user:\n%s", cmd, out)
		}
	}
	if _, err := r.ctl(nil, "/system/backup/save", "name=full"); err != nil {
		t.Fatal(err)
	}
	// The plain backup carries the hashes; one saved with a password shows nothing of
	// them or of anything else, and loads only with that password.
	plain, _ := os.ReadFile(filepath.Join(r.data, "files", "full.backup"))
	if !strings.Contains(string(plain), "password-hash=") || !strings.Contains(string(plain), umHash) {
		t.Errorf("the backup lacks the password hashes it must restore:\n%s", plain)
	}
	r.script("/system script add name=marker source=\":put 1\"\n/system backup save name=enc password=backup-pw-1 encryption=aes-sha256\n")
	enc, _ := os.ReadFile(filepath.Join(r.data, "files", "enc.backup"))
	if strings.Contains(string(enc), "argon2") || strings.Contains(string(enc), "marker") {
		t.Errorf("the encrypted backup shows its content")
	}
	r.must("/system/script/remove", "marker")
	for _, bad := range []string{"", "password=wrong"} {
		args := []string{"/system/backup/load", "name=enc"}
		if bad != "" {
			args = append(args, bad)
		}
		if out, err := r.ctl(nil, args...); err == nil && !strings.Contains(out, "failure") {
			t.Errorf("encrypted backup loaded with %q: %s", bad, out)
		}
	}
	r.must("/system/backup/load", "name=enc", "password=backup-pw-1")
	if out := r.must(":put [:len [/system script find name=marker]]"); strings.TrimSpace(out) != "1" {
		t.Errorf("the encrypted backup did not restore the script")
	}
	for _, cmd := range []string{"/export show-sensitive", "/user print detail show-sensitive", "/user export show-sensitive",
		"/user-manager user print detail show-sensitive", "/user-manager user export show-sensitive"} {
		if out := r.must(cmd); strings.Contains(out, "argon2") || strings.Contains(out, "password-hash") || strings.Contains(out, umHash) {
			t.Errorf("%s shows password hashes:\n%s", cmd, out)
		}
	}
}

// A write user /imports the admin's backup as a script: verbose used to list its
// failing lines whole (the tunnels' ipsec-secret, the User Manager's NT hashes) and
// apply the rest. Reading a backup needs what saving one does, as /file print does.
func TestImportBackupRefused(t *testing.T) {
	r := escalationRouter(t)
	r.script(`/interface gre add name=g1 remote-address=198.18.0.9 ipsec-secret=GRE-SECRET-1
/system backup save name=nb
`)
	tc := r.console("w", "w-password-1")
	for _, cmd := range []string{"/import file-name=nb.backup verbose=yes", "/import file-name=nb.backup dry-run", "/import file-name=nb.backup"} {
		out := tc.run(t, cmd)
		if strings.Contains(out, "GRE-SECRET-1") || !strings.Contains(out, "not enough permissions") {
			t.Errorf("%s by a write user:\n%s", cmd, out)
		}
	}
	// The admin may still import it like any file.
	if out, _ := r.ctl(nil, "/import", "file-name=nb.backup"); strings.Contains(out, "permissions") {
		t.Errorf("admin's /import of a backup: %s", out)
	}
}

// Escalation 5: a write user runs /undo after an admin took rights away (a group's
// policies, a user's password): undoing a change is making it, so it needs the
// policies the change needed.
func TestUndoNeedsPolicies(t *testing.T) {
	r := escalationRouter(t)
	r.must("/user/group/add", "name=ops", "policy=read,write,telnet,policy")
	r.must("/user/group/set", "ops", "policy=read,telnet")
	tc := r.console("w", "w-password-1")
	for _, cmd := range []string{"/undo", "/redo"} {
		if out := tc.run(t, cmd); cmd == "/undo" && !strings.Contains(out, "not enough permissions") {
			t.Errorf("%s of an admin's /user group change by a write user:\n%s", cmd, out)
		}
	}
	if out := r.must(":put [/user group get ops policy]"); strings.TrimSpace(out) != "read,telnet" {
		t.Errorf("the write user's /undo restored the group's policies: %s", out)
	}
	// Its own changes it may undo.
	tc.run(t, "/system note set note=mine")
	if out := tc.run(t, "/undo"); strings.Contains(out, "permissions") {
		t.Errorf("a write user's /undo of its own note change:\n%s", out)
	}
	// The admin still may.
	if out, err := r.ctl(nil, "/undo"); err != nil {
		t.Errorf("admin's /undo: %v %s", err, out)
	}
	r.noEvil()
}

// Escalation 6: a write user rewrites the admin's backup through /file (or plants a
// new one), which the admin's next /system backup load, or --store-recover=backup,
// would trust. Writing a backup needs what saving one does.
func TestFileBackupWriteRefused(t *testing.T) {
	r := escalationRouter(t)
	r.must("/system/backup/save", "name=nb")
	tc := r.console("w", "w-password-1")
	for _, cmd := range []string{
		`/file set nb.backup contents="# routerd backup\n/user add name=evil group=full password=evil-pw-1\n"`,
		`/file add name=planted.backup contents="# routerd backup\n/user add name=evil group=full password=evil-pw-1\n"`,
		`/file add name=planted.rsc contents="# routerd backup\n/user add name=evil group=full password=evil-pw-1\n"`,
	} {
		if out := tc.run(t, cmd); !strings.Contains(out, "not enough permissions") {
			t.Errorf("%s by a write user:\n%s", cmd, out)
		}
	}
	if out, err := r.ctl(nil, "/system/backup/load", "name=nb"); err != nil {
		t.Fatalf("admin's load of its own backup: %v %s", err, out)
	}
	r.noEvil()
	// Other files the write user may still write.
	if out := tc.run(t, `/file add name=notes.txt contents="hello"`); strings.Contains(out, "permissions") {
		t.Errorf("a write user's /file add of a text file:\n%s", out)
	}
}

// The same over ftp: a user with the ftp and write policies but not policy uploads a
// backup over the admin's (or a file that reads as one); the upload is refused and the
// admin's backup stays as it was.
func TestFTPBackupUploadRefused(t *testing.T) {
	r := newRouter(t, []string{"ftp"})
	r.must("/user/group/add", "name=ftpw", "policy=read,write,ftp,sensitive")
	r.addUser("f", "ftpw", "f-password-1")
	r.must("/system/backup/save", "name=nb")
	before, err := os.ReadFile(filepath.Join(r.data, "files", "nb.backup"))
	if err != nil {
		t.Fatal(err)
	}
	evil := "# routerd backup\n/user add name=evil group=full password=evil-pw-1\n"
	for _, name := range []string{"nb.backup", "planted.rsc", "notes.txt"} {
		reply := ftpStore(t, r.addr("ftp"), "f", "f-password-1", name, evil)
		if !strings.HasPrefix(reply, "426") && !strings.HasPrefix(reply, "550") {
			t.Errorf("STOR %s of a backup's text by an ftp user without policy: %q", name, reply)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(r.data, "files", "nb.backup")); string(after) != string(before) {
		t.Errorf("the admin's backup changed:\n%s", after)
	}
	if reply := ftpStore(t, r.addr("ftp"), "f", "f-password-1", "notes.txt", "hello\n"); !strings.HasPrefix(reply, "226") {
		t.Errorf("STOR of a plain file: %q", reply)
	}
	r.must("/system/backup/load", "name=nb")
	r.noEvil()
}

// ftpStore logs in and uploads text as name in passive mode; it returns the reply that
// ends the transfer (or the first refusal).
func ftpStore(t *testing.T, addr, user, password, name, text string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	cmd := func(line string) string {
		if line != "" {
			fmt.Fprintf(c, "%s\r\n", line)
		}
		l, _ := br.ReadString('\n')
		return strings.TrimSpace(l)
	}
	cmd("")
	cmd("USER " + user)
	if l := cmd("PASS " + password); !strings.HasPrefix(l, "230") {
		t.Fatalf("ftp login: %s", l)
	}
	l := cmd("EPSV")
	var port int
	if i := strings.Index(l, "|||"); i < 0 {
		t.Fatalf("EPSV: %s", l)
	} else {
		fmt.Sscanf(l[i+3:], "%d", &port)
	}
	host, _, _ := net.SplitHostPort(addr)
	if l = cmd("STOR " + name); !strings.HasPrefix(l, "150") {
		return l
	}
	d, err := net.DialTimeout("tcp", net.JoinHostPort(host, fmt.Sprint(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	d.Write([]byte(text))
	d.Close()
	return cmd("")
}

// An export never replaces a backup: a write user's export-pub-key
// file-name=nb.backup wrote a public key over the admin's recovery point.
func TestExportKeepsBackup(t *testing.T) {
	r := escalationRouter(t)
	r.script("/ip ipsec key generate-key name=k1 key-size=2048\n/system backup save name=nb\n")
	before, _ := os.ReadFile(filepath.Join(r.data, "files", "nb.backup"))
	tc := r.console("w", "w-password-1")
	tc.run(t, "/ip ipsec key export-pub-key key=k1 file-name=nb.backup")
	if after, _ := os.ReadFile(filepath.Join(r.data, "files", "nb.backup")); string(after) != string(before) {
		t.Errorf("export-pub-key replaced the backup with:\n%.80s", after)
	}
}

// Escalation 8: /password needs only the password policy, but what it changes is a /user
// item, which only policy may set: a write user's /undo must not bring back another
// user's old password.
func TestUndoOfPasswordNeedsPolicy(t *testing.T) {
	r := escalationRouter(t)
	r.addUser("ro", "read", "ro-password-1")
	roc := r.console("ro", "ro-password-1")
	if out := roc.run(t, "/password old-password=ro-password-1 new-password=ro-password-2 confirm-new-password=ro-password-2"); !strings.Contains(out, "password changed") {
		t.Fatalf("/password by ro:\n%s", out)
	}
	tc := r.console("w", "w-password-1")
	if out := tc.run(t, "/undo"); !strings.Contains(out, "not enough permissions") {
		t.Errorf("a write user's /undo of ro's /password:\n%s", out)
	}
	r.console("ro", "ro-password-2") // the new password still logs in
}
