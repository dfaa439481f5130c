package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	tests := []struct {
		size, add int
		wantFirst uint64
		wantLen   int
	}{
		{size: 3, add: 0, wantLen: 0},
		{size: 3, add: 2, wantFirst: 1, wantLen: 2},
		{size: 3, add: 3, wantFirst: 1, wantLen: 3},
		{size: 3, add: 7, wantFirst: 5, wantLen: 3},
		{size: 0, add: 1005, wantFirst: 6, wantLen: DefaultSize},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d", tt.size, tt.add), func(t *testing.T) {
			b := New(tt.size)
			for i := 0; i < tt.add; i++ {
				b.Add([]string{"system", "info"}, fmt.Sprint("m", i+1))
			}
			es := b.Entries()
			if len(es) != tt.wantLen {
				t.Fatalf("len = %d, want %d", len(es), tt.wantLen)
			}
			for i, e := range es {
				id := tt.wantFirst + uint64(i)
				if e.ID != id || e.Message != fmt.Sprint("m", id) {
					t.Errorf("entry %d = %d %q, want %d m%d", i, e.ID, e.Message, id, id)
				}
			}
		})
	}
}

func TestAddCopiesTopics(t *testing.T) {
	b := New(2)
	ts := []string{"script", "info"}
	b.Add(ts, "x")
	ts[0] = "changed"
	if got := b.Entries()[0].Topics[0]; got != "script" {
		t.Errorf("topics aliased the caller's slice: %q", got)
	}
}

func TestConcurrentAdd(t *testing.T) {
	b := New(100)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				b.Add(nil, "x")
				_ = b.Entries()
			}
		}()
	}
	wg.Wait()
	es := b.Entries()
	if len(es) != 100 || es[99].ID != 4000 {
		t.Fatalf("got %d entries, last id %d", len(es), es[len(es)-1].ID)
	}
	for i := 1; i < len(es); i++ {
		if es[i].ID != es[i-1].ID+1 {
			t.Fatalf("ids not consecutive at %d: %d after %d", i, es[i].ID, es[i-1].ID)
		}
	}
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name       string
		log        func(l *slog.Logger)
		wantTopics string // "" = not buffered
		wantMsg    string
		notInNext  string
	}{
		{name: "info", log: func(l *slog.Logger) { l.Info("routerd started", "version", "0.1") },
			wantTopics: "system,info", wantMsg: "routerd started version=0.1"},
		{name: "warning", log: func(l *slog.Logger) { l.Warn("bpffs missing", "dir", "/sys/fs/bpf") },
			wantTopics: "system,warning", wantMsg: "bpffs missing dir=/sys/fs/bpf"},
		{name: "error", log: func(l *slog.Logger) { l.Error("boom", "err", "x y") },
			wantTopics: "system,error", wantMsg: `boom err="x y"`},
		{name: "debug not buffered", log: func(l *slog.Logger) { l.Debug("noise") }},
		{name: "explicit topics", log: func(l *slog.Logger) { l.Info("hello", TopicsKey, "script,info") },
			wantTopics: "script,info", wantMsg: "hello"},
		{name: "secrets hidden", log: func(l *slog.Logger) {
			l.Info("peer", "name", "p1", "secret", "hunter2", "pre-shared-key", "hunter2", "Password", "hunter2")
		}, wantTopics: "system,info", wantMsg: "peer name=p1 secret=<hidden> pre-shared-key=<hidden> Password=<hidden>",
			notInNext: "hunter2"},
		{name: "secret in WithAttrs and group", log: func(l *slog.Logger) {
			l.With("psk", "hunter2").WithGroup("ike").Info("sa", slog.Group("auth", "key", "hunter2", "method", "psk"))
		}, wantTopics: "system,info", wantMsg: "sa psk=<hidden> ike.auth.key=<hidden> ike.auth.method=psk",
			notInNext: "hunter2"},
		{name: "topic attribute", log: func(l *slog.Logger) {
			l.With("topic", "ipsec").Info("IKE SA established", "peer", "p1")
		}, wantTopics: "ipsec,info", wantMsg: "IKE SA established peer=p1"},
		{name: "topic attribute error", log: func(l *slog.Logger) {
			l.With("topic", "ipsec").Error("phase1 negotiation failed")
		}, wantTopics: "ipsec,error", wantMsg: "phase1 negotiation failed"},
		{name: "topic attribute warning on record", log: func(l *slog.Logger) {
			l.Warn("radius timeout", "topic", "radius")
		}, wantTopics: "radius,warning", wantMsg: "radius timeout"},
		{name: "topic attribute with level and more topics", log: func(l *slog.Logger) {
			l.With("topic", "system,info,account").Warn("login failure", "user", "admin")
		}, wantTopics: "system,warning,account", wantMsg: "login failure user=admin"},
		{name: "keepalive is not a key", log: func(l *slog.Logger) { l.Info("gre", "keepalive", "10s,10") },
			wantTopics: "system,info", wantMsg: "gre keepalive=10s,10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(10)
			var out bytes.Buffer
			next := slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})
			tt.log(slog.New(b.Handler(next)))
			es := b.Entries()
			if tt.wantTopics == "" {
				if len(es) != 0 {
					t.Fatalf("buffered %+v", es)
				}
			} else {
				if len(es) != 1 {
					t.Fatalf("got %d entries", len(es))
				}
				if got := strings.Join(es[0].Topics, ","); got != tt.wantTopics {
					t.Errorf("topics = %q, want %q", got, tt.wantTopics)
				}
				if es[0].Message != tt.wantMsg {
					t.Errorf("message = %q, want %q", es[0].Message, tt.wantMsg)
				}
			}
			if out.Len() == 0 {
				t.Error("record not passed to next")
			}
			if tt.notInNext != "" && strings.Contains(out.String(), tt.notInNext) {
				t.Errorf("secret reached next: %s", out.String())
			}
		})
	}
}

// A stderr handler at warn must not keep info events out of /log, and /log must not get
// a record twice when the handler is wrapped again.
func TestHandlerLevelsAndIdempotence(t *testing.T) {
	b := New(10)
	var out bytes.Buffer
	next := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelWarn})
	h := b.Handler(b.Handler(next))
	l := slog.New(b.Handler(h))
	l.Info("quiet")
	l.Warn("loud")
	if n := len(b.Entries()); n != 2 {
		t.Errorf("buffered %d entries, want 2", n)
	}
	if strings.Contains(out.String(), "quiet") || !strings.Contains(out.String(), "loud") {
		t.Errorf("next got %q", out.String())
	}
}

func TestLevelOf(t *testing.T) {
	tests := map[string]slog.Level{
		"script,info":     slog.LevelInfo,
		"script,warning":  slog.LevelWarn,
		"script,error":    slog.LevelError,
		"critical":        slog.LevelError,
		"script,debug":    slog.LevelDebug,
		"debug,warning":   slog.LevelWarn,
		"":                slog.LevelInfo,
		"ipsec,error,foo": slog.LevelError,
	}
	for in, want := range tests {
		if got := LevelOf(in); got != want {
			t.Errorf("LevelOf(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestSource(t *testing.T) {
	now := time.Date(2024, 6, 6, 15, 22, 31, 0, time.Local)
	b := New(10)
	b.Now = func() time.Time { return now.Add(-25 * time.Hour) }
	b.Add([]string{"system", "info"}, "yesterday")
	b.Now = func() time.Time { return now.Add(-time.Minute) }
	b.Add([]string{"script", "warning"}, "today")
	b.Now = func() time.Time { return now }
	rows, err := b.Source()(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"time": "2024-06-05 14:22:31", "topics": "system,info", "message": "yesterday"},
		{"time": "15:21:31", "topics": "script,warning", "message": "today"},
	}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows", len(rows))
	}
	for i, r := range rows {
		if r.ID != uint64(i+1) {
			t.Errorf("row %d id = %d", i, r.ID)
		}
		for k, v := range want[i] {
			if r.Props[k] != v {
				t.Errorf("row %d %s = %q, want %q", i, k, r.Props[k], v)
			}
		}
	}
}

func TestSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"password": true, "secret": true, "psk": true, "key": true, "private-key": true,
		"ipsec_secret": true, "PSK": true, "keepalive": false, "name": false, "monkey": false,
		"topics": false, "passphrase": true,
	} {
		if got := Secret(name); got != want {
			t.Errorf("Secret(%q) = %v, want %v", name, got, want)
		}
	}
}
