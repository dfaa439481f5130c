package ike

import (
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// StrangerLogInterval is how often one source's unauthenticated failures (an
// IKE_SA_INIT from an address no peer covers, proposals refused, authentication
// failed) are logged: anyone who reaches UDP 500 can send them by the thousand, and
// /log keeps a fixed number of lines. The statistics count every one.
const StrangerLogInterval = time.Minute

const (
	strangerLines   = 20   // lines per interval for all sources together
	strangerSources = 1024 // sources remembered
)

// strangerLog rate-limits the log lines of failures a stranger can cause, as the
// RADIUS server's dropped-datagram log does: a source's first line of each kind (message
// and reason), then at most one a minute carrying how many were not logged; spoofed
// sources and varied reasons share one budget. Kinds are apart so that an operator who
// tries one bad certificate and then another sees why each was refused.
type strangerLog struct {
	mu     sync.Mutex
	now    func() time.Time
	window time.Time
	lines  int
	hidden int
	srcs   map[strangerKey]*strangerSrc
}

// strangerKey is one source's failure of one kind.
type strangerKey struct {
	from        netip.Addr
	msg, reason string
}

type strangerSrc struct {
	logged time.Time
	more   int
}

func (s *strangerLog) log(l *slog.Logger, level slog.Level, from netip.Addr, msg string, args ...any) {
	s.mu.Lock()
	now := time.Now()
	if s.now != nil {
		now = s.now()
	}
	if s.srcs == nil {
		s.srcs = map[strangerKey]*strangerSrc{}
	}
	key := strangerKey{from: from, msg: msg}
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "reason" {
			key.reason, _ = args[i+1].(string)
		}
	}
	summary := 0
	if now.Sub(s.window) >= StrangerLogInterval {
		s.window, s.lines = now, 0
		for a, e := range s.srcs {
			if now.Sub(e.logged) >= StrangerLogInterval {
				s.hidden += e.more
				delete(s.srcs, a)
			}
		}
		summary, s.hidden = s.hidden, 0
		if summary > 0 {
			s.lines++
		}
	}
	e := s.srcs[key]
	switch {
	case e != nil && now.Sub(e.logged) < StrangerLogInterval:
		e.more++
		msg = ""
	case s.lines >= strangerLines || (e == nil && len(s.srcs) >= strangerSources):
		s.hidden++
		msg = ""
	default:
		if e == nil {
			e = &strangerSrc{}
			s.srcs[key] = e
		}
		if e.more > 0 {
			args = append(args, "more-not-logged", e.more)
		}
		e.logged, e.more = now, 0
		s.lines++
	}
	s.mu.Unlock()
	if summary > 0 {
		l.Warn("ipsec: unauthenticated failures not logged (rate limit)", "count", summary, "interval", StrangerLogInterval.String())
	}
	if msg != "" {
		l.Log(context.Background(), level, msg, args...)
	}
}
