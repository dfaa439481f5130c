package integration

import (
	"strings"
	"syscall"
	"testing"
)

// TestSIGHUPIgnored: a hangup (the ssh session that started routerd ends, a service
// manager's reload) leaves routerd running; SIGTERM then stops it in order (exit 0,
// "routerd stopped" after the engines' joins). Before, Go's default for SIGHUP ended
// the process on the spot (status 129), without the orderly shutdown.
func TestSIGHUPIgnored(t *testing.T) {
	r := newRouter(t, "")
	if err := syscall.Kill(r.Pid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if out := r.must("/system identity print"); !strings.Contains(out, "name:") {
		t.Errorf("identity print after SIGHUP: %q", out)
	}
	r.stop()
	st := r.ProcessState()
	if st == nil || !st.Exited() || st.ExitCode() != 0 {
		t.Fatalf("routerd ended with %v after SIGHUP and SIGTERM, want exit 0\n%s", st, r.Log)
	}
	if !strings.Contains(r.Log.String(), "routerd stopped") {
		t.Errorf("no orderly shutdown in the log:\n%s", r.Log)
	}
}
