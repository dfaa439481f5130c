package radius

import (
	"context"
	"strings"
	"testing"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/script"
)

func rig(t *testing.T) (*Engine, func(string) string) {
	t.Helper()
	ex := controltest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	h := engine.New(ex, nil)
	e := New()
	h.Register(e)
	h.Start(ctx)
	t.Cleanup(func() { cancel(); h.Stop() })
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	con := &script.Console{Sess: &control.Session{User: "admin"}}
	return e, func(src string) string {
		t.Helper()
		var b strings.Builder
		if err := in.Run(context.Background(), con, src, &b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if err := e.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
}

// TestServers: the reference's /radius line gives the client one ipsec server with
// RouterOS's defaults; disabled, radsec and secret-less entries are left out (the last
// two invalid with the reason); the secret is not printed.
func TestServers(t *testing.T) {
	e, run := rig(t)
	run("/radius\nadd address=127.0.0.1 secret=test service=ipsec\n")
	ss := e.Client().For("ipsec")
	if len(ss) != 1 || ss[0].AuthPort != 1812 || ss[0].AcctPort != 1813 || string(ss[0].Secret) != "test" || ss[0].Timeout.Milliseconds() != 300 || !ss[0].RequireMessageAuth {
		t.Fatalf("servers %+v", ss)
	}
	if len(e.Client().For("login")) != 0 {
		t.Fatal("login has a server")
	}
	// A RouterOS 7.15+ export of a box talking to an old server (QA's line).
	run("/radius set 0 require-message-auth=no")
	if ss := e.Client().For("ipsec"); len(ss) != 1 || ss[0].RequireMessageAuth {
		t.Fatalf("require-message-auth=no not applied: %+v", ss)
	}
	// RouterOS 7.15's word for the default (its exports write it), and routerd's old yes.
	for _, v := range []string{"yes-for-request-resp", "yes"} {
		run("/radius set 0 require-message-auth=" + v)
		if ss := e.Client().For("ipsec"); len(ss) != 1 || !ss[0].RequireMessageAuth {
			t.Fatalf("require-message-auth=%s not applied: %+v", v, ss)
		}
	}
	run("/radius remove 0\n/radius add address=127.0.0.1 secret=test service=ipsec\n")
	run(`/radius add address=198.18.0.9 secret=x service=ipsec,login timeout=1s authentication-port=11812
/radius add address=198.18.0.10 service=ipsec
/radius add address=198.18.0.11 secret=x service=ipsec protocol=radsec
/radius add address=198.18.0.12 secret=x service=ipsec disabled=yes`)
	ss = e.Client().For("ipsec")
	if len(ss) != 2 || ss[1].AuthPort != 11812 || ss[1].Timeout.Seconds() != 1 {
		t.Fatalf("servers %+v", ss)
	}
	out := run("/radius print detail")
	if strings.Contains(out, "secret=test") || strings.Contains(out, `secret="test"`) {
		t.Fatalf("secret printed:\n%s", out)
	}
	if !strings.Contains(out, "no secret") || !strings.Contains(out, "radsec is not implemented") {
		t.Fatalf("invalid entries without reasons:\n%s", out)
	}
	if s := run(":put [/radius get 0 requests]"); s != "0\n" {
		t.Fatalf("requests %q", s)
	}
	// A resync with nothing changed keeps the client's counters.
	k := e.Client().Counters(ss[0].ID)
	k.Requests.Add(5)
	run("")
	if s := run(":put [/radius get 0 requests]"); s != "5\n" {
		t.Fatalf("requests after resync %q", s)
	}
}
