package scheduler

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestManualExamples runs every command of 02-system-scheduler.txt (as collected in
// reference-commands.txt) for the menus routerd has, with the engine running, and checks
// what the manual's prints show.
func TestManualExamples(t *testing.T) {
	f, err := os.Open("../../test/testdata/reference-commands.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type unit struct {
		menu, src string
		bad       bool
	}
	var units []unit
	var cur unit
	var lines []string
	in := false
	flush := func() {
		if len(lines) > 0 {
			cur.src = strings.Join(lines, "\n")
			units = append(units, cur)
		}
		lines = nil
		cur = unit{menu: cur.menu}
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "# file: "):
			flush()
			in = l == "# file: 02-system-scheduler.txt"
		case !in:
		case strings.TrimSpace(l) == "":
			flush()
		case strings.HasPrefix(l, "# menu: "):
			cur.menu = strings.TrimSuffix(strings.TrimPrefix(l, "# menu: "), "/")
		case l == "# expect: bad command name":
			cur.bad = true
		case strings.HasPrefix(l, "#"):
		default:
			lines = append(lines, l)
		}
	}
	flush()
	if len(units) < 20 {
		t.Fatalf("only %d units of 02-system-scheduler.txt", len(units))
	}

	r := newRig(t, base)
	var out strings.Builder
	for _, u := range units {
		if u.bad {
			continue
		}
		// A unit at a menu routerd lacks is a path change to root-based menus: it starts
		// at root, as the script package's test runs it.
		r.c.Path = u.menu
		if _, ok := r.ex.Tree.Get(u.menu); !ok {
			r.c.Path = ""
		}
		if err := r.in.Run(context.Background(), r.c, u.src, &out); err != nil {
			t.Errorf("%s at %s: %v", strings.ReplaceAll(u.src, "\n", `\n`), u.menu, err)
		}
		r.settle()
	}
	// The manual's last print: x-up, x-down and x with today's date, 1d and 1h.
	got := r.run(`/system scheduler print where name~"^x"`)
	for _, w := range []string{
		"x-up", "enable-x", "2026-03-10", "00:00:00", "1d",
		"x-down", "disable-x", "12:00:00", "log-x", "1h",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("print lacks %s:\n%s", w, got)
		}
	}
	// run-1h logs "test" at once (its start is its add) and every hour after.
	r.to(base.Add(2*time.Hour + time.Second))
	if c := r.get("run-1h", "run-count"); c != "3" {
		t.Errorf("run-1h: run-count=%s; want 3", c)
	}
	// email-backup ran at its add; this rig has no e-mail engine, so its send failed
	// into /log (TestBackupByMail in control/email sends it for real).
	if logs := strings.Join(r.logs(), "\n"); !strings.Contains(logs,
		"executing script email-backup from scheduler failed, please check it manually: failure: send: no engine for this menu yet") {
		t.Errorf("/log:\n%s", logs)
	}
	if c := r.get("set-64k", "next-run"); c != "2026-03-11 09:00:00" {
		t.Errorf("set-64k: next-run=%s", c)
	}
	n := 0
	for _, m := range r.logs() {
		if m == "test" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d log lines \"test\"; want 3: %q", n, r.logs())
	}
	// The queue example: set-64k at 09:00 and set-128k at 17:00 change Cust0's limit-at.
	limit := func() string {
		return strings.TrimSpace(r.run(`:put [/queue simple get Cust0 limit-at]`))
	}
	if l := limit(); l != "64k/64k" {
		t.Errorf("Cust0 limit-at=%s before 09:00; want the add's 64k/64k", l)
	}
	r.run(`/queue simple set Cust0 limit-at=1k`)
	r.to(time.Date(2026, 3, 11, 9, 0, 1, 0, time.Local))
	if l := limit(); l != "64k/64k" {
		t.Errorf("Cust0 limit-at=%s after 09:00; want 64k/64k", l)
	}
	r.to(time.Date(2026, 3, 11, 17, 0, 1, 0, time.Local))
	if l := limit(); l != "128k/128k" {
		t.Errorf("Cust0 limit-at=%s after 17:00; want 128k/128k", l)
	}
}
