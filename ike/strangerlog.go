package ike

import (
	"log/slog"
	"net/netip"

	"github.com/routerd/routerd/ratelog"
)

// StrangerLogInterval is how often one source's unauthenticated failures (an
// IKE_SA_INIT from an address no peer covers, proposals refused, authentication
// failed) of one kind are logged: anyone who reaches UDP 500 can send them by the
// thousand. The statistics count every one.
const StrangerLogInterval = ratelog.Interval

const strangerLines = ratelog.MaxLines // lines per interval for all sources together

// strangerLog rate-limits the log lines of failures a stranger can cause (package
// ratelog), as the RADIUS server's dropped-datagram log does. A kind is the message
// and its reason: an operator who tries one bad certificate and then another sees why
// each was refused.
type strangerLog struct{ ratelog.Log }

var strangerWords = ratelog.Words{Summary: "ipsec: unauthenticated failures not logged (rate limit)", More: "more-not-logged"}

func (s *strangerLog) log(l *slog.Logger, level slog.Level, from netip.Addr, msg string, args ...any) {
	kind := msg
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "reason" {
			r, _ := args[i+1].(string)
			kind += "\x00" + r
		}
	}
	s.Write(l, strangerWords, level, from, kind, msg, args...)
}
