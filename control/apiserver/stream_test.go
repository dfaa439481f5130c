package apiserver

import (
	"slices"
	"testing"
)

// TestTagOnEveryReply: node-routeros keeps a connection alive with a tagged `#`
// sentence and matches replies by tag; the trap for it must carry the tag.
func TestTagOnEveryReply(t *testing.T) {
	r := newRig(t)
	cl := r.login(t)
	cl.send("#", ".tag=7")
	for _, want := range []string{"!trap", "!done"} {
		re := cl.read()
		if re[0] != want || !slices.Contains(re, ".tag=7") {
			t.Fatalf("reply to tagged #: %v, want %s with .tag=7", re, want)
		}
	}
	cl.send("/system/script/print", "?name=none", ".tag=8")
	for _, want := range []string{"!empty", "!done"} {
		re := cl.read()
		if re[0] != want || !slices.Contains(re, ".tag=8") {
			t.Fatalf("reply: %v, want %s with .tag=8", re, want)
		}
	}
	cl.send("/nosuch/print", ".tag=9")
	for _, want := range []string{"!trap", "!done"} {
		re := cl.read()
		if re[0] != want || !slices.Contains(re, ".tag=9") {
			t.Fatalf("reply: %v, want %s with .tag=9", re, want)
		}
	}
}

// TestPrintFollow streams a menu's rows, then each change as it is made, until /cancel
// ends it with the interrupted trap; the cancel itself answers !done under its own tag.
func TestPrintFollow(t *testing.T) {
	r := newRig(t)
	cl := r.login(t)
	cl.do("/system/script/add", "=name=a")
	cl.send("/system/script/print", "=follow=", "=.proplist=name", ".tag=f")
	re := cl.read()
	if re[0] != "!re" || !slices.Contains(re, "=name=a") || !slices.Contains(re, ".tag=f") {
		t.Fatalf("first row: %v", re)
	}
	// A tagged command runs beside the stream.
	cl.send("/system/script/add", "=name=b", ".tag=x")
	var got, done []string
	for got == nil || done == nil {
		s := cl.read()
		switch {
		case slices.Contains(s, ".tag=f"):
			got = s
		case slices.Contains(s, ".tag=x") && s[0] == "!done":
			done = s
		}
	}
	if got[0] != "!re" || !slices.Contains(got, "=name=b") {
		t.Fatalf("followed row: %v", got)
	}
	cl.send("/cancel", "=tag=f", ".tag=c")
	var interrupted, fDone, cDone bool
	for !(interrupted && fDone && cDone) {
		s := cl.read()
		switch {
		case s[0] == "!trap" && slices.Contains(s, ".tag=f") && slices.Contains(s, "=message=interrupted"):
			interrupted = true
		case s[0] == "!done" && slices.Contains(s, ".tag=f"):
			fDone = true
		case s[0] == "!done" && slices.Contains(s, ".tag=c"):
			cDone = true
		case s[0] == "!re":
		default:
			t.Fatalf("unexpected %v", s)
		}
	}
}

// TestPrintIntervalUntagged: an untagged print interval= streams the list each interval
// and a plain /cancel stops it.
func TestPrintIntervalUntagged(t *testing.T) {
	r := newRig(t)
	cl := r.login(t)
	cl.do("/system/script/add", "=name=a")
	cl.send("/system/script/print", "=interval=100ms", "=.proplist=name")
	for i := 0; i < 3; i++ {
		if re := cl.read(); re[0] != "!re" || !slices.Contains(re, "=name=a") {
			t.Fatalf("update %d: %v", i, re)
		}
	}
	cl.send("/cancel")
	sawTrap := false
	for {
		s := cl.read()
		if s[0] == "!trap" {
			sawTrap = true
		}
		if s[0] == "!done" && sawTrap {
			break
		}
	}
	// The connection still answers.
	if re := cl.do("/system/script/print", "=count-only="); re[len(re)-1][0] != "!done" {
		t.Fatal(re)
	}
}

// TestRunningBounded: a connection may have maxRunning tagged commands running; one
// more is refused with a trap under its tag, and /cancel makes room again.
func TestRunningBounded(t *testing.T) {
	r := newRig(t)
	cl := r.login(t)
	for i := 0; i < maxRunning; i++ {
		cl.send("/system/script/print", "=follow-only=", ".tag=f"+string(rune('A'+i/26))+string(rune('a'+i%26)))
	}
	cl.send("/system/script/print", "=follow-only=", ".tag=over")
	for {
		re := cl.read()
		if slices.Contains(re, ".tag=over") {
			if re[0] != "!trap" || !slices.Contains(re, "=message=too many running commands (at most 64): cancel one first") {
				t.Fatalf("command past the bound: %v", re)
			}
			break
		}
	}
	cl.send("/cancel", ".tag=c")
	for {
		if re := cl.read(); re[0] == "!done" && slices.Contains(re, ".tag=c") {
			break
		}
	}
	cl.send("/system/script/print", ".tag=after")
	for {
		if re := cl.read(); slices.Contains(re, ".tag=after") {
			if re[0] == "!trap" {
				t.Fatalf("after /cancel: %v", re)
			}
			if re[0] == "!done" {
				break
			}
		}
	}
}
