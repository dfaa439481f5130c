package security

import (
	"strings"
	"testing"
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
