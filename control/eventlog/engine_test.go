package eventlog

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/script"
)

// TestEmailAction: RouterOS's target=email action (v6 and v7 exports carry it, with
// email-to) loads, is exported as written, and prints invalid with the reason instead
// of being accepted and doing nothing; the rules naming it still load.
func TestEmailAction(t *testing.T) {
	ex := controltest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	h := engine.New(ex, nil)
	h.Register(NewEngine(New(10), t.TempDir()))
	h.Start(ctx)
	t.Cleanup(func() { cancel(); h.Stop() })
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	con := &script.Console{Sess: &control.Session{User: "admin"}}
	run := func(src string) string {
		t.Helper()
		var b strings.Builder
		if err := in.Run(context.Background(), con, src, &b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return b.String()
	}
	run(`/system logging action add email-start-tls=yes email-to=noc@example.com name=mail target=email
/system logging add action=mail topics=critical`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := controltest.State(t, ex, ActionsPath, "name", "mail")
		if st.Invalid && strings.Contains(st.Status, "not e-mailed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("email action state %+v, want invalid with the reason", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := run(`/system logging action export`)
	if !strings.Contains(out, "email-start-tls=yes email-to=noc@example.com name=mail target=email") {
		t.Errorf("export:\n%s", out)
	}
}
