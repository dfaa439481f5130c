package security

import (
	"strings"
	"testing"
	"time"
)

// An unauthenticated login whose name holds a newline and ESC does not forge a /log
// line: /log shows the characters escaped.
func TestLogEscaping(t *testing.T) {
	r := newRouter(t, []string{"api", "telnet"})
	forged := "x\nsystem,info FORGED: user admin logged in\x1b[2J"
	apiLogin(t, r.addr("api"), nil, forged, "nope")
	telnetLogin(t, r.addr("telnet"), "y\rFORGED2\x1b]0;title\x07", "nope")
	r.must(":log", "info", "message=\"z\\nFORGED3\\1B[31m\"")
	log := r.must("/log/print")
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "FORGED") && !strings.Contains(l, "login failure") && !strings.Contains(l, `z\nFORGED3`) {
			t.Errorf("a forged /log line: %q", l)
		}
	}
	if strings.ContainsAny(log, "\x1b\x07\r") {
		t.Errorf("/log output carries control characters:\n%q", log)
	}
	if !strings.Contains(log, `x\nsystem,info FORGED`) || !strings.Contains(log, `\1B[2J`) {
		t.Errorf("the escaped name is not in /log:\n%s", log)
	}
}

// A write user's note with ESC and BEL, shown at every login and by /system note print,
// reaches no terminal raw: the characters are escaped, the note's lines kept.
func TestNoteEscaped(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("w", "write", "w-password-1")
	r.must("/user/set", "admin", "password=admin-pw-1")
	tc := r.console("w", "w-password-1")
	tc.run(t, `/system note set show-at-login=yes note="line1\nx\1B]52;c;cHduZWQ=\07y\1B[2J"`)
	tc.run(t, `/system identity set name="id\1B[31m"`)
	tc = dialTelnet(t, r.addr("telnet"))
	var seen strings.Builder
	for _, step := range []struct{ prompt, answer string }{{"Login: ", "admin"}, {"Password: ", "admin-pw-1"}} {
		out, err := tc.until(step.prompt, 10*time.Second)
		seen.WriteString(out)
		if err != nil {
			t.Fatalf("telnet: waiting for %q: %v", step.prompt, err)
		}
		tc.send(step.answer + "\r")
	}
	out, err := tc.until("> ", 20*time.Second)
	seen.WriteString(out)
	if err != nil {
		t.Fatalf("no prompt: %v\n%q", err, seen.String())
	}
	seen.WriteString(tc.run(t, "/system note print"))
	seen.WriteString(tc.run(t, "/system identity print"))
	all := seen.String()
	if strings.ContainsAny(all, "\x1b\x07") {
		t.Errorf("a write user's note or identity reached the admin's terminal with ESC/BEL:\n%q", all)
	}
	if !strings.Contains(all, `x\1B]52;c;cHduZWQ=\07y`) || !strings.Contains(all, "line1\r\n") {
		t.Errorf("the note is not shown escaped with its lines:\n%q", all)
	}
}
