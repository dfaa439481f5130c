package radius

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// DropLogInterval is how often one source's dropped datagrams are logged: the first,
// then one line per interval carrying how many went unlogged meanwhile. Anyone who
// reaches the RADIUS ports can send junk, and /log keeps a fixed number of lines.
const DropLogInterval = time.Minute

const (
	// dropLogLines bounds the lines per interval for all sources together (spoofed
	// sources are free); what is over is summed into one summary line.
	dropLogLines = 20
	// dropLogSources bounds the sources remembered.
	dropLogSources = 1024
)

// dropLog rate-limits the log lines of dropped datagrams; the drops themselves are
// counted by the caller (ServerStats, ClientStats) whether logged or not.
type dropLog struct {
	mu     sync.Mutex
	now    func() time.Time // time.Now; tests move it
	window time.Time        // start of the current interval
	lines  int              // lines logged in it
	hidden int              // drops of sources no longer tracked, not logged yet
	srcs   map[netip.Addr]*dropSrc
}

type dropSrc struct {
	logged time.Time // when this source's last line was logged
	more   int       // drops since, not logged
}

// drop logs msg for a datagram dropped from from, unless one from the same source was
// logged less than DropLogInterval ago; a logged line says how many were not.
func (d *dropLog) drop(l *slog.Logger, from netip.Addr, msg string, args ...any) {
	d.mu.Lock()
	now := time.Now()
	if d.now != nil {
		now = d.now()
	}
	if d.srcs == nil {
		d.srcs = map[netip.Addr]*dropSrc{}
	}
	summary := 0
	if now.Sub(d.window) >= DropLogInterval {
		d.window, d.lines = now, 0
		// A source still dropping gets its count on its next line; when many are
		// tracked (a spoofed flood), their counts go into the summary instead.
		crowded := len(d.srcs) >= dropLogSources/2
		for a, e := range d.srcs {
			if now.Sub(e.logged) >= DropLogInterval && (e.more == 0 || crowded) {
				d.hidden += e.more
				delete(d.srcs, a)
			}
		}
		summary, d.hidden = d.hidden, 0
		if summary > 0 {
			d.lines++
		}
	}
	e := d.srcs[from]
	switch {
	case e != nil && now.Sub(e.logged) < DropLogInterval:
		e.more++
		msg = ""
	case d.lines >= dropLogLines || (e == nil && len(d.srcs) >= dropLogSources):
		if e != nil {
			e.more++
		} else {
			d.hidden++
		}
		msg = ""
	default:
		if e == nil {
			e = &dropSrc{}
			d.srcs[from] = e
		}
		if e.more > 0 {
			args = append(args, "more-dropped", e.more)
		}
		e.logged, e.more = now, 0
		d.lines++
	}
	d.mu.Unlock()
	if summary > 0 {
		l.Warn("radius: datagrams dropped without a log line (rate limit)", "count", summary, "interval", DropLogInterval.String())
	}
	if msg != "" {
		l.Warn(msg, args...)
	}
}
