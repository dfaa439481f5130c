package security

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control/api"
)

// Escalation 4: :execute runs its script as a job; the job used to get a session
// without policies, which stands for every policy, so a read-only user's
// `:execute "/user add ..."` made a full user. The job has its caller's policies.
func TestEscalationExecute(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("reader", "read", "reader-pw-1")
	tc := r.console("reader", "reader-pw-1")
	out := tc.run(t, `:put [:execute "/user add name=evil group=full password=evil-pw-1" as-string]`)
	if !strings.Contains(out, "not enough permissions") {
		t.Errorf(":execute as-string of /user add by a reader: no permission error:\n%s", out)
	}
	tc.run(t, `:execute "/user add name=evil group=full password=evil-pw-1"`)
	tc.run(t, `:execute "/user group set read policy=read,write,policy,sensitive,telnet"`)
	time.Sleep(time.Second) // the background jobs' time to run
	r.noEvil()
	if out := r.must(":put [/user group get read policy]"); strings.Contains(out, "policy") {
		t.Errorf("a reader's :execute changed its group: %s", out)
	}
	// What the reader may do, its job does.
	if out := tc.run(t, `:put [:execute ":put [/system identity get name]" as-string]`); !strings.Contains(out, "MikroTik") {
		t.Errorf(":execute as-string of a read command:\n%s", out)
	}
	r.alive()
}

// Escalation 4 over REST: POST /rest/execute runs its script with the requesting user's
// policies, as the console's :execute does, whether it waits for the output (as-string)
// or starts a job that outlives the request.
func TestEscalationRESTExecute(t *testing.T) {
	r := newRouter(t, []string{"www"})
	r.addUser("reader", "read", "reader-pw-1")
	post := func(script string, asString bool) (int, map[string]any) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"script": script})
		if asString {
			body, _ = json.Marshal(map[string]any{"script": script, "as-string": ""})
		}
		req, err := http.NewRequest("POST", "http://"+r.addr("www")+"/rest/execute", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("reader", "reader-pw-1")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("POST /rest/execute: %d %q: %v", resp.StatusCode, b, err)
		}
		return resp.StatusCode, v
	}
	if code, v := post("/user add name=evil group=full password=evil-pw-1", true); code != 400 ||
		!strings.Contains(v["detail"].(string), "not enough permissions") {
		t.Errorf("a reader's /user add through /rest/execute as-string: %d %v", code, v)
	}
	for _, src := range []string{"/user add name=evil group=full password=evil-pw-1",
		"/user group set read policy=read,write,policy,sensitive,rest-api"} {
		if code, v := post(src, false); code != 200 || v["ret"] == nil {
			t.Errorf("a reader's job %q: %d %v (want its id)", src, code, v)
		}
	}
	// The jobs fail at their first command; a read job that waits 500 ms gives them
	// that time.
	if code, v := post(":delay 500ms; :put done", true); code != 200 || v["ret"] != "done\n" {
		t.Errorf("a reader's read job: %d %v", code, v)
	}
	r.noEvil()
	if out := r.must(":put [/user group get read policy]"); strings.Contains(out, "policy") {
		t.Errorf("a reader's /rest/execute changed its group: %s", out)
	}
	r.alive()
}

// A user's :execute jobs are bounded in number and end with its login: a stranger's
// endless loops do not keep routerd's CPU after the connection closed.
func TestExecuteJobsBounded(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("reader", "read", "reader-pw-1")
	tc := r.console("reader", "reader-pw-1")
	out := tc.run(t, `:for i from=1 to=40 do={ :execute ":while (true) do={}" }`)
	if !strings.Contains(out, "too many running jobs") {
		t.Errorf("40 endless jobs: no limit error:\n%s", tail(out, 300))
	}
	tc.send("/quit\r")
	tc.c.Close()
	time.Sleep(time.Second)
	mid := r.cpuTime()
	time.Sleep(2 * time.Second)
	end := r.cpuTime()
	t.Logf("CPU in the 2 s after the client left: %v", end-mid)
	if end-mid > time.Second {
		t.Errorf("routerd kept running a departed user's jobs: %v CPU in 2 s", end-mid)
	}
	// The limit is per running job: a new login may start jobs again.
	tc = r.console("reader", "reader-pw-1")
	if out := tc.run(t, `:execute ":delay 1s"`); strings.Contains(out, "too many") {
		t.Errorf("the jobs of an ended login still count:\n%s", out)
	}
	r.alive()
}

// /import dry-run runs no :execute job: a job commits on its own (it used to apply
// its change for real), and as-string used to commit the dry run's batch first.
func TestImportDryRunExecute(t *testing.T) {
	r := newRouter(t, nil)
	files := filepath.Join(r.data, "files")
	src := "/system identity set name=leak1\n:put [:execute \":put 1\" as-string]\n:execute \"/system identity set name=leak2\"\n"
	if err := os.WriteFile(filepath.Join(files, "x.rsc"), []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	out := r.must("/import", "file-name=x.rsc", "dry-run")
	if !strings.Contains(out, "successfully") {
		t.Errorf("dry run of :execute lines failed:\n%s", out)
	}
	time.Sleep(time.Second)
	if name := strings.TrimSpace(r.must(":put [/system identity get name]")); name != "MikroTik" {
		t.Errorf("a dry run changed the identity to %q", name)
	}
}

// Jobs a script starts that a user runs over the API end when the API connection
// does: the script's own session leads back to the connection's login.
func TestExecuteJobsEndWithAPILogin(t *testing.T) {
	r := newRouter(t, []string{"api"})
	r.addUser("w", "write", "w-password-1")
	r.script(`/system script add name=spin policy=read,write,test source=":for i from=1 to=4 do={ :execute \":while (true) do={}\" }"` + "\n")
	c, err := net.Dial("tcp", r.addr("api"))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	w, rd := api.NewWriter(c), api.NewReader(c)
	w.WriteSentence("/login", "=name=w", "=password=w-password-1")
	if words, err := rd.ReadSentence(); err != nil || words[0] != "!done" {
		t.Fatalf("login: %v %v", words, err)
	}
	w.WriteSentence("/system/script/run", "=number=spin")
	if words, err := rd.ReadSentence(); err != nil || words[0] != "!done" {
		t.Fatalf("run: %v %v", words, err)
	}
	c0 := r.cpuTime()
	time.Sleep(time.Second)
	t.Logf("CPU in 1 s while the API client is connected: %v", r.cpuTime()-c0)
	c.Close()
	time.Sleep(time.Second)
	mid := r.cpuTime()
	time.Sleep(2 * time.Second)
	end := r.cpuTime()
	t.Logf("CPU in the 2 s after the API client left: %v", end-mid)
	if end-mid > time.Second {
		t.Errorf("routerd kept running a departed API user's jobs: %v CPU in 2 s", end-mid)
	}
	r.alive()
}
