package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSchedulerEndToEnd runs /system scheduler in a routerd process on the wall clock: a
// 1 s item increments a global and logs it; an item at start-time=startup runs once
// after a restart; start times are the local time of the process's TZ.
func TestSchedulerEndToEnd(t *testing.T) {
	// A zone with a 45-minute offset shows whether local time is used at all.
	const zone = "Asia/Kathmandu"
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Skipf("no zoneinfo for %s: %v", zone, err)
	}
	t.Setenv("TZ", zone)
	r := newRouter(t, "")
	before := time.Now().In(loc)
	// The counter is made by a script run: a console login's own globals go when it
	// ends (issue 11), so one typed here would race the first tick.
	r.script(`/system script add name=init source=":global n 0"
/system script run init
/system scheduler add name=tick interval=1s on-event={:global n; :set n ($n + 1); :log info "tick $n"}
`)
	after := time.Now().In(loc)
	st := strings.TrimSpace(r.must(":put", "[/system scheduler get tick start-time]"))
	local := false
	for s := before.Truncate(time.Second); !s.After(after); s = s.Add(time.Second) {
		local = local || st == s.Format("15:04:05")
	}
	if !local {
		t.Errorf("start-time=%s; want the local time of %s, %s-%s", st, zone,
			before.Format("15:04:05"), after.Format("15:04:05"))
	}
	waitCount(t, r, "tick", 3)
	// Startup items run 3 s after the start; once that is past, this one must wait for
	// the next start. Three ticks alone do not say it is past: the first runs at once,
	// and under load routerd may take seconds to come up.
	deadline := time.Now().Add(10 * time.Second)
	for strings.TrimSpace(r.must(":put ([/system resource get uptime] > 4s)")) != "true" {
		if time.Now().After(deadline) {
			t.Fatalf("uptime %s after 10 s", r.must(":put [/system resource get uptime]"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.script(`/system scheduler add name=boot start-time=startup on-event={:log info "booted"}
`)
	n, err := strconv.Atoi(strings.TrimSpace(r.script(":global n; :put $n\n")))
	if err != nil || n < 3 {
		t.Errorf("global n = %d (%v); want at least 3", n, err)
	}
	logs := r.must("/log", "print")
	for _, w := range []string{"tick 1", "tick 2", "tick 3"} {
		if !strings.Contains(logs, w) {
			t.Errorf("/log lacks %q:\n%s", w, logs)
		}
	}
	out := r.must("/system", "scheduler", "print", "detail")
	if strings.Contains(out, "not applied") || !strings.Contains(out, "next-run=") {
		t.Errorf("print detail:\n%s", out)
	}
	if strings.Contains(logs, "booted") {
		t.Errorf("a startup item added after the start ran:\n%s", logs)
	}

	// After a restart run-count starts again and the startup item runs once.
	r.must("/system", "scheduler", "disable", "tick")
	r.stop()
	r.start()
	waitCount(t, r, "boot", 1)
	if logs := r.must("/log", "print"); strings.Count(logs, "booted") != 1 || strings.Contains(logs, "tick") {
		t.Errorf("/log after restart:\n%s", logs)
	}
}

// waitCount polls an item's run-count until it reaches n (30 s at most: a start-time
// item after a restart took more than 10 s on two loaded cores).
func waitCount(t *testing.T, r *router, name string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := strings.TrimSpace(r.must(":put", "[/system scheduler get "+name+" run-count]"))
		if c, err := strconv.Atoi(out); err == nil && c >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: run-count %q after 30 s; want %d\n%s", name, out, n, r.Log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
