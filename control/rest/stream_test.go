package rest

import (
	"strings"
	"testing"
	"time"
)

// TestStreamingCommands: POST of a command that goes on answers its updates as one
// array when it ends by itself, and fails at the time limit when it would not.
func TestStreamingCommands(t *testing.T) {
	needCurl(t)
	r := newRig(t, func(s *Server) { s.StreamLimit = 700 * time.Millisecond })
	// interval= prints the list again each interval until the limit.
	code, body := r.curl(t, "admin:"+adminPW, "POST", "/rest/system/identity/print", `{"interval":"100ms"}`)
	if code != 400 || !strings.Contains(body, "timeout") {
		t.Fatalf("unbounded stream: %d %s", code, body)
	}
	// An ordinary print is not held.
	code, body = r.curl(t, "admin:"+adminPW, "POST", "/rest/system/identity/print", `{}`)
	if code != 200 || !strings.Contains(body, `"name":"MikroTik"`) {
		t.Fatalf("print: %d %s", code, body)
	}
}
