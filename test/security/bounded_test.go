package security

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/test/testbin"
)

// A read-only user sends 2 MB of nested `[` over telnet: the parser refuses it with a
// clear error and routerd lives on (it used to overflow the Go stack and die).
func TestNestingOverTelnet(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("reader", "read", "reader-pw-1")
	tc := dialTelnet(t, r.addr("telnet"))
	tc.login(t, "reader", "reader-pw-1")
	if err := tc.send(strings.Repeat("[", 2<<20) + "\r"); err != nil {
		t.Fatal(err)
	}
	out, err := tc.until("] > ", 60*time.Second)
	if err != nil {
		t.Fatalf("no prompt after the nested input: %v\n%s", err, tail(out, 500))
	}
	if !strings.Contains(out, "longer than") {
		t.Errorf("no length error in the answer:\n%s", tail(out, 500))
	}
	// Under the line limit, the nesting limit answers.
	tc.send(strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + "\r")
	if out, err = tc.until("] > ", 60*time.Second); err != nil || !strings.Contains(out, "nesting too deep") {
		t.Errorf("2000 nested []: no nesting error (%v):\n%s", err, tail(out, 500))
	}
	// An open bracket continues the statement on the next line; the lines it gathers
	// are bounded too.
	for i := 0; i < 200; i++ {
		tc.send(strings.Repeat("[", 400) + "\r")
	}
	if out, err = tc.until("] > ", 60*time.Second); err != nil || !strings.Contains(out, "too long") {
		t.Errorf("80 kB of continued lines: no length error (%v):\n%s", err, tail(out, 500))
	}
	r.alive()
}

// The same text as a startup scheduler item's on-event: saved, it fails its runs
// without taking routerd down, and a restart (the boot loop of the probe) comes up.
func TestNestingAsStartupItem(t *testing.T) {
	r := newRouter(t, nil)
	src := strings.Repeat("[", 200000)
	out, err := r.ctl(strings.NewReader("/system scheduler add name=boom start-time=startup on-event=\""+src+"\"\n"), "-f", "-")
	t.Logf("add: %v %s", err, tail(out, 200))
	// Whether or not the add was refused, a restart must come up and stay up.
	r.stop()
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	if err == nil {
		// Startup items run 3 s after start: wait for its run to fail, routerd up.
		testbin.Eventually(t, "the startup item's run to fail with the nesting error", 0, func() (bool, string) {
			r.alive()
			log := r.must("/log/print")
			return strings.Contains(log, "too deep"), tail(log, 1000)
		})
	}
	r.alive()
}

// A read-only user's `:delay 30s` and `:while` loop do not hold the store's writer:
// an admin's write made meanwhile completes in well under a second.
func TestDelayDoesNotHoldStore(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("reader", "read", "reader-pw-1")
	for _, src := range []string{":delay 30s", ":while (true) do={}",
		":foreach i in=[/system script find] do={}; :delay 30s"} {
		tc := dialTelnet(t, r.addr("telnet"))
		tc.login(t, "reader", "reader-pw-1")
		tc.send(src + "\r")
		time.Sleep(300 * time.Millisecond)
		// :time measures inside routerd, the wait for the store's lock included; the
		// whole call is bounded too (generously: it includes starting routerctl),
		// since the lock could also be waited for before the command starts.
		start := time.Now()
		out := strings.TrimSpace(r.must(":put [:time {/system identity set name=probe}]"))
		if wall := time.Since(start); wall > 10*time.Second {
			t.Errorf("%s: an admin write took %v of wall time while a reader ran it", src, wall)
		}
		d, err := parseROSTime(out)
		if err != nil {
			t.Fatalf("%s: :time said %q: %v", src, out, err)
		}
		if d > 100*time.Millisecond {
			t.Errorf("%s: an admin write took %v while a reader ran it", src, d)
		} else {
			t.Logf("%s: admin write in %v", src, d)
		}
		tc.c.Close()
	}
	r.alive()
}

// parseROSTime reads a RouterOS time value as :time prints it (00:00:00.012345).
func parseROSTime(s string) (time.Duration, error) {
	var h, m int
	var sec float64
	if _, err := fmt.Sscanf(s, "%d:%d:%f", &h, &m, &sec); err != nil {
		return 0, err
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), nil
}

// A session's globals are bounded in number and size and go when its login ends; a
// value that doubles in a loop stops at the size limit instead of taking all memory.
func TestGlobalsAndValuesBounded(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("reader", "read", "reader-pw-1")
	tc := r.console("reader", "reader-pw-1")
	out := tc.run(t, `:global big "x"; :while (true) do={ :set big ($big.$big) }`)
	if !strings.Contains(out, "value too large") {
		t.Errorf("a doubling string: no size error:\n%s", tail(out, 300))
	}
	out = tc.run(t, `:for i from=1 to=300 do={ :local f [:parse ":global g$i 1"]; $f }`)
	if !strings.Contains(out, "too many global variables") {
		t.Errorf("300 globals from one session: no limit error:\n%s", tail(out, 300))
	}
	if out := r.must(":global g1; :put [:typeof $g1]"); strings.TrimSpace(out) != "num" {
		t.Errorf("the session's global is not visible while it is logged in: %q", out)
	}
	tc.send("/quit\r")
	tc.c.Close()
	time.Sleep(500 * time.Millisecond)
	if out := r.must(":global g1; :global big; :put ([:typeof $g1].[:typeof $big])"); strings.TrimSpace(out) != "nothingnothing" {
		t.Errorf("the session's globals outlived it: %q", out)
	}
	r.alive()
}

// cpuTime is routerd's user+system CPU time so far.
func (r *router) cpuTime() time.Duration {
	r.t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.Pid()))
	if err != nil {
		r.t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var ut, st int64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// Tab completion of a long line flooded with Tabs costs little, and stops when the
// client goes: the work queued for it is dropped with its session.
func TestCompletionBounded(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("reader", "read", "reader-pw-1")
	tc := r.console("reader", "reader-pw-1")
	start := r.cpuTime()
	tc.send("/system script print where name=" + strings.Repeat("a", 3000))
	for i := 0; i < 20; i++ {
		tc.send(strings.Repeat("\t", 10000))
	}
	time.Sleep(300 * time.Millisecond)
	tc.c.Close()
	time.Sleep(time.Second)
	mid := r.cpuTime()
	time.Sleep(2 * time.Second)
	end := r.cpuTime()
	t.Logf("CPU: %v for the flood, %v in the 2 s after the client left", mid-start, end-mid)
	if end-mid > 500*time.Millisecond {
		t.Errorf("routerd kept working for a client that left: %v CPU in 2 s", end-mid)
	}
	if mid-start > 5*time.Second {
		t.Errorf("200000 Tabs cost %v of CPU", mid-start)
	}
	r.alive()
}

// A read-only user cannot make routerd hold gigabytes through values that pass the
// per-value check one by one: an array joined with a 2 MiB string, an array filled
// element by element with 2 MiB strings, many 2 MiB globals. Each is refused with
// "value too large" long before it costs much.
func TestScriptMemoryBounded(t *testing.T) {
	r := newRouter(t, []string{"telnet"})
	r.addUser("reader", "read", "reader-pw-1")
	tc := r.console("reader", "reader-pw-1")
	before := r.vmRSS()
	const big = `:global s "x"; :for i from=1 to=21 do={ :set s ($s.$s) }; `
	for _, src := range []string{
		big + `:local a [:toarray ""]; :for i from=1 to=5000 do={ :set ($a->$i) $i }; :local b ($a . $s); :put [:len $b]`,
		big + `:local a [:toarray ""]; :for i from=1 to=5000 do={ :set ($a->$i) ($s.$i) }; :put [:len $a]`,
		big + `:for i from=1 to=100 do={ :local f [:parse ":global s; :global g$i (\$s . \"$i\")"]; $f }`,
	} {
		out := tc.run(t, src)
		if !strings.Contains(out, "value too large") {
			t.Errorf("%s: no size error:\n%s", src, tail(out, 300))
		}
		rss := r.vmRSS()
		t.Logf("RSS grew %d kB", rss-before)
		if rss-before > 300*1024 {
			t.Errorf("%s: routerd RSS grew by %d kB", src, rss-before)
		}
	}
	r.alive()
}
