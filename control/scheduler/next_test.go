package scheduler

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

func TestPlan(t *testing.T) {
	utc := time.UTC
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04:05.999", s, utc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	started := at("2026-03-10 08:00:00.5")
	for _, tc := range []struct {
		props      map[string]string
		now        string
		first      string // "" none
		afterFirst string // following run, "" none
	}{
		{map[string]string{"start-date": "2026-03-10", "start-time": "08:00:00"}, "2026-03-10 08:00:00.9",
			"2026-03-10 08:00:00", ""},
		{map[string]string{"start-date": "2026-03-10", "start-time": "07:59:59"}, "2026-03-10 08:00:00.9", "", ""},
		{map[string]string{"start-date": "2026-03-10", "start-time": "07:00:00", "interval": "25m"}, "2026-03-10 08:00:00.9",
			"2026-03-10 08:15:00", "2026-03-10 08:40:00"},
		{map[string]string{"start-date": "2026-03-01", "start-time": "09:00:00", "interval": "1w"}, "2026-03-10 08:00:00",
			"2026-03-15 09:00:00", "2026-03-22 09:00:00"},
		{map[string]string{"start-date": "2026-03-10", "start-time": "08:00:00", "interval": "10ms"}, "2026-03-10 08:00:00.9",
			"2026-03-10 08:00:00", "2026-03-10 08:00:01"},
		// Without a date or time: today, midnight.
		{map[string]string{"interval": "1h"}, "2026-03-10 08:30:00", "2026-03-10 09:00:00", "2026-03-10 10:00:00"},
		{map[string]string{"start-time": "startup"}, "2026-03-10 08:00:00.5", "2026-03-10 08:00:03.5", ""},
		{map[string]string{"start-time": "startup"}, "2026-03-10 08:00:04", "", ""},
		{map[string]string{"start-time": "startup", "interval": "10s"}, "2026-03-10 08:00:00.5",
			"2026-03-10 08:00:13.5", "2026-03-10 08:00:23.5"},
		// Extremes of the types: year 0000 with long intervals (in calendar days, and in
		// hours, whose products overflow int64 nanoseconds), and year 9999. Expected
		// values computed with Python's datetime.
		{map[string]string{"start-date": "0000-01-01", "start-time": "00:00:00", "interval": "292w"}, "2026-03-10 08:00:00",
			"2031-06-14 00:00:00", "2037-01-17 00:00:00"},
		{map[string]string{"start-date": "0000-01-01", "start-time": "00:00:00", "interval": "2562047h"}, "2026-03-10 08:00:00",
			"2045-12-08 17:00:00", "2338-03-20 16:00:00"},
		{map[string]string{"start-date": "9999-12-31", "start-time": "23:59:59", "interval": "1d"}, "2026-03-10 08:00:00",
			"9999-12-31 23:59:59", "10000-01-01 23:59:59"},
	} {
		now := at(tc.now)
		p, err := parsePlan(decoded(t, tc.props), now, started)
		if err != nil {
			t.Errorf("%v: %v", tc.props, err)
			continue
		}
		f, ok := p.first(now)
		if got := fmtRun(f, ok); got != tc.first {
			t.Errorf("%v at %s: first %s; want %s", tc.props, tc.now, got, tc.first)
			continue
		}
		if !ok {
			continue
		}
		n, ok := p.after(f)
		if got := fmtRun(n, ok); got != tc.afterFirst {
			t.Errorf("%v: after %s: %s; want %s", tc.props, tc.first, got, tc.afterFirst)
		}
	}
}

func fmtRun(t time.Time, ok bool) string {
	if !ok {
		return ""
	}
	if t.Year() > 9999 {
		return fmt.Sprintf("%d-%s", t.Year(), t.Format("01-02 15:04:05.999"))
	}
	return t.Format("2006-01-02 15:04:05.999")
}

// FuzzPlan feeds schema-valid property values and clocks to the plan: it must never
// panic, the first run is never before the present second, and every following run is
// after the one before.
func FuzzPlan(f *testing.F) {
	f.Add("2026-03-10", "08:00:00", "1h", int64(0), int64(0))
	f.Add("jan/01/0000", "startup", "0s", int64(1e18), int64(5e17))
	f.Add("9999-12-31", "23:59:59", "292w", int64(-1e18), int64(3))
	f.Add("2026-03-08", "02:30:00", "1d", int64(0), int64(0))
	date, tod, dur := value.Date(), value.OneOf(value.Enum("startup"), value.TimeOfDay()), value.Time(0, 1<<62)
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("x", -5*3600)
	}
	f.Fuzz(func(t *testing.T, d, st, iv string, nowNs, startedNs int64) {
		props := map[string]string{}
		for name, v := range map[string]struct {
			typ value.Type
			in  string
		}{"start-date": {date, d}, "start-time": {tod, st}, "interval": {dur, iv}} {
			if c, err := v.typ.Parse(v.in); err == nil {
				props[name] = c
			}
		}
		now := time.Unix(0, nowNs).In(ny)
		p, err := parsePlan(decoded(t, props), now, time.Unix(0, startedNs).In(ny))
		if err != nil {
			t.Fatalf("schema-valid %v: %v", props, err)
		}
		n, ok := p.first(now)
		if !ok {
			return
		}
		if n.Before(now.Truncate(time.Second)) {
			t.Fatalf("%v at %v: first %v is in the past", props, now, n)
		}
		for range 3 {
			m, ok := p.after(n)
			if !ok {
				return
			}
			if !m.After(n) {
				t.Fatalf("%v: %v follows %v", props, m, n)
			}
			n = m
		}
	})
}

// decoded is a scheduler item with props, decoded through the menu's schema as the engine
// decodes it.
func decoded(t testing.TB, props map[string]string) item {
	t.Helper()
	m, ok := defaultTree().Get(Path)
	if !ok {
		t.Fatalf("no menu %s", Path)
	}
	var it item
	if err := engine.Decode(m, store.Item{Props: props}, &it); err != nil {
		t.Fatalf("%v: %v", props, err)
	}
	return it
}

var defaultTree = sync.OnceValue(menu.Default)
