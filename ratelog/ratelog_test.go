package ratelog

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var words = Words{Summary: "test: lines not logged (rate limit)", More: "more"}

// TestOneSourceOneKind: a source's repeats leave one line an interval, the next one
// counting the rest; another kind from the same source has a line of its own.
func TestOneSourceOneKind(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	clock := time.Unix(1e9, 0)
	g := &Log{Now: func() time.Time { return clock }}
	from := netip.MustParseAddr("198.18.0.2")
	for range 1000 {
		g.Write(l, words, slog.LevelWarn, from, "a", "failure a")
		g.Write(l, words, slog.LevelInfo, from, "b", "failure b")
	}
	if out := buf.String(); strings.Count(out, "\n") != 2 || !strings.Contains(out, "level=INFO msg=\"failure b\"") {
		t.Fatalf("2000 lines of two kinds from one source:\n%s", out)
	}
	clock = clock.Add(Interval)
	buf.Reset()
	g.Write(l, words, slog.LevelWarn, from, "a", "failure a")
	if out := buf.String(); !strings.Contains(out, "more=999") {
		t.Fatalf("after an interval:\n%s", out)
	}
}

// TestSpoofedSources: many sources share one budget; what is over is summed into one
// line in the next interval.
func TestSpoofedSources(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, nil))
	clock := time.Unix(1e9, 0)
	g := &Log{Now: func() time.Time { return clock }}
	for i := range 5000 {
		g.Write(l, words, slog.LevelWarn, netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), "", "junk")
	}
	if n := strings.Count(buf.String(), "\n"); n != MaxLines {
		t.Fatalf("%d lines for 5000 sources, want %d", n, MaxLines)
	}
	clock = clock.Add(Interval)
	g.Write(l, words, slog.LevelWarn, netip.MustParseAddr("198.18.0.9"), "", "junk")
	if out := buf.String(); !strings.Contains(out, "rate limit") || !strings.Contains(out, "count=4980") {
		t.Fatalf("no summary of the 4980 lines not logged:\n%s", out)
	}
	if len(g.srcs) > MaxSources {
		t.Errorf("%d sources remembered", len(g.srcs))
	}
}
