package ike

import (
	"log/slog"
	"net/netip"
)

// rosLogFrom logs one of RouterOS's words for a failure anyone who reaches UDP 500 can
// cause before Phase 1 authenticates (no proposal, rejected transforms, no identity,
// wrong key, bad signature): through the per-source limiter the IKEv2 engine's
// unauthenticated failures take (strangerlog.go), so a flood of forged Main Mode
// messages leaves a source's first line of each kind and a count, not a /log wiped
// clean. The statistics still count every one.
func (d *Daemon) rosLogFrom(from netip.Addr, level slog.Level, msg string) {
	topic := "ipsec,error"
	if level < slog.LevelWarn {
		topic = "ipsec,info"
	}
	d.strangers.log(d.log, level, from, msg, "topics", topic)
}
