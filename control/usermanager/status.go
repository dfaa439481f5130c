package usermanager

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/value"
)

// sessionRows is /user-manager session print.
func (e *Engine) sessionRows(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	m, _ := e.ex.Tree.Get(SessionPath)
	e.mu.Lock()
	defer e.mu.Unlock()
	rows := make([]control.Row, 0, len(e.sessions))
	for i, s := range e.sessions {
		p := map[string]string{
			"user": s.user, "nas-ip-address": s.nasAddr, "nas-port-id": s.port, "calling-station-id": s.caller,
			"user-address": s.addr, "acct-session-id": s.acctID, "started": s.started.Format(time.DateTime),
			"uptime": value.FormatDuration(s.uptime), "download": strconv.FormatUint(s.out, 10),
			"upload": strconv.FormatUint(s.in, 10), "status": s.status,
		}
		flags := ""
		if s.ended.IsZero() {
			flags = "A"
		} else {
			p["ended"] = s.ended.Format(time.DateTime)
			p["terminate-cause"] = s.cause
		}
		if !s.lastAcct.IsZero() {
			p["last-accounting-packet"] = s.lastAcct.Format(time.DateTime)
		}
		rows = append(rows, control.Row{ID: uint64(i + 1), Menu: m, Props: p, Flags: flags})
	}
	return rows, nil
}

// monitorRows is /user-manager monitor print: answers per method.
func (e *Engine) monitorRows(ctx context.Context, sess *control.Session) ([]control.Row, error) {
	m, _ := e.ex.Tree.Get(MonitorPath)
	e.mu.Lock()
	defer e.mu.Unlock()
	methods := make([]string, 0, len(e.counts))
	for k := range e.counts {
		methods = append(methods, k)
	}
	slices.Sort(methods)
	var rows []control.Row
	for i, k := range methods {
		c := e.counts[k]
		rows = append(rows, control.Row{ID: uint64(i + 1), Menu: m, Props: map[string]string{
			"method": k, "accepts": strconv.FormatInt(c[0], 10), "rejects": strconv.FormatInt(c[1], 10),
			"challenges": strconv.FormatInt(c[2], 10)}})
	}
	return rows, nil
}
