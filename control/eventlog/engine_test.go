package eventlog

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/script"
)

// logRig runs the logging engine on a store; run runs console lines as admin.
func logRig(t *testing.T) (*control.Executor, func(string) string) {
	ex, run, _ := logRigBuffer(t)
	return ex, run
}

// logRigBuffer is logRig with the buffer the engine routes.
func logRigBuffer(t *testing.T) (*control.Executor, func(string) string, *Buffer) {
	ex := controltest.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	h := engine.New(ex, nil)
	buf := New(10)
	h.Register(NewEngine(buf, t.TempDir()))
	h.Start(ctx)
	t.Cleanup(func() { cancel(); h.Stop() })
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	con := &script.Console{Sess: &control.Session{User: "admin"}}
	return ex, func(src string) string {
		t.Helper()
		var b strings.Builder
		if err := in.Run(context.Background(), con, src, &b); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		return b.String()
	}, buf
}

// TestEmailAction: RouterOS's target=email action (v6 and v7 exports carry it, with
// email-to) loads, is exported as written, and prints invalid with the reason instead
// of being accepted and doing nothing; the rules naming it still load.
func TestEmailAction(t *testing.T) {
	ex, run := logRig(t)
	run(`/system logging action add email-start-tls=yes email-to=noc@example.com name=mail target=email
/system logging add action=mail topics=critical`)
	waitAction(t, ex, "mail", "not e-mailed")
	out := run(`/system logging action export`)
	if !strings.Contains(out, "email-start-tls=yes email-to=noc@example.com name=mail target=email") {
		t.Errorf("export:\n%s", out)
	}
}

// waitAction waits until the action prints invalid with a status holding want.
func waitAction(t *testing.T, ex *control.Executor, name, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := controltest.State(t, ex, ActionsPath, "name", name)
		if st.Invalid && strings.Contains(st.Status, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("action %s: state %+v, want invalid with %q", name, st, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRemoteActionFails: a remote action that cannot send (its src-address is not this
// machine's) prints invalid with the reason, and every rule using it prints alike:
// valid, as RouterOS leaves a rule whose action fails. The action's failure used to
// show on the one rule whose id was the action's (QA: a v6.48 export's rule 3 of 7).
func TestRemoteActionFails(t *testing.T) {
	ex, run := logRig(t)
	run(`/system logging action add name=m1 target=memory
/system logging action add name=m2 target=memory
/system logging action add name=far target=remote remote=198.18.0.9 src-address=198.18.255.254
:for i from=1 to=5 do={ /system logging add topics=info action=far prefix="r$i" }`)
	waitAction(t, ex, "far", "remote:")
	rules, err := ex.Items(RulesPath)
	if err != nil || len(rules) < 5 {
		t.Fatalf("rules: %v %v", rules, err)
	}
	for _, it := range rules {
		if st, _ := ex.State.Get(RulesPath, it.ID); st.Invalid || st.Status != "" {
			t.Errorf("rule %s (*%X) using the failing action: %+v, want it as the others", it.Props["prefix"], it.ID, st)
		}
	}
}

// TestRemoteActionHostName: remote= takes a host name, as RouterOS 7.20 exports write
// it (remote=minialx.home); it is resolved through /ip dns, the address shown as
// actual-remote and the entries sent there, and a changed record is followed. A name
// that does not resolve prints invalid with the reason (QA: refused 'invalid value for
// argument remote').
func TestRemoteActionHostName(t *testing.T) {
	ex, run, buf := logRigBuffer(t)
	servers := make([]*net.UDPConn, 2)
	for i := range servers {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(i+1))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		servers[i] = c
	}
	port := servers[0].LocalAddr().(*net.UDPAddr).Port
	if c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: port}); err == nil {
		servers[1].Close()
		servers[1] = c
	} else {
		t.Skipf("port %d on 127.0.0.2: %v", port, err)
	}
	run(fmt.Sprintf(`/ip dns static add name=minialx.home address=127.0.0.1 ttl=1h
/system logging action add name=DockerRemoteLog remote=minialx.home remote-port=%d remote-log-format=syslog syslog-facility=local0 target=remote
/system logging action add name=nowhere remote=nosuch.home target=remote
/system logging add action=DockerRemoteLog topics=info`, port))
	waitAction(t, ex, "nowhere", "cannot resolve remote nosuch.home")
	receive := func(c *net.UDPConn, msg string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		b := make([]byte, 2048)
		for time.Now().Before(deadline) {
			buf.Log([]string{"info"}, msg)
			c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, err := c.Read(b)
			if err == nil && strings.Contains(string(b[:n]), msg) {
				return
			}
		}
		t.Fatalf("%s: no %q", c.LocalAddr(), msg)
	}
	waitShown := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := controltest.State(t, ex, ActionsPath, "name", "DockerRemoteLog")
			if !st.Invalid && st.Props["actual-remote"] == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("state %+v, want actual-remote=%s", st, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitShown("127.0.0.1")
	receive(servers[0], "to the first")
	run(`/ip dns static set [ find name=minialx.home ] address=127.0.0.2`)
	waitShown("127.0.0.2")
	receive(servers[1], "to the second")
	if out := run(`/system logging action export`); !strings.Contains(out, "remote=minialx.home") {
		t.Errorf("export:\n%s", out)
	}
}
