package radius

import (
	"log/slog"
	"net/netip"

	"github.com/routerd/routerd/ratelog"
)

// DropLogInterval is how often one source's dropped datagrams are logged: the first,
// then one line per interval carrying how many went unlogged meanwhile. Anyone who
// reaches the RADIUS ports can send junk.
const DropLogInterval = ratelog.Interval

const dropLogLines = ratelog.MaxLines // lines per interval for all sources together

// dropLog rate-limits the log lines of dropped datagrams (package ratelog), one kind
// per source; the drops themselves are counted by the caller (ServerStats,
// ClientStats) whether logged or not.
type dropLog struct{ ratelog.Log }

var dropWords = ratelog.Words{Summary: "radius: datagrams dropped without a log line (rate limit)", More: "more-dropped"}

// drop logs msg for a datagram dropped from from, unless one from the same source was
// logged less than DropLogInterval ago; a logged line says how many were not.
func (d *dropLog) drop(l *slog.Logger, from netip.Addr, msg string, args ...any) {
	d.Write(l, dropWords, slog.LevelWarn, from, "", msg, args...)
}
