package rest

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/eventlog"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/system"
	"github.com/routerd/routerd/control/user"
)

// rig is a router with users admin (full) and viewer (read) and the www service on a
// loopback port.
type rig struct {
	ex   *control.Executor
	url  string
	auth *user.Auth
}

const adminPW, viewerPW = "rest-admin-pw", "rest-viewer-pw"

func newRig(t testing.TB, opts ...func(*Server)) *rig {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	user.Register(ex, dir)
	system.Register(ex, &script.Interp{Ex: ex, Globals: &script.Globals{}}, dir, eventlog.New(eventlog.DefaultSize), time.Now())
	for _, u := range [][3]string{{"admin", "full", adminPW}, {"viewer", "read", viewerPW}} {
		if err := user.Put(context.Background(), ex, u[0], u[1], u[2]); err != nil {
			t.Fatalf("add user %s: %v", u[0], err)
		}
	}
	auth := user.NewAuth(ex, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := &Server{Ex: ex, Auth: auth, Service: "www", Identity: func() string { return "rest-test" }}
	for _, o := range opts {
		o(srv)
	}
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &rig{ex: ex, url: "http://" + ln.Addr().String(), auth: auth}
}

// curl runs curl and returns the HTTP status and body.
func (r *rig) curl(t *testing.T, userpw, method, path, body string) (int, string) {
	t.Helper()
	args := []string{"-s", "-S", "-X", method, "-w", "\n%{http_code}", "--max-time", "30"}
	if userpw != "" {
		args = append(args, "-u", userpw)
	}
	if body != "" {
		args = append(args, "-H", "content-type: application/json", "--data-binary", body)
	}
	args = append(args, "--globoff", r.url+path)
	out, err := exec.Command("curl", args...).Output()
	if err != nil {
		t.Fatalf("curl %s %s: %v", method, path, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	code, err := strconv.Atoi(s[i+1:])
	if err != nil {
		t.Fatalf("curl %s %s: no status in %q", method, path, s)
	}
	return code, s[:i]
}

func adminID(t testing.TB, ex *control.Executor) uint64 {
	t.Helper()
	items, err := ex.Items("/user")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.Props["name"] == "admin" {
			return it.ID
		}
	}
	t.Fatal("no admin user")
	return 0
}

func needCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed (apt-get install curl)")
	}
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("bad JSON %q: %v", body, err)
	}
	return v
}

const admin = "admin:" + adminPW

func TestCurlCRUD(t *testing.T) {
	needCurl(t)
	r := newRig(t)

	// GET print, with a filter and a proplist.
	code, body := r.curl(t, admin, "GET", "/rest/ip/service", "")
	if code != 200 {
		t.Fatalf("GET services: %d %s", code, body)
	}
	svcs := decode[[]map[string]string](t, body)
	if len(svcs) != 8 || svcs[0][".id"] == "" || svcs[0]["name"] != "telnet" || svcs[0]["disabled"] != "false" {
		t.Fatalf("services: %v", svcs)
	}
	code, body = r.curl(t, admin, "GET", "/rest/ip/service?name=api&.proplist=name,port", "")
	if got := decode[[]map[string]string](t, body); code != 200 || len(got) != 1 || len(got[0]) != 2 || got[0]["port"] != "8728" {
		t.Fatalf("filtered GET: %d %s", code, body)
	}
	// One item by name and by id.
	code, body = r.curl(t, admin, "GET", "/rest/ip/service/ssh", "")
	ssh := decode[map[string]string](t, body)
	if code != 200 || ssh["port"] != "22" {
		t.Fatalf("GET ssh: %d %s", code, body)
	}
	code, body = r.curl(t, admin, "GET", "/rest/ip/service/"+ssh[".id"], "")
	if code != 200 || decode[map[string]string](t, body)["name"] != "ssh" {
		t.Fatalf("GET by id: %d %s", code, body)
	}

	// PUT add returns the new object.
	code, body = r.curl(t, admin, "PUT", "/rest/system/script", `{"name":"hello","source":":put hi","comment":"from rest"}`)
	added := decode[map[string]string](t, body)
	if code != 200 || added["name"] != "hello" || !strings.HasPrefix(added[".id"], "*") || added["comment"] != "from rest" {
		t.Fatalf("PUT: %d %s", code, body)
	}
	id := added[".id"]

	// PATCH set returns the changed object.
	code, body = r.curl(t, admin, "PATCH", "/rest/system/script/"+id, `{"source":":put changed"}`)
	if code != 200 || decode[map[string]string](t, body)["source"] != ":put changed" {
		t.Fatalf("PATCH: %d %s", code, body)
	}
	code, body = r.curl(t, admin, "PATCH", "/rest/ip/service/www", `{"port":8080}`)
	if code != 200 || decode[map[string]string](t, body)["port"] != "8080" {
		t.Fatalf("PATCH with a JSON number: %d %s", code, body)
	}

	// POST print with .proplist and .query (API stack operators).
	code, body = r.curl(t, admin, "POST", "/rest/ip/service/print",
		`{".proplist":["name"],".query":["port=22","port=8080","#|"]}`)
	got := decode[[]map[string]string](t, body)
	if code != 200 || len(got) != 2 || got[0]["name"] != "www" || got[1]["name"] != "ssh" || len(got[0]) != 1 {
		t.Fatalf("POST print: %d %s", code, body)
	}
	// POST any command: run takes the item as .id.
	code, body = r.curl(t, admin, "POST", "/rest/system/script/run", `{".id":"`+id+`"}`)
	if code != 200 {
		t.Fatalf("POST run: %d %s", code, body)
	}
	// POST add answers with ret.
	code, body = r.curl(t, admin, "POST", "/rest/system/script/add", `{"name":"second"}`)
	if code != 200 || !strings.HasPrefix(decode[map[string]string](t, body)["ret"], "*") {
		t.Fatalf("POST add: %d %s", code, body)
	}
	// Single menus: set through POST, print through GET.
	code, body = r.curl(t, admin, "POST", "/rest/system/identity/set", `{"name":"rest-router"}`)
	if code != 200 {
		t.Fatalf("POST identity set: %d %s", code, body)
	}
	code, body = r.curl(t, admin, "GET", "/rest/system/identity", "")
	if got := decode[map[string]string](t, body); code != 200 || got["name"] != "rest-router" || got[".id"] != "" {
		t.Fatalf("GET identity: %d %s", code, body)
	}

	// A bare number in the path is neither an .id nor a name: every verb says so, none
	// takes it as a console number (the second script is console number 1).
	for _, verb := range []string{"GET", "PATCH", "DELETE"} {
		b := ""
		if verb == "PATCH" {
			b = `{"comment":"by number"}`
		}
		code, body = r.curl(t, admin, verb, "/rest/system/script/1", b)
		if code != 404 {
			t.Errorf("%s by a console number: %d %s", verb, code, body)
		}
	}
	if code, body = r.curl(t, admin, "GET", "/rest/system/script/second", ""); code != 200 ||
		decode[map[string]string](t, body)["comment"] != "" {
		t.Fatalf("the second script after PATCH/DELETE by number: %d %s", code, body)
	}
	// PATCH by name answers with the item, renamed or not.
	code, body = r.curl(t, admin, "PATCH", "/rest/system/script/second", `{"name":"second2"}`)
	if code != 200 || decode[map[string]string](t, body)["name"] != "second2" {
		t.Fatalf("PATCH by name with a rename: %d %s", code, body)
	}

	// DELETE, then the item is gone.
	code, body = r.curl(t, admin, "DELETE", "/rest/system/script/"+id, "")
	if code != 204 || body != "" {
		t.Fatalf("DELETE: %d %q", code, body)
	}
	code, body = r.curl(t, admin, "GET", "/rest/system/script/"+id, "")
	if e := decode[apiError](t, body); code != 404 || e.Error != 404 || e.Message != "Not Found" {
		t.Fatalf("GET removed: %d %s", code, body)
	}
	code, body = r.curl(t, admin, "DELETE", "/rest/system/script/"+id, "")
	if e := decode[apiError](t, body); code != 404 || e.Detail != "no such item" {
		t.Fatalf("DELETE removed: %d %s", code, body)
	}
}

// A value that is not UTF-8 (a Latin-1 comment from a RouterOS export) goes out as its
// bytes, as RouterOS's REST sends them, never as U+FFFD; UTF-8 values are untouched.
func TestCurlRawBytes(t *testing.T) {
	needCurl(t)
	r := newRig(t)
	controltest.Exec(t, r.ex, "/system/script add name=latin comment=Caf\xe9-\xc7a source=:put")
	controltest.Exec(t, r.ex, "/system/script add name=utf comment=Caf\u00e9-\ufffd source=:put")
	code, body := r.curl(t, admin, "GET", "/rest/system/script/latin?.proplist=comment", "")
	if want := "{\"comment\":\"Caf\xe9-\xc7a\"}\n"; code != 200 || body != want {
		t.Errorf("GET latin: %d %q, want %q", code, body, want)
	}
	code, body = r.curl(t, admin, "GET", "/rest/system/script?.proplist=comment", "")
	if want := "[{\"comment\":\"Caf\xe9-\xc7a\"},{\"comment\":\"Caf\u00e9-\ufffd\"}]\n"; code != 200 || body != want {
		t.Errorf("GET all: %d %q, want %q", code, body, want)
	}
}

// An item whose name holds "/" (RouterOS port names such as "sfp1/1", exported names
// such as "wan/backup") is addressed with %2F: GET, PATCH and DELETE reach it, a
// literal "/" does not, and a broken escape is a 400.
func TestCurlNameWithSlash(t *testing.T) {
	needCurl(t)
	r := newRig(t)
	code, body := r.curl(t, admin, "PUT", "/rest/system/script", `{"name":"wan/backup","source":":put hi"}`)
	if code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	code, body = r.curl(t, admin, "GET", "/rest/system/script/wan%2Fbackup", "")
	if code != 200 || decode[map[string]string](t, body)["name"] != "wan/backup" {
		t.Fatalf("GET wan%%2Fbackup: %d %s", code, body)
	}
	code, body = r.curl(t, admin, "PATCH", "/rest/system/script/wan%2fbackup", `{"comment":"by escaped name"}`)
	if code != 200 || decode[map[string]string](t, body)["comment"] != "by escaped name" {
		t.Fatalf("PATCH wan%%2fbackup: %d %s", code, body)
	}
	if code, body = r.curl(t, admin, "GET", "/rest/system/script/wan/backup", ""); code != 400 {
		t.Errorf("GET with a literal slash: %d %s", code, body)
	}
	if code, body = r.curl(t, admin, "GET", "/rest/system/script/wan%2", ""); code != 400 {
		t.Errorf("GET with a broken escape: %d %s", code, body)
	}
	if code, body = r.curl(t, admin, "DELETE", "/rest/system/script/wan%2Fbackup", ""); code != 204 {
		t.Fatalf("DELETE wan%%2Fbackup: %d %s", code, body)
	}
	if code, _ = r.curl(t, admin, "GET", "/rest/system/script/wan%2Fbackup", ""); code != 404 {
		t.Errorf("GET after DELETE: %d", code)
	}
}

func TestCurlErrors(t *testing.T) {
	needCurl(t)
	r := newRig(t)

	// Bad input: the executor's RouterOS message, HTTP 400, nothing changed.
	want := ""
	if _, err := r.ex.Exec(context.Background(), nil, &control.Sentence{Path: "/ip/service", Cmd: "set",
		Args: []control.Arg{{Name: "numbers", Value: "www"}, {Name: "port", Value: "99999"}}}); err != nil {
		want = err.Error()
	}
	if want == "" {
		t.Fatal("the executor accepted port=99999")
	}
	code, body := r.curl(t, admin, "PATCH", "/rest/ip/service/www", `{"port":"99999"}`)
	e := decode[apiError](t, body)
	if code != 400 || e.Error != 400 || e.Message != "Bad Request" || e.Detail != want {
		t.Fatalf("bad port: %d %s (want detail %q)", code, body, want)
	}
	_, body = r.curl(t, admin, "GET", "/rest/ip/service/www", "")
	if p := decode[map[string]string](t, body)["port"]; p != "80" {
		t.Fatalf("port after a rejected set: %s", p)
	}

	for _, c := range []struct{ method, path, body, detail string }{
		{"PUT", "/rest/system/script", `{"name":`, ""},
		{"PUT", "/rest/system/script", `["name"]`, ""},
		{"PUT", "/rest/system/script", `{"name":{"a":"b"}}`, ""},
		{"PUT", "/rest/system/script", `{"bogus-prop":"x"}`, ""},
		{"PUT", "/rest/ip/service", `{"name":"extra"}`, "no such command"},
		{"GET", "/rest/no/such/menu", "", "no such command prefix"},
		{"POST", "/rest/system/script/frobnicate", `{}`, "no such command"},
		{"POST", "/rest/ip/service/print", `{".query":["#|"]}`, "unknown query"},
		{"PUT", "/rest/system/script", `{"name":"n","x":1.5}`, ""},
	} {
		code, body := r.curl(t, admin, c.method, c.path, c.body)
		e := decode[apiError](t, body)
		if code != 400 || e.Error != 400 || e.Detail == "" || (c.detail != "" && e.Detail != c.detail) {
			t.Errorf("%s %s %s: %d %s", c.method, c.path, c.body, code, body)
		}
	}
	_, body = r.curl(t, admin, "GET", "/rest/system/script", "")
	if got := decode[[]map[string]string](t, body); len(got) != 0 {
		t.Fatalf("scripts after rejected adds: %v", got)
	}

	// Authentication and policies.
	code, body = r.curl(t, "admin:wrong", "GET", "/rest/ip/service", "")
	if e := decode[apiError](t, body); code != 401 || e.Error != 401 || e.Message != "Unauthorized" {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	if code, _ := r.curl(t, "", "GET", "/rest/ip/service", ""); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	viewer := "viewer:" + viewerPW
	if code, body := r.curl(t, viewer, "GET", "/rest/ip/service", ""); code != 200 {
		t.Fatalf("viewer GET: %d %s", code, body)
	}
	code, body = r.curl(t, viewer, "PUT", "/rest/system/script", `{"name":"x"}`)
	if e := decode[apiError](t, body); code != 400 || !strings.Contains(e.Detail, "not enough permissions") {
		t.Fatalf("viewer PUT: %d %s", code, body)
	}
}

func TestStatusPage(t *testing.T) {
	needCurl(t)
	r := newRig(t)
	if _, err := r.ex.Exec(context.Background(), nil, &control.Sentence{Path: "/interface/gre", Cmd: "add", Args: []control.Arg{
		{Name: "name", Value: "gre-<b>status"}, {Name: "remote-address", Value: "198.18.0.2"}}}); err != nil {
		t.Fatal(err)
	}
	code, body := r.curl(t, admin, "GET", "/", "")
	if code != 200 || !strings.Contains(body, "<h1>rest-test</h1>") || !strings.Contains(body, "<h2>interface/gre</h2>") ||
		!strings.Contains(body, "gre-&lt;b&gt;status") || !strings.Contains(body, "198.18.0.2") {
		t.Fatalf("status page: %d\n%s", code, body)
	}
	if code, _ := r.curl(t, "", "GET", "/", ""); code != 401 {
		t.Fatalf("status page without login: %d", code)
	}
}

// TestStatusScreenshot renders the status page in headless Chromium and checks that a
// screenshot came out.
func TestStatusScreenshot(t *testing.T) {
	bin := ""
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			bin = p
			break
		}
	}
	if bin == "" {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	r := newRig(t)
	if _, err := r.ex.Exec(context.Background(), nil, &control.Sentence{Path: "/interface/gre", Cmd: "add", Args: []control.Arg{
		{Name: "name", Value: "gre-shot"}, {Name: "remote-address", Value: "198.18.0.2"}}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	png := filepath.Join(dir, "status.png")
	url := strings.Replace(r.url, "http://", "http://"+admin+"@", 1) + "/"
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1024,768",
		"--screenshot="+png, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, out)
	}
	if len(b) < 1000 || string(b[1:4]) != "PNG" {
		t.Fatalf("screenshot is %d bytes, not a PNG", len(b))
	}
	// The browser got past the login (a 401 page would screenshot as well).
	if st, _ := r.ex.State.Get("/user", adminID(t, r.ex)); st.Props["last-logged-in"] == "" {
		t.Fatalf("chromium did not log in; output:\n%s", out)
	}
	if os.Getenv("REST_SCREENSHOT") != "" {
		os.WriteFile(os.Getenv("REST_SCREENSHOT"), b, 0o644)
	}
}

// TestCurlExecute is RouterOS 7's POST /rest/execute: with as-string the script's output
// comes back as ret; without, the job's id at once, and the job runs on after the
// answer. The job has the caller's policies: a read user's write fails, its read works.
func TestCurlExecute(t *testing.T) {
	needCurl(t)
	r := newRig(t)
	viewer := "viewer:" + viewerPW

	code, body := r.curl(t, admin, "POST", "/rest/execute", `{"script":":put hello; :put [/system identity get name]","as-string":""}`)
	if got := decode[map[string]string](t, body); code != 200 || got["ret"] != "hello\nMikroTik\n" {
		t.Fatalf("execute as-string: %d %s", code, body)
	}
	code, body = r.curl(t, admin, "POST", "/rest/execute", `{"script":":delay 300ms; /system identity set name=from-job"}`)
	got := decode[map[string]string](t, body)
	if _, ok := control.ParseID(got["ret"]); code != 200 || !ok {
		t.Fatalf("execute: %d %s (want the job's id as ret)", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.identity(t) != "from-job" {
		if time.Now().After(deadline) {
			t.Fatalf("the job did not run on after the answer: identity %q", r.identity(t))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Checked as the console checks :execute: command by command, with the caller's
	// policies.
	code, body = r.curl(t, viewer, "POST", "/rest/execute", `{"script":"/system identity set name=evil","as-string":true}`)
	if code != 400 || !strings.Contains(body, "not enough permissions") {
		t.Errorf("a read user's write through execute: %d %s", code, body)
	}
	code, body = r.curl(t, viewer, "POST", "/rest/execute", `{"script":":put [/system identity get name]","as-string":true}`)
	if got := decode[map[string]string](t, body); code != 200 || got["ret"] != "from-job\n" {
		t.Errorf("a read user's read through execute: %d %s", code, body)
	}
	code, body = r.curl(t, viewer, "POST", "/rest/execute", `{"script":"/system identity set name=evil2"}`)
	if code != 200 {
		t.Errorf("a read user's job: %d %s", code, body)
	}
	// The refused job has run once this one, started after it, has ended.
	code, body = r.curl(t, viewer, "POST", "/rest/execute", `{"script":":delay 200ms","as-string":""}`)
	if code != 200 || r.identity(t) != "from-job" {
		t.Errorf("a read user's job changed the identity to %q (%d %s)", r.identity(t), code, body)
	}

	// Bad scripts and arguments: RouterOS's errors, 400.
	for _, tc := range []struct{ body, want string }{
		{`{"script":":put (","as-string":""}`, "syntax error"},
		{`{"script":":put ("}`, "syntax error"},
		{`{"as-string":""}`, "missing value for argument script"},
		{`{"script":":put 1","file":"x"}`, "file"},
	} {
		code, body := r.curl(t, admin, "POST", "/rest/execute", tc.body)
		if code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("execute %s: %d %s (want 400 %q)", tc.body, code, body, tc.want)
		}
	}
}

func (r *rig) identity(t *testing.T) string {
	t.Helper()
	code, body := r.curl(t, admin, "GET", "/rest/system/identity", "")
	if code != 200 {
		t.Fatalf("GET identity: %d %s", code, body)
	}
	return decode[map[string]string](t, body)["name"]
}
