package integration

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestConsoleHelpAndFollow drives routerctl under tmux: `?` lists a menu's sub-menus and
// commands and a command's arguments with their value syntax, leaving the line as typed;
// `print follow` shows rows added meanwhile until Ctrl-C; `interval=` reprints.
func TestConsoleHelpAndFollow(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed; the interactive console test needs it (apt-get install tmux)")
	}
	r := newRouter(t, "")
	home := t.TempDir()
	id := fmt.Sprintf("routerd-op-%d-%d", os.Getpid(), time.Now().UnixNano())
	x := &tmux{t: t, server: id, session: id}
	shell := fmt.Sprintf("env HOME=%s TERM=xterm %s --socket %s", home, routerctlBin(), r.sock)
	if out, err := x.run("new-session", "-d", "-s", x.session, "-x", "200", "-y", "60", shell); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { x.run("kill-server") })
	x.waitLast("[admin@MikroTik] > ")

	x.send("/system ", "?")
	x.waitFor("menu help", func(p string) bool {
		return strings.Contains(p, "script/") && strings.Contains(p, "clock/") &&
			strings.Contains(p, "identity/") && lastLine(p) == "[admin@MikroTik] > /system"
	})
	x.send("C-c")
	x.send("C-l")

	x.send("/system script add ", "?")
	x.waitFor("argument help", func(p string) bool {
		return strings.Contains(p, "name") && strings.Contains(p, "policy") &&
			strings.Contains(p, "Policies the script runs with") &&
			strings.Contains(p, "dont-require-permissions -- ") && strings.Contains(p, "(yes | no)") &&
			lastLine(p) == "[admin@MikroTik] > /system script add"
	})
	// A question mark inside quotes is text.
	x.send(`comment="why?"`, "Enter")
	x.waitFor("add ran", func(p string) bool { return lastLine(p) == "[admin@MikroTik] >" })
	if out := r.must("/system", "script", "print", "terse"); !strings.Contains(out, `comment="why?"`) {
		t.Fatalf("quoted ? was not kept:\n%s", out)
	}

	x.send("C-l")
	x.send("/system script print follow", "Enter")
	x.waitFor("first rows", func(p string) bool { return strings.Contains(p, "why?") })
	r.must("/system", "script", "add", "name=followed-one")
	x.waitFor("followed row", func(p string) bool { return strings.Contains(p, "followed-one") })
	x.send("C-c")
	x.waitFor("prompt after Ctrl-C", func(p string) bool { return lastLine(p) == "[admin@MikroTik] >" })

	x.send("C-l")
	x.send("/system clock print interval=300ms", "Enter")
	x.waitFor("three updates", func(p string) bool { return strings.Count(p, "time-zone-name:") >= 3 })
	x.send("C-c")
	x.waitFor("prompt after Ctrl-C", func(p string) bool { return lastLine(p) == "[admin@MikroTik] >" })
}

// TestConsoleAsValueAndGet: at the interactive prompt, print as-value and get without
// a property show the value they return.
func TestConsoleAsValueAndGet(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed; the interactive console test needs it (apt-get install tmux)")
	}
	r := newRouter(t, "")
	id := fmt.Sprintf("routerd-av-%d-%d", os.Getpid(), time.Now().UnixNano())
	x := &tmux{t: t, server: id, session: id}
	shell := fmt.Sprintf("env HOME=%s TERM=xterm %s --socket %s", t.TempDir(), routerctlBin(), r.sock)
	if out, err := x.run("new-session", "-d", "-s", x.session, "-x", "200", "-y", "40", shell); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { x.run("kill-server") })
	x.waitLast("[admin@MikroTik] > ")
	x.send("/system script add name=av1", "Enter")
	x.send("/system script print as-value", "Enter")
	x.waitFor("as-value output", func(p string) bool { return strings.Contains(p, "name=av1") })
	x.send("/system identity get", "Enter")
	x.waitFor("get output", func(p string) bool { return strings.Contains(p, "name=MikroTik") })
}
