package ike

import (
	"log/slog"
	"net/netip"
	"time"
)

// unauthReplyBurst is how many unauthenticated error responses (unauthReply) the
// daemon sends per second, from all sources together: anyone can make it send them.
const unauthReplyBurst = 50

// replyBudget paces the unauthenticated error responses to IKE_SA_INIT requests that
// are refused before any state exists (RFC 7296 2.5: UNSUPPORTED_CRITICAL_PAYLOAD,
// INVALID_MAJOR_VERSION; respondInit's INVALID_SYNTAX, NO_PROPOSAL_CHOSEN and
// INVALID_KE_PAYLOAD; 2.21.4 asks such answers to be rate-limited). It is one budget
// for all sources: the sources of a flood are spoofed, so a budget per source would
// not bound what we send.
type replyBudget struct {
	window time.Time
	sent   int
}

func (r *replyBudget) take(now time.Time) bool {
	if now.Sub(r.window) >= time.Second {
		r.window, r.sent = now, 0
	}
	if r.sent >= unauthReplyBurst {
		return false
	}
	r.sent++
	return true
}

// unauthReply answers an IKE_SA_INIT request h with one unauthenticated notify n in a
// version 2.0 response, creating no state, and logs why at info (rate-limited per
// source). Only requests are answered: never a response, which could loop.
func (d *Daemon) unauthReply(h Header, n *Notify, from, local netip.AddrPort, why string, args ...any) {
	d.strangers.log(d.log, slog.LevelInfo, from.Addr(), "ipsec: IKE_SA_INIT refused: "+why, append([]any{"remote", from}, args...)...)
	if h.IsResponse() || h.Exchange != IKESAInit {
		return
	}
	if !d.replies.take(time.Now()) {
		d.Stats.RepliesPaced.Add(1)
		return
	}
	r := &Message{Header: Header{SPIi: h.SPIi, SPIr: h.SPIr, Version: Version2, Exchange: IKESAInit, Flags: FlagResponse, MsgID: h.MsgID},
		Payloads: []Payload{n}}
	d.logMessage("sending", IKESAInit, true, h.MsgID, r.Payloads, "", local, from)
	d.send(r.Encode(), local, from)
}
