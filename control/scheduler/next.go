package scheduler

import (
	"fmt"
	"math/big"
	"time"
)

// startupDelay is how long after the start of routerd a start-time=startup item runs
// (02-system-scheduler.txt: "3 seconds after the system startup").
const startupDelay = 3 * time.Second

// plan is the schedule of one item, read from its properties.
type plan struct {
	anchor   time.Time     // first execution (before interval repeats)
	interval time.Duration // 0: once
	startup  bool          // start-time=startup
}

// parsePlan reads start-date, start-time and interval. A missing start-date means
// today and a missing start-time midnight (items stored before the engine filled them
// in on add); both are local time, as RouterOS reads them in its clock's time zone.
func parsePlan(it item, now, started time.Time) (plan, error) {
	var p plan
	if d := it.Interval; d != 0 {
		if d < 0 {
			return p, fmt.Errorf("interval %s: negative", d)
		}
		// The scheduler works in whole seconds as RouterOS's does; a shorter interval
		// would spin the daemon (each run commits the store).
		if d < time.Second {
			d = time.Second
		}
		p.interval = d
	}
	if it.StartTime == "startup" {
		p.startup = true
		p.anchor = started.Add(startupDelay)
		return p, nil
	}
	loc := now.Location()
	y, mo, d := now.In(loc).Date()
	if sd := it.StartDate; sd != "" {
		t, err := time.ParseInLocation("2006-01-02", sd, loc)
		if err != nil {
			return p, fmt.Errorf("start-date %q: %w", sd, err)
		}
		y, mo, d = t.Date()
	}
	var h, mi, s int
	if st := it.StartTime; st != "" {
		if _, err := fmt.Sscanf(st, "%d:%d:%d", &h, &mi, &s); err != nil {
			return p, fmt.Errorf("start-time %q: %w", st, err)
		}
	}
	// time.Date resolves a wall time that a DST change skips or repeats to one instant,
	// which is what a router does with it too: run once.
	p.anchor = time.Date(y, mo, d, h, mi, s, 0, loc)
	return p, nil
}

// first is the first execution at or after from (whole seconds: start-time has no
// fraction, so an item added with start-time "now" is due in the second of its add).
// Without interval an anchor already past never runs; a startup item with an interval
// does not run at startup (02-system-scheduler.txt), only interval after it.
func (p plan) first(from time.Time) (time.Time, bool) {
	from = from.Truncate(time.Second)
	anchor := p.anchor
	if p.startup && p.interval > 0 {
		anchor = anchor.Add(p.interval)
	}
	if !anchor.Before(from) {
		return anchor, true
	}
	if p.interval == 0 {
		return time.Time{}, false
	}
	return p.nextFrom(anchor, from, true), true
}

// after is the execution following a run at now: the first anchor+k*interval strictly
// after now, so that a run delayed past several periods does not make up for them.
func (p plan) after(now time.Time) (time.Time, bool) {
	if p.interval == 0 {
		return time.Time{}, false
	}
	anchor := p.anchor
	if p.startup {
		anchor = anchor.Add(p.interval)
	}
	if anchor.After(now) {
		return anchor, true
	}
	return p.nextFrom(anchor, now, false), true
}

// nextFrom is the occurrence at (inclusive) or after t; anchor is before t. Intervals of
// whole days step in calendar days, so that "every day at 09:00" stays at 09:00 local
// across a daylight-saving change; shorter ones step in elapsed time.
func (p plan) nextFrom(anchor, t time.Time, inclusive bool) time.Time {
	if p.interval%(24*time.Hour) == 0 {
		return p.nextDay(anchor, t, inclusive)
	}
	return p.nextElapsed(anchor, t, inclusive)
}

// nextDay steps whole-day intervals on the calendar of anchor's location.
func (p plan) nextDay(anchor, t time.Time, inclusive bool) time.Time {
	days := int(p.interval / (24 * time.Hour))
	y, m, d := anchor.Date()
	h, mi, s := anchor.Clock()
	at := func(k int) time.Time {
		return time.Date(y, m, d+k*days, h, mi, s, anchor.Nanosecond(), anchor.Location())
	}
	// Day numbers of the two dates; k from their difference is at most one short.
	ty, tm, td := t.In(anchor.Location()).Date()
	diff := int((time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC).Unix() - time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix()) / 86400)
	k := max(diff/days, 0)
	for c := at(k); c.Before(t) || (!inclusive && c.Equal(t)); c = at(k) {
		k++
	}
	return at(k)
}

// nextElapsed is anchor+k*interval for the least k with the result at (inclusive) or after
// t. Computed in big integers: anchors span years 0000-9999 and intervals up to 292
// years, whose products overflow int64 nanoseconds.
func (p plan) nextElapsed(anchor, t time.Time, inclusive bool) time.Time {
	ns := func(x time.Time) *big.Int {
		v := big.NewInt(x.Unix())
		v.Mul(v, big.NewInt(int64(time.Second)))
		return v.Add(v, big.NewInt(int64(x.Nanosecond())))
	}
	diff := new(big.Int).Sub(ns(t), ns(anchor))
	iv := big.NewInt(int64(p.interval))
	k, r := new(big.Int).QuoRem(diff, iv, new(big.Int))
	if r.Sign() != 0 || !inclusive {
		k.Add(k, big.NewInt(1))
	}
	off := k.Mul(k, iv)
	sec, frac := new(big.Int).QuoRem(off, big.NewInt(int64(time.Second)), new(big.Int))
	return time.Unix(anchor.Unix()+sec.Int64(), int64(anchor.Nanosecond())+frac.Int64()).In(anchor.Location())
}

// runTimeFormat is how next-run prints: local date and time as /system clock shows them.
const runTimeFormat = "2006-01-02 15:04:05"
