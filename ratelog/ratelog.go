package ratelog

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// Interval is how often one source's lines of one kind are logged.
const Interval = time.Minute

const (
	// MaxLines bounds the lines per Interval for all sources together (spoofed
	// sources are free); what is over goes into one summary line.
	MaxLines = 20
	// MaxSources bounds the sources (and kinds) remembered.
	MaxSources = 1024
)

// Words are what a Log writes besides its callers' messages: Summary is the message of
// the line that counts lines not logged, More the attribute by which a source's line
// says how many of its own were not.
type Words struct {
	Summary, More string
}

// Log is one rate-limited log; the zero value is ready.
type Log struct {
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time

	mu     sync.Mutex
	window time.Time // start of the current interval
	lines  int       // lines logged in it
	hidden int       // lines of sources no longer remembered, not counted in a line yet
	srcs   map[key]*source
}

// key is one source's lines of one kind.
type key struct {
	from netip.Addr
	kind string
}

type source struct {
	logged time.Time // when its last line was logged
	more   int       // lines since, not logged
}

// Write logs msg with args at level, unless a line of the same kind from the same
// source was logged less than Interval ago or the interval's budget is spent; a logged
// line says how many of its kind were not. Kinds are apart so that an operator who
// tries one bad certificate and then another sees why each was refused; "" is one
// kind per source.
func (g *Log) Write(l *slog.Logger, w Words, level slog.Level, from netip.Addr, kind, msg string, args ...any) {
	g.mu.Lock()
	now := time.Now()
	if g.Now != nil {
		now = g.Now()
	}
	if g.srcs == nil {
		g.srcs = map[key]*source{}
	}
	summary := 0
	if now.Sub(g.window) >= Interval {
		g.window, g.lines = now, 0
		// A source still failing gets its count on its next line; when many are
		// remembered (a spoofed flood), their counts go into the summary instead.
		crowded := len(g.srcs) >= MaxSources/2
		for k, e := range g.srcs {
			if now.Sub(e.logged) >= Interval && (e.more == 0 || crowded) {
				g.hidden += e.more
				delete(g.srcs, k)
			}
		}
		summary, g.hidden = g.hidden, 0
		if summary > 0 {
			g.lines++
		}
	}
	k := key{from, kind}
	e := g.srcs[k]
	switch {
	case e != nil && now.Sub(e.logged) < Interval:
		e.more++
		msg = ""
	case g.lines >= MaxLines || (e == nil && len(g.srcs) >= MaxSources):
		if e != nil {
			e.more++
		} else {
			g.hidden++
		}
		msg = ""
	default:
		if e == nil {
			e = &source{}
			g.srcs[k] = e
		}
		if e.more > 0 {
			args = append(args, w.More, e.more)
		}
		e.logged, e.more = now, 0
		g.lines++
	}
	g.mu.Unlock()
	if summary > 0 {
		l.Warn(w.Summary, "count", summary, "interval", Interval.String())
	}
	if msg != "" {
		l.Log(context.Background(), level, msg, args...)
	}
}
