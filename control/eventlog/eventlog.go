// Package eventlog is the /log buffer: the last N events of the daemon and of scripts,
// kept in memory as RouterOS keeps its "memory" log action, and lost on restart.
//
// Daemon events reach it through a slog.Handler wrapper, so one slog call goes both to
// stderr (journald) and to /log; :log in scripts reaches it through the same handler with
// explicit topics.
//
// /system logging rules (topics, prefix, regex) route entries to /system logging action
// targets: memory, disk files, echo, and a remote syslog server over UDP or TCP in
// RouterOS 7's remote-log-format default, syslog (RFC 3164) or cef.
package eventlog

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/routerd/routerd/control"
)

// DefaultSize is the number of entries kept when New is given no size; RouterOS keeps
// 1000 lines in memory by default.
const DefaultSize = 1000

// Entry is one logged event.
type Entry struct {
	ID      uint64
	Time    time.Time
	Topics  []string
	Message string
}

// Buffer is a fixed-size ring of entries, safe for concurrent use.
type Buffer struct {
	mu    sync.Mutex
	ring  []Entry
	start int // index of the oldest entry
	n     int // entries held
	last  uint64
	// stopOnFull: a full ring drops new entries (memory-stop-on-full).
	stopOnFull bool
	// route is /system logging compiled (DefaultConfig until SetConfig).
	route     *router
	wantDebug atomic.Bool

	// Now is the clock (tests replace it).
	Now func() time.Time
	// Echo receives the entries of echo actions (nil: standard error).
	Echo io.Writer
}

// New makes a buffer holding the last size entries (DefaultSize when size <= 0).
func New(size int) *Buffer {
	if size <= 0 {
		size = DefaultSize
	}
	b := &Buffer{ring: make([]Entry, size), Now: time.Now}
	b.route = defaultRouter(b)
	return b
}

// resize keeps the newest n entries in a ring of n (memory-lines).
func (b *Buffer) resize(n int, stopOnFull bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopOnFull = stopOnFull
	if n == len(b.ring) {
		return
	}
	keep := min(n, b.n)
	ring := make([]Entry, n)
	for i := 0; i < keep; i++ {
		ring[i] = b.ring[(b.start+b.n-keep+i)%len(b.ring)]
	}
	b.ring, b.start, b.n = ring, 0, keep
}

// Add appends an entry, dropping the oldest when the buffer is full.
func (b *Buffer) Add(topics []string, msg string) {
	t := b.Now()
	topics = append([]string(nil), topics...)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopOnFull && b.n == len(b.ring) {
		return
	}
	b.last++
	// Messages carry users' strings (a login name, :log text); a newline or ESC in
	// them must not forge a line of /log or drive the reader's terminal.
	e := Entry{ID: b.last, Time: t, Topics: topics, Message: control.Printable(msg)}
	if b.n < len(b.ring) {
		b.ring[(b.start+b.n)%len(b.ring)] = e
		b.n++
		return
	}
	b.ring[b.start] = e
	b.start = (b.start + 1) % len(b.ring)
}

// Entries returns the held entries, oldest first.
func (b *Buffer) Entries() []Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Entry, b.n)
	for i := range out {
		out[i] = b.ring[(b.start+i)%len(b.ring)]
	}
	return out
}

// Source returns the rows of the /log menu: one per entry, the entry id as item id.
func (b *Buffer) Source() control.Source {
	return func(ctx context.Context, _ *control.Session) ([]control.Row, error) {
		es := b.Entries()
		now := b.Now()
		rows := make([]control.Row, len(es))
		for i, e := range es {
			rows[i] = control.Row{
				ID: e.ID,
				Props: map[string]string{
					"time":    FormatTime(e.Time, now),
					"topics":  strings.Join(e.Topics, ","),
					"message": e.Message,
				},
				Keys: []string{"time", "topics", "message"},
			}
		}
		return rows, nil
	}
}

// FormatTime renders an entry's time as RouterOS log lines do: only the clock for today,
// the full date and time otherwise.
func FormatTime(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04:05")
	}
	return t.Format("2006-01-02 15:04:05")
}
