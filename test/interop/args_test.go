package interop

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestEngineCommandArgsChecked: a command an engine handles (/system script run,
// /ip ipsec installed-sa flush, /interface monitor-traffic, /ip firewall filter
// reset-counters-all) refuses an argument it does not take over the API (librouteros)
// and REST (curl) with RouterOS's error, as the console does, and runs nothing: the
// script that would rename the router is not run. Before, the handler ignored the
// argument and ran. With only the arguments it takes (.id), the script runs over both.
func TestEngineCommandArgsChecked(t *testing.T) {
	py := need(t, "/usr/bin/python3")
	if err := exec.Command(py, "-c", "import librouteros").Run(); err != nil {
		t.Skip("python3-librouteros not installed (see .ci/run)")
	}
	curl := need(t, "curl")
	d := startDaemon(t, "api", "www")
	d.ctl("/system script add name=s1 source=\"/system identity set name=ran\"\n/system identity set name=before\n")
	identity := func() string {
		t.Helper()
		return strings.TrimSpace(d.ctl(":put [/system identity get name]"))
	}

	script := `
import sys
from librouteros import connect
from librouteros.exceptions import TrapError
port, pw = int(sys.argv[1]), sys.argv[2]
api = connect(host="127.0.0.1", port=port, username="admin", password=pw)
for cmd, args in [("/system/script/run", {".id": "*1", "bogus": "1"}),
                  ("/ip/ipsec/installed-sa/flush", {"sa-typ": "esp"}),
                  ("/interface/monitor-traffic", {"interface": "lo", "once": "", "intervall": "1"}),
                  ("/ip/firewall/filter/reset-counters-all", {"all": "yes"})]:
    try:
        list(api(cmd, **args))
        print(cmd, "ran")
    except TrapError as e:
        print(cmd, "trap:", e)
api.close()
`
	out := runClient(t, py, "-c", script, fmt.Sprint(d.ports["api"]), d.pw)
	for _, want := range []string{
		"/system/script/run trap: unknown parameter bogus",
		"/ip/ipsec/installed-sa/flush trap: unknown parameter sa-typ",
		"/interface/monitor-traffic trap: unknown parameter intervall",
		"/ip/firewall/filter/reset-counters-all trap: unknown parameter all",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("API: want %q in\n%s", want, out)
		}
	}
	if got := identity(); got != "before" {
		t.Fatalf("the refused run ran the script over the API: identity %q", got)
	}

	post := func(path, body string) string {
		t.Helper()
		return runClient(t, curl, "-sS", "-w", " %{http_code}", "-u", "admin:"+d.pw, "-H", "content-type: application/json",
			"-X", "POST", fmt.Sprintf("http://127.0.0.1:%d/rest%s", d.ports["www"], path), "--data", body)
	}
	for path, c := range map[string]struct{ body, bad string }{
		"/system/script/run":                     {`{".id":"*1","bogus":"1"}`, "bogus"},
		"/ip/ipsec/installed-sa/flush":           {`{"sa-typ":"esp"}`, "sa-typ"},
		"/ip/firewall/filter/reset-counters-all": {`{"all":"yes"}`, "all"},
	} {
		want := `{"error":400,"message":"Bad Request","detail":"unknown parameter ` + c.bad + `"} 400`
		if got := strings.ReplaceAll(post(path, c.body), "\n", ""); got != want {
			t.Errorf("REST %s %s: %s, want %s", path, c.body, got, want)
		}
	}
	if got := identity(); got != "before" {
		t.Fatalf("the refused run ran the script over REST: identity %q", got)
	}
	// The same command with the arguments it takes runs, over both.
	if got := post("/system/script/run", `{".id":"*1"}`); !strings.HasSuffix(got, " 200") {
		t.Fatalf("REST script run: %s", got)
	}
	if got := identity(); got != "ran" {
		t.Fatalf("script run over REST did not run: identity %q", got)
	}
	// Over the API, .id names the script too (it used to reach the handler as numbers,
	// which script run does not read: "expected item id").
	d.ctl("/system identity set name=before\n")
	out = runClient(t, py, "-c", `
import sys
from librouteros import connect
api = connect(host="127.0.0.1", port=int(sys.argv[1]), username="admin", password=sys.argv[2])
list(api("/system/script/run", **{".id": "*1"}))
print("ran")
`, fmt.Sprint(d.ports["api"]), d.pw)
	if got := identity(); got != "ran" {
		t.Fatalf("script run over the API did not run: identity %q (%s)", got, out)
	}
}
