package system

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/script"
)

type rig struct {
	ex      *control.Executor
	in      *script.Interp
	log     *eventlog.Buffer
	dataDir string
	con     *script.Console
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	log := eventlog.New(100)
	Register(ex, in, dir, log, time.Now().Add(-(26*time.Hour + 3*time.Minute + 4*time.Second)))
	return &rig{ex: ex, in: in, log: log, dataDir: dir,
		con: &script.Console{Sess: &control.Session{User: "admin", ShowSensitive: true}}}
}

// run runs console source.
func (r *rig) run(t *testing.T, src string) (string, error) {
	t.Helper()
	var b strings.Builder
	err := r.in.Run(context.Background(), r.con, src, &b)
	return b.String(), err
}

func (r *rig) mustRun(t *testing.T, src string) string {
	t.Helper()
	out, err := r.run(t, src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return out
}

// exec runs a sentence directly, without the language.
func (r *rig) exec(t *testing.T, path, cmd string, args ...control.Arg) (*control.Reply, error) {
	t.Helper()
	return r.ex.Exec(context.Background(), r.con.Sess, &control.Sentence{Path: path, Cmd: cmd, Args: args})
}

func arg(name, v string) control.Arg { return control.Arg{Name: name, Value: v} }
func flag(name string) control.Arg   { return control.Arg{Name: name, Flag: true} }

func TestResource(t *testing.T) {
	r := newRig(t)
	rep, err := r.exec(t, "/system/resource", "print")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 {
		t.Fatalf("rows = %d", len(rep.Rows))
	}
	p := rep.Rows[0].Props
	m, _ := r.ex.Tree.Get("/system/resource")
	for _, prop := range m.Props {
		if p[prop.Name] == "" {
			t.Errorf("%s missing", prop.Name)
		}
	}
	if _, ok := p["status"]; ok {
		t.Errorf("resource shows status %q", p["status"])
	}
	if p["uptime"] != "1d2h3m4s" {
		t.Errorf("uptime = %q", p["uptime"])
	}
	if p["board-name"] != "routerd" || p["platform"] != "Linux" || p["version"] != control.Version {
		t.Errorf("fixed props: %v", p)
	}
	if n, err := strconv.Atoi(p["cpu-load"]); err != nil || n < 0 || n > 100 {
		t.Errorf("cpu-load = %q", p["cpu-load"])
	}
	for _, k := range []string{"free-memory", "total-memory", "free-hdd-space", "total-hdd-space"} {
		// Plain byte counts, as RouterOS's API and REST send them; the console formats.
		if _, err := strconv.ParseUint(p[k], 10, 64); err != nil {
			t.Errorf("%s = %q", k, p[k])
		}
	}
	// get reads the source too.
	rep, err = r.exec(t, "/system/resource", "get", arg("value-name", "board-name"))
	if err != nil || rep.Ret != "routerd" {
		t.Errorf("get board-name = %v, %v", rep, err)
	}
}

func TestResourceFromFakeProc(t *testing.T) {
	proc := t.TempDir()
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(proc, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cpuinfo", "processor\t: 0\nmodel name\t: Test CPU @ 1GHz\n\nprocessor\t: 1\nmodel name\t: Test CPU @ 1GHz\n")
	write("meminfo", "MemTotal:       32768000 kB\nMemFree:         1000 kB\nMemAvailable:   22544384 kB\n")
	write("stat", "cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3\n")
	now := time.Now()
	res := &resource{proc: proc, dataDir: t.TempDir(), started: now.Add(-5*time.Minute - 12*time.Second),
		now: func() time.Time { return now }}
	res.prev = cpuSample{at: now.Add(-time.Second), busy: 100, total: 600}
	write("stat", "cpu  150 0 150 900 0 0 0 0 0 0\n")
	rows, err := res.source(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 300 busy of 1200 total, against 100 of 600 before: 200 busy of 600 = 33%.
	want := map[string]string{
		"uptime": "5m12s", "cpu": "Test CPU @ 1GHz", "cpu-count": "2", "cpu-load": "33",
		"total-memory": "33554432000", "free-memory": "23085449216",
	}
	for k, v := range want {
		if got := rows[0].Props[k]; got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[uint64]string{
		0: "0B", 1024: "1024B", 1536: "1.5KiB", 1 << 30: "1024.0MiB", 23085449216: "21.5GiB",
		3 << 40: "3.0TiB",
	} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestLog(t *testing.T) {
	r := newRig(t)
	old := slog.Default()
	defer slog.SetDefault(old)
	slog.SetDefault(slog.New(r.log.Handler(slog.DiscardHandler)))
	slog.Info("routerd started")
	r.in.Log("script,warning", "from a script")
	r.in.Log("script,debug", "not kept")
	rep, err := r.exec(t, "/log", "print")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, row := range rep.Rows {
		got = append(got, row.Props["topics"]+" "+row.Props["message"])
	}
	want := []string{"system,info routerd started", "script,warning from a script"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("/log = %q, want %q", got, want)
	}
	// where reads the rows' schema.
	if out := r.mustRun(t, `:put [:len [/log find where topics~"^script"]]`); out != "1\n" {
		t.Errorf("find where on /log: %q", out)
	}
	// :log through the language lands there too.
	r.mustRun(t, `:log info "hello from :log"`)
	es := r.log.Entries()
	if last := es[len(es)-1]; last.Message != "hello from :log" || strings.Join(last.Topics, ",") != "script,info" {
		t.Errorf("last entry = %+v", last)
	}
	// /log LEVEL is the menu form of :log (`/log info "text"` in RouterOS's manual).
	r.mustRun(t, `/log warning "from the menu"`)
	r.mustRun(t, `/log error message="named"`)
	es = r.log.Entries()
	var tail []string
	for _, e := range es[len(es)-2:] {
		tail = append(tail, strings.Join(e.Topics, ",")+" "+e.Message)
	}
	if want := "script,warning from the menu|script,error named"; strings.Join(tail, "|") != want {
		t.Errorf("/log warning|error wrote %q, want %q", tail, want)
	}
	if _, err := r.run(t, `/log info`); err == nil {
		t.Error("/log info without a message was accepted")
	}
}

func TestExportFile(t *testing.T) {
	r := newRig(t)
	if _, err := r.exec(t, "/system/identity", "set", arg("name", "r1")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []control.Arg
		file    string // "" = to the terminal
		wantErr string
	}{
		{name: "terminal", args: nil},
		{name: "file", args: []control.Arg{arg("file", "cfg")}, file: "cfg.rsc"},
		{name: "file with suffix", args: []control.Arg{arg("file", "sub/x.rsc")}, file: "sub/x.rsc"},
		{name: "escape", args: []control.Arg{arg("file", "../../etc/evil")}, wantErr: "invalid value for argument file"},
		{name: "absolute", args: []control.Arg{arg("file", "/etc/evil")}, file: "etc/evil.rsc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := r.exec(t, "", "export", tt.args...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.file == "" {
				if !strings.Contains(rep.Text, "/system identity\nset name=r1\n") {
					t.Errorf("export text:\n%s", rep.Text)
				}
				return
			}
			if rep.Text != "" {
				t.Errorf("export to file printed %q", rep.Text)
			}
			path := filepath.Join(r.dataDir, "files", tt.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), "set name=r1") {
				t.Errorf("%s:\n%s", tt.file, b)
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
				t.Errorf("mode %v", st.Mode().Perm())
			}
		})
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, "..", "etc")); err == nil {
		t.Error("export escaped the files directory")
	}
}

func TestBackupRoundTrip(t *testing.T) {
	r := newRig(t)
	r.mustRun(t, `/system identity set name=r1
/interface gre add name=gre1 remote-address=10.0.0.2 comment="two words"
/interface gre add name=gre2 remote-address=10.0.0.3
/system script add name=hello source=":put hi"`)
	rep, err := r.exec(t, "/system/backup", "save", arg("name", "b1"), arg("password", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Text != "Configuration backup saved" {
		t.Errorf("save said %q", rep.Text)
	}
	path := filepath.Join(r.dataDir, "files", "b1.backup")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v", st.Mode().Perm())
	}
	before := exportAll(t, r)

	r.mustRun(t, `/system identity set name=changed
/interface gre remove gre1
/interface gre add name=gre9 remote-address=10.9.9.9`)
	if exportAll(t, r) == before {
		t.Fatal("changes not visible")
	}
	rep, err = r.exec(t, "/system/backup", "load", arg("name", "b1"), arg("password", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Text != "configuration restored" {
		t.Errorf("load said %q", rep.Text)
	}
	if after := exportAll(t, r); after != before {
		t.Errorf("restored config differs:\n%s\nwant:\n%s", after, before)
	}
	// Ids survive, and the next add gets a fresh one.
	if out := r.mustRun(t, `:put [/interface gre find name=gre2]`); out != "*2\n" {
		t.Errorf("gre2 id = %q", out)
	}
	if out := r.mustRun(t, `:put [/interface gre add name=gre3 remote-address=10.0.0.4]`); out != "*3\n" {
		t.Errorf("new id = %q", out)
	}
}

// A backup that fails to load changes nothing.
func TestBackupLoadFailureChangesNothing(t *testing.T) {
	r := newRig(t)
	r.mustRun(t, `/system identity set name=keep
/interface gre add name=gre1 remote-address=10.0.0.2`)
	before := exportAll(t, r)
	files := filepath.Join(r.dataDir, "files")
	os.MkdirAll(files, 0o700)
	bad := backupHeader + "/system identity set name=lost\n/interface gre add name=x remote-address=not_an_ip\n"
	if err := os.WriteFile(filepath.Join(files, "bad.backup"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(files, "plain.backup"), []byte("/system identity set name=lost\n"), 0o600)

	tests := []struct{ name, wantErr string }{
		{"bad", "invalid value for argument remote-address"},
		{"plain", "plain.backup is not a routerd backup"},
		{"missing", "failure: no such file"},
		{"../x", "invalid value for argument name"},
	}
	for _, tt := range tests {
		_, err := r.exec(t, "/system/backup", "load", arg("name", tt.name))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("load %s: err = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	if after := exportAll(t, r); after != before {
		t.Errorf("failed load changed the config:\n%s", after)
	}
	ents, _ := os.ReadDir(r.dataDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".scratch-") {
			t.Errorf("scratch store left behind: %s", e.Name())
		}
	}
}

func TestBackupDefaultName(t *testing.T) {
	r := newRig(t)
	r.ex.Now = func() time.Time { return time.Date(2024, 6, 6, 15, 22, 0, 0, time.Local) }
	if _, err := r.exec(t, "/system/backup", "save"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(r.dataDir, "files", "MikroTik-20240606-1522.backup")); err != nil {
		t.Error(err)
	}
}

func exportAll(t *testing.T, r *rig) string {
	t.Helper()
	text, err := r.ex.Export(context.Background(), r.con.Sess, "", control.ExportOptions{ShowSensitive: true})
	if err != nil {
		t.Fatal(err)
	}
	// Drop the dated header line.
	_, rest, _ := strings.Cut(text, "\n")
	return rest
}

func writeFile(t *testing.T, r *rig, name, s string) {
	t.Helper()
	p := filepath.Join(r.dataDir, "files", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestImport(t *testing.T) {
	r := newRig(t)
	writeFile(t, r, "ok.rsc", "/system identity set name=imported\n:put done\n")
	writeFile(t, r, "noext", "/interface gre add name=g0 remote-address=10.0.0.9\n")
	writeFile(t, r, "half.rsc", "/interface gre add name=g1 remote-address=10.0.0.1\n/interface gre add name=g2 remote-address=bad_addr\n/interface gre add name=g3 remote-address=10.0.0.3\n")
	writeFile(t, r, "multi.rsc", "/interface gre\nadd name=m1 remote-address=10.1.0.1\n:if (true) do={\n  add name=m2 remote-address=10.1.0.2\n}\nadd name=m1 remote-address=10.1.0.3\nbogus\nadd name=m3 remote-address=10.1.0.4\n")

	tests := []struct {
		name     string
		args     []control.Arg
		wantText string
		wantErr  string
		check    string // console source that must print "yes"
	}{
		{name: "plain", args: []control.Arg{arg("file-name", "ok.rsc")},
			wantText: "done\nScript file loaded and executed successfully\n",
			check:    `:put ([/system identity get name] = "imported")`},
		{name: "dry run says so", args: []control.Arg{arg("file-name", "ok.rsc"), flag("dry-run")},
			wantText: "done\nimport summary: 2 would apply, 0 skipped (menu does not exist here), 0 refused\n" +
				"dry run: nothing was changed\nScript file loaded and executed successfully\n"},
		{name: "adds .rsc", args: []control.Arg{arg("file-name", "ok")},
			wantText: "done\nScript file loaded and executed successfully\n"},
		{name: "no extension", args: []control.Arg{arg("file-name", "noext")},
			check: `:put ([:len [/interface gre find name=g0]] = 1)`},
		{name: "stops at first error, keeps earlier", args: []control.Arg{arg("file-name", "half.rsc")},
			wantErr: "invalid value for argument remote-address (line 2 column 1)",
			check:   `:put ([:len [/interface gre find name=g1]] = 1 && [:len [/interface gre find name=g3]] = 0)`},
		// The line is the file's, also when the run starts further down.
		{name: "located from-line", args: []control.Arg{arg("file-name", "half.rsc"), arg("from-line", "2")},
			wantErr: "invalid value for argument remote-address (line 2 column 1)"},
		{name: "missing", args: []control.Arg{arg("file-name", "nope.rsc")}, wantErr: "failure: no such file"},
		{name: "escape", args: []control.Arg{arg("file-name", "../routerd.db")}, wantErr: "invalid value for argument file-name"},
		{name: "dry run changes nothing", args: []control.Arg{arg("file-name", "multi.rsc"), flag("dry-run")},
			wantErr: "line 6: failure: already have such name: /interface gre add name=m1 remote-address=10.1.0.3\n" +
				"line 7: bad command name bogus: /interface gre bogus\n" +
				"import summary: 3 would apply, 0 skipped (menu does not exist here), 2 refused\n" +
				"  refused    1  bad command name bogus\n  refused    1  failure: already have such name\n" +
				"Script Error: found 2 error(s) in import file\ndry run: nothing was changed",
			check: `:put ([:len [/interface gre find where name~"^m"]] = 0)`},
		{name: "verbose is yes or no", args: []control.Arg{arg("file-name", "noext"), arg("verbose", "maybe")},
			wantErr: "invalid value for argument verbose",
			check:   `:put ([:len [/interface gre find name=g0]] = 1)`}, // from the earlier case only
		{name: "verbose runs every statement", args: []control.Arg{arg("file-name", "multi.rsc"), arg("verbose", "yes")},
			wantErr: "line 6: failure: already have such name: /interface gre add name=m1 remote-address=10.1.0.3\n" +
				"line 7: bad command name bogus: /interface gre bogus\n" +
				"import summary: 3 applied, 0 skipped (menu does not exist here), 2 refused\n" +
				"  refused    1  bad command name bogus\n  refused    1  failure: already have such name\n" +
				"Script Error: found 2 error(s) in import file",
			check: `:put ([:len [/interface gre find where name~"^m"]] = 3)`},
		{name: "verbose is yes or no", args: []control.Arg{arg("file-name", "multi.rsc"), arg("verbose", "maybe")},
			wantErr: "invalid value for argument verbose",
			// The previous case's three remain; the refused import added nothing.
			check: `:put ([:len [/interface gre find where name~"^m"]] = 3)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := r.exec(t, "", "import", tt.args...)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if tt.wantText != "" && rep.Text != tt.wantText {
				t.Errorf("text = %q, want %q", rep.Text, tt.wantText)
			}
			if tt.check != "" {
				if out := r.mustRun(t, tt.check); out != "true\n" {
					t.Errorf("%s: %q", tt.check, out)
				}
			}
		})
	}
}

// An import that imports itself stops at the nesting limit instead of overflowing the
// stack.
func TestImportRecursion(t *testing.T) {
	r := newRig(t)
	writeFile(t, r, "loop.rsc", "/import loop.rsc\n")
	_, err := r.run(t, "/import loop.rsc")
	if err == nil || !strings.Contains(err.Error(), "script nesting too deep") {
		t.Fatalf("err = %v", err)
	}
}

func TestScriptRun(t *testing.T) {
	r := newRig(t)
	r.mustRun(t, `/system script add name=hello source=":put hi; :log info ran"`)
	r.mustRun(t, `/system script add name=bad source=":error boom"`)
	r.mustRun(t, `/system script add name=self source="/system script run self"`)
	tests := []struct {
		src, want, wantErr string
	}{
		{src: `/system script run hello`, want: "hi\n"},
		{src: `/system script run [find name=hello]`, want: "hi\n"},
		{src: `/system script run 0`, want: "hi\n"},
		{src: `/system script run bad`, wantErr: "boom"},
		{src: `/system script run nosuch`, wantErr: "no such item"},
		{src: `/system script run self`, wantErr: "script nesting too deep"},
	}
	for _, tt := range tests {
		out, err := r.run(t, tt.src)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: err = %v, want %q", tt.src, err, tt.wantErr)
			}
			continue
		}
		if err != nil || out != tt.want {
			t.Errorf("%s: %q, %v; want %q", tt.src, out, err, tt.want)
		}
	}
	rep, err := r.exec(t, "/system/script", "get", arg("number", "hello"))
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Rows[0].Props
	if p["run-count"] != "3" || p["last-started"] == "" {
		t.Errorf("hello state: run-count=%q last-started=%q", p["run-count"], p["last-started"])
	}
	if _, ok := p["status"]; ok {
		t.Errorf("script shows status %q", p["status"])
	}
	if !hasLog(r.log, "ran") {
		t.Error(":log inside the script did not reach /log")
	}
	// run-count is state, not configuration.
	if strings.Contains(exportAll(t, r), "run-count") {
		t.Error("run-count exported")
	}
}

func hasLog(b *eventlog.Buffer, msg string) bool {
	for _, e := range b.Entries() {
		if e.Message == msg {
			return true
		}
	}
	return false
}

// /system script environment lists the globals with the user that made them and
// removes them by name or print number; a user without the policy policy sees only
// their own.
func TestScriptEnvironment(t *testing.T) {
	r := newRig(t)
	in := r.in
	root := &script.Console{Sess: &control.Session{User: "admin"}}
	u := &script.Console{Sess: &control.Session{User: "u", Policies: map[string]bool{"read": true, "write": true}}}
	run := func(c *script.Console, src string) string {
		t.Helper()
		var b strings.Builder
		if err := in.Run(context.Background(), c, src, &b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return b.String()
	}
	run(root, `:global ga 1`)
	run(u, `:global gu "x"`)
	if out := run(root, `:put [:len [/system script environment find]]`); out != "2\n" {
		t.Errorf("root sees %q globals, want 2", out)
	}
	if out := run(u, `:put [/system script environment get [find] name]`); out != "gu\n" {
		t.Errorf("u sees %q, want only gu", out)
	}
	run(root, `/system script environment remove [find name=ga]`)
	if out := run(root, `:global ga; :put [:typeof $ga]`); out != "nothing\n" {
		t.Errorf("after remove: %q", out)
	}
}

// TestImportV6Header: a RouterOS 6 export (its header says so) is read as v6 reads it:
// a mangle rule's routing mark makes its table, as v6 made marks implicitly. The same
// line in a v7 export, or in a file without a header, is refused as RouterOS 7 refuses
// it and makes nothing; the v6 reading ends with the import.
func TestImportV6Header(t *testing.T) {
	r := newRig(t)
	line := "/ip firewall mangle\nadd action=mark-routing chain=prerouting new-routing-mark=%s passthrough=no\n"
	writeFile(t, r, "v6.rsc", "# jan/02/2021 10:00:00 by RouterOS 6.48.1\n# software id = ABCD-1234\n"+fmt.Sprintf(line, "isp2"))
	writeFile(t, r, "v7.rsc", "# 2025-01-01 00:00:00 by RouterOS 7.20\n"+fmt.Sprintf(line, "isp3"))
	writeFile(t, r, "bare.rsc", fmt.Sprintf(line, "isp4"))
	for _, c := range []struct {
		file string
		args []control.Arg
		ok   bool
	}{
		{"v7.rsc", nil, false}, {"bare.rsc", nil, false}, {"v7.rsc", []control.Arg{flag("dry-run")}, false},
		{"v6.rsc", []control.Arg{flag("dry-run")}, true}, {"v6.rsc", nil, true}, {"bare.rsc", nil, false},
	} {
		_, err := r.exec(t, "", "import", append([]control.Arg{arg("file-name", c.file)}, c.args...)...)
		if (err == nil) != c.ok {
			t.Errorf("%s %v: err = %v, want ok=%v", c.file, c.args, err, c.ok)
		}
	}
	out := r.mustRun(t, `:foreach t in=[/routing table find] do={:put [/routing table get $t name]}`)
	if out != "isp2\n" {
		t.Errorf("tables %q, want isp2 only", out)
	}
}

// TestFindFlagArgs: find takes a property or a flag of the menu alone as "is yes" and with
// `!` as "is no" (console-language.md §3.2), an unset yes/no property reading as no.
func TestFindFlagArgs(t *testing.T) {
	r := newRig(t)
	r.mustRun(t, `/system scheduler add name=a on-event=""; /system scheduler add name=b on-event="" disabled=yes`)
	r.mustRun(t, `/ip address add address=198.18.0.1/24 interface=lo`)
	for src, want := range map[string]string{
		`:put [/system scheduler find]`:                 "*1;*2",
		`:put [/system scheduler find disabled]`:        "*2",
		`:put [/system scheduler find !disabled]`:       "*1",
		`:put [/system scheduler find where !disabled]`: "*1",
		`:put [/system scheduler find !dynamic]`:        "*1;*2",
		`:put [/system scheduler find dynamic]`:         "",
		`:put [/ip address find !invalid]`:              "*1",
		`:put [/ip address find invalid]`:               "",
		`:put [/ip address find !disabled !dynamic]`:    "*1",
	} {
		out, err := r.run(t, src)
		if err != nil || strings.TrimSuffix(out, "\n") != want {
			t.Errorf("%s = %q, %v; want %q", src, out, err, want)
		}
	}
	// A flag the menu does not have is not an argument.
	if _, err := r.run(t, `:put [/system scheduler find !invalid]`); err == nil {
		t.Error("find !invalid on a menu without the flag was accepted")
	}
}

// TestImportBOM: a file a Windows editor saved with a UTF-8 byte order mark imports as
// without it, verbose or not (its first line was a syntax error).
func TestImportBOM(t *testing.T) {
	r := newRig(t)
	writeFile(t, r, "bom.rsc", "\uFEFF/system identity\nset name=bom1\n")
	for i, args := range [][]control.Arg{{arg("file-name", "bom.rsc")}, {arg("file-name", "bom.rsc"), arg("verbose", "yes")}} {
		r.mustRun(t, `/system identity set name=x`)
		if _, err := r.exec(t, "", "import", args...); err != nil {
			t.Errorf("import %d: %v", i, err)
		}
		if out := r.mustRun(t, `:put [/system identity get name]`); out != "bom1\n" {
			t.Errorf("import %d: identity %q", i, out)
		}
	}
}

// TestRouterOS724Properties: properties a RouterOS 7.24 `export verbose` writes, each of
// which lost its whole line ('expected end of command', QA), are accepted and stored.
func TestRouterOS724Properties(t *testing.T) {
	r := newRig(t)
	for _, src := range []string{
		`/interface bridge add ageing-time=5m !dhcp-agent-circuit-id !dhcp-agent-remote-id dhcp-snooping=no !dhcpv6-agent-circuit-id !dhcpv6-agent-remote-id dhcpv6-snooping=no mlag-heartbeat=5s mlag-peer-port=none mlag-priority=128 name=bridge ra-guard=no`,
		`/system logging action add name=remote2 add-topics-string=no remote=198.18.0.9 target=remote vrf=main`,
		`/certificate settings set builtin-trust-store=default crl-download=no crl-store=ram crl-use=no`,
		`/ip settings set ipv4-fragment-time=3 ipv4-high-fragment-thresh=1024.0KiB`,
		`/ipv6 settings set accept-router-advertisements-on=all`,
		`/queue type add cake-bandwidth=0bps kind=cake name=cake-download`,
	} {
		if _, err := r.run(t, src); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
	if out := r.mustRun(t, `:put [/interface bridge get bridge mlag-priority]`); out != "128\n" {
		t.Errorf("mlag-priority = %q", out)
	}
}
