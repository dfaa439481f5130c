// Package integration drives the built routerd and routerctl binaries end to end: crash
// safety under SIGKILL, export/import/backup round trips, routerctl's errors and output,
// the interactive console under tmux, and resident memory with a large configuration.
package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var nameRE = regexp.MustCompile(`(?:^|\s)name=(\S+)`)

// scriptNames returns the names in `/system script print terse`, in order.
func scriptNames(t *testing.T, r *router) []string {
	t.Helper()
	var names []string
	for _, l := range strings.Split(r.must("/system", "script", "print", "terse"), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		m := nameRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("terse line without name: %q", l)
		}
		names = append(names, strings.Trim(m[1], `"`))
	}
	return names
}

func TestSigkillBurst(t *testing.T) {
	r := newRouter(t, "")
	const total, workers = 300, 8
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	killAt := int64(60 + rng.IntN(140)) // acknowledged writes before the kill
	t.Logf("seed %d: SIGKILL after %d acknowledged writes of %d", seed, killAt, total)

	var (
		acked    sync.Map // name -> true
		nAcked   atomic.Int64
		nFailed  atomic.Int64
		next     atomic.Int64
		killOnce sync.Once
		killed   = make(chan struct{})
		wg       sync.WaitGroup
	)
	kill := func() { killOnce.Do(func() { r.kill(); close(killed) }) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				name := fmt.Sprintf("s%d", i)
				_, _, err := r.ctl(nil, "/system", "script", "add", "name="+name, fmt.Sprintf(`source=":put %d"`, i))
				if err == nil {
					acked.Store(name, true)
					if nAcked.Add(1) >= killAt {
						kill()
					}
				} else {
					nFailed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	kill() // in case the burst ended first
	<-killed
	t.Logf("acknowledged %d, failed %d (after the kill)", nAcked.Load(), nFailed.Load())
	if nFailed.Load() == 0 {
		t.Logf("note: the kill came after the whole burst")
	}

	r.start()
	names := scriptNames(t, r)
	seen := map[string]int{}
	for _, n := range names {
		seen[n]++
	}
	for n, c := range seen {
		if c > 1 {
			t.Errorf("script %s appears %d times after restart", n, c)
		}
	}
	missing := 0
	acked.Range(func(k, _ any) bool {
		if seen[k.(string)] == 0 {
			missing++
			t.Errorf("acknowledged script %s lost after SIGKILL", k)
		}
		return true
	})
	n, err := strconv.Atoi(strings.TrimSpace(r.must(":put [:len [/system script find]]")))
	if err != nil {
		t.Fatal(err)
	}
	if n != len(names) {
		t.Errorf(":len [find] = %d, print terse lists %d", n, len(names))
	}
	t.Logf("after restart: %d scripts (%d acknowledged, %d missing)", len(names), nAcked.Load(), missing)

	// Every item still works: one script asks for each acknowledged name.
	var sb strings.Builder
	acked.Range(func(k, _ any) bool {
		fmt.Fprintf(&sb, ":if ([:len [/system script find name=%s]] != 1) do={:put \"bad %s\"}\n", k, k)
		return true
	})
	if out := r.script(sb.String()); strings.TrimSpace(out) != "" {
		t.Errorf("find by name after restart:\n%s", out)
	}

	checkMode(t, r.data, 0o700)
	checkMode(t, filepath.Join(r.data, "files"), 0o700)
	checkMode(t, filepath.Join(r.data, "routerd.db"), 0o600)
	checkMode(t, r.sock, 0o600)
}

const configScript = `/system identity set name=edge1
/interface gre add name=gre1 remote-address=192.0.2.2 local-address=192.0.2.1
/ip ipsec profile add name=p1 enc-algorithm=aes-256 hash-algorithm=sha256 dh-group=modp2048
/ip ipsec peer add name=peer1 address=198.51.100.1/32 profile=p1
/ip ipsec identity add peer=peer1 auth-method=pre-shared-key secret="s3cr3t \"quoted\""
/system scheduler add name=sch1 interval=1h on-event="/system script run s1"
/ip service set www port=8080
/system script add name=s1 source=":put \"hello \\\"world\\\"\"; :log info \"x\""
`

func TestExportImportViaRouterctl(t *testing.T) {
	a := newRouter(t, "")
	a.script(configScript)
	want := a.export()
	for _, s := range []string{"set name=edge1", "name=gre1", `secret="s3cr3t \"quoted\""`,
		"name=sch1", "port=8080", `source=":put \"hello \\\"world\\\"\"; :log info \"x\""`} {
		if !strings.Contains(want, s) {
			t.Errorf("export lacks %s:\n%s", s, want)
		}
	}
	a.must("/export", "show-sensitive", "file=cfg")
	cfg := filepath.Join(a.data, "files", "cfg.rsc")
	checkMode(t, cfg, 0o600)

	t.Run("import", func(t *testing.T) {
		b := newRouter(t, "")
		copyFile(t, cfg, filepath.Join(b.data, "files", "cfg.rsc"))
		b.must("/import", "file-name=cfg.rsc")
		if got := b.export(); got != want {
			t.Errorf("export after /import differs:\n--- got\n%s--- want\n%s", got, want)
		}
	})
	t.Run("routerctl-f", func(t *testing.T) {
		c := newRouter(t, "")
		if out, errOut, err := c.ctl(nil, "-f", cfg); err != nil {
			t.Fatalf("routerctl -f %s: %v\n%s%s", cfg, err, out, errOut)
		}
		if got := c.export(); got != want {
			t.Errorf("export after routerctl -f differs:\n--- got\n%s--- want\n%s", got, want)
		}
	})
	t.Run("backup", func(t *testing.T) {
		a.must("/system", "backup", "save", "name=b1")
		bk := filepath.Join(a.data, "files", "b1.backup")
		checkMode(t, bk, 0o600)
		d := newRouter(t, "")
		copyFile(t, bk, filepath.Join(d.data, "files", "b1.backup"))
		d.must("/system", "backup", "load", "name=b1")
		if got := d.export(); got != want {
			t.Errorf("export after backup load differs:\n--- got\n%s--- want\n%s", got, want)
		}
	})
}

func TestRouterctlErrors(t *testing.T) {
	r := newRouter(t, "")

	out, errOut, err := r.ctl(nil, "/nonsense", "command")
	if err == nil {
		t.Errorf("/nonsense command succeeded: %q", out)
	}
	if want := "bad command name nonsense (line 1 column 2)"; strings.TrimSpace(errOut) != want {
		t.Errorf("/nonsense command: stderr %q, want %q", errOut, want)
	}

	out, errOut, err = r.ctl(nil, "/interface", "gre", "add", "name=x")
	if err == nil {
		t.Errorf("gre add without remote-address succeeded: %q", out)
	}
	if !strings.Contains(errOut, "remote-address") {
		t.Errorf("gre add without remote-address: stderr %q", errOut)
	}
	if out := r.must("/interface", "gre", "print", "terse"); strings.Contains(out, "name=x") {
		t.Errorf("failed add left an entry: %q", out)
	}

	r.must(":log", "info", "message=hello")
	if out := r.must("/log", "print"); !strings.Contains(out, "hello") {
		t.Errorf("/log print lacks hello:\n%s", out)
	}

	res := r.must("/system", "resource", "print")
	for _, k := range []string{"uptime", "version", "cpu-load", "free-memory", "total-memory"} {
		if !regexp.MustCompile(`(?m)^\s*` + k + `: \S`).MatchString(res) {
			t.Errorf("/system resource print lacks %s:\n%s", k, res)
		}
	}

	m := r.fetchMetrics()
	for _, name := range []string{"routerd_build_info", "routerd_commands_total"} {
		if !regexp.MustCompile(`(?m)^` + name + `[{ ]`).MatchString(m) {
			t.Errorf("metrics lack %s:\n%s", name, m)
		}
	}
}

// tmux drives one tmux server of its own (-L), so it never touches the user's sessions.
type tmux struct {
	t       *testing.T
	server  string
	session string
}

func (x *tmux) run(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", x.server}, args...)...).CombinedOutput()
	return string(out), err
}

func (x *tmux) send(keys ...string) {
	x.t.Helper()
	if out, err := x.run(append([]string{"send-keys", "-t", x.session}, keys...)...); err != nil {
		x.t.Fatalf("tmux send-keys %q: %v %s", keys, err, out)
	}
}

func (x *tmux) pane() string {
	out, _ := x.run("capture-pane", "-p", "-t", x.session)
	return out
}

// lastLine returns the pane's last non-blank line, without trailing spaces.
func lastLine(pane string) string {
	lines := strings.Split(pane, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimRight(lines[i], " "); l != "" {
			return l
		}
	}
	return ""
}

// waitFor polls the pane until ok holds, up to 30 s: on two loaded cores routerctl took
// more than 5 s to show its first prompt.
func (x *tmux) waitFor(what string, ok func(pane string) bool) string {
	x.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		p := x.pane()
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			x.t.Fatalf("tmux: waiting for %s; pane:\n%s", what, p)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLast waits until the pane's last line is want (trailing spaces ignored).
func (x *tmux) waitLast(want string) {
	x.t.Helper()
	want = strings.TrimRight(want, " ")
	x.waitFor(fmt.Sprintf("last line %q", want), func(p string) bool { return lastLine(p) == want })
}

func TestInteractiveTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed; the interactive console test needs it (apt-get install tmux)")
	}
	r := newRouter(t, "")
	home := t.TempDir() // routerctl's history file goes here, not in the real home
	id := fmt.Sprintf("routerd-it-%d-%d", os.Getpid(), time.Now().UnixNano())
	x := &tmux{t: t, server: id, session: id}
	shell := fmt.Sprintf("env HOME=%s TERM=xterm %s --socket %s", home, routerctlBin(), r.sock)
	if out, err := x.run("new-session", "-d", "-s", x.session, "-x", "200", "-y", "50", shell); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	t.Cleanup(func() { x.run("kill-server") })

	x.waitLast("[admin@MikroTik] > ")

	x.send("/system identity set name=r7", "Enter")
	x.waitLast("[admin@r7] > ")

	x.send("/interface gre", "Enter")
	x.waitLast("[admin@r7] /interface/gre> ")

	x.send("add na", "Tab")
	x.waitLast("[admin@r7] /interface/gre> add name=")
	x.send("C-c")
	x.waitLast("[admin@r7] /interface/gre> ")

	// History: Up recalls the previous command.
	x.send("Up")
	x.waitLast("[admin@r7] /interface/gre> /interface gre")
	x.send("C-c")
	x.waitLast("[admin@r7] /interface/gre> ")

	x.send("..", "Enter")
	x.waitLast("[admin@r7] /interface> ")

	// An error is shown and the console carries on.
	x.send("/nonsense command", "Enter")
	x.waitFor("the error line", func(p string) bool {
		return strings.Contains(p, "bad command name nonsense") && lastLine(p) == "[admin@r7] /interface>"
	})
	x.send(":put \"still-here\"", "Enter")
	x.waitFor("output after the error", func(p string) bool {
		return strings.Contains(p, "\nstill-here") && lastLine(p) == "[admin@r7] /interface>"
	})

	x.send("/quit", "Enter")
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := x.run("has-session", "-t", x.session); err != nil {
			break // routerctl exited and the session with it
		}
		if time.Now().After(deadline) {
			t.Fatalf("tmux session still alive after /quit; pane:\n%s", x.pane())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestResidentMemory10k(t *testing.T) {
	const n = 10000
	// 60 MB held on the machines this was set on; on the 2026-12-02 machine RSS settled at
	// 63-66 MB with the same code as before (452488f: 65.6 MB, measured beside this
	// session's 63.6 MB), so the bound is 70 MB: it still catches a real growth per item.
	const budgetKB = 70 << 10
	r := newRouter(t, "")
	var sb strings.Builder
	sb.WriteString("/system script\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&sb, "add name=script%d source=\":put %d; :log info \\\"run %d\\\"\"\n", i, i, i)
	}
	file := filepath.Join(t.TempDir(), "10k.rsc")
	if err := os.WriteFile(file, []byte(sb.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	before := vmRSS(t, r.Pid())
	start := time.Now()
	if out, errOut, err := r.ctl(nil, "-f", file); err != nil {
		t.Fatalf("routerctl -f: %v\n%s%s", err, out, errOut)
	}
	took := time.Since(start)
	if got := strings.TrimSpace(r.must(":put [:len [/system script find]]")); got != strconv.Itoa(n) {
		t.Fatalf("%s scripts after import, want %d", got, n)
	}
	// The budget is for routerd holding the items, not the import's garbage: on a busy
	// machine the collector and the scavenger run late, so wait for RSS to settle.
	after := vmRSS(t, r.Pid())
	for deadline := time.Now().Add(20 * time.Second); after > budgetKB && time.Now().Before(deadline); after = vmRSS(t, r.Pid()) {
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("import of %d /system script items: %v", n, took.Round(time.Millisecond))
	t.Logf("routerd VmRSS: %.1f MB before, %.1f MB with %d items (budget %d MB)",
		float64(before)/1024, float64(after)/1024, n, budgetKB>>10)
	if after > budgetKB {
		t.Errorf("routerd VmRSS %d kB with %d items, over the %d MB budget", after, n, budgetKB>>10)
	}
}
