package bmca

import (
	"time"

	"github.com/routerd/routerd/ptp/msg"
)

// Foreign master qualification constants (clause 9.3.2.4.6).
const (
	ForeignMasterWindow    = 4 // announce intervals
	ForeignMasterThreshold = 2 // Announce messages within the window
)

// Foreign holds one port's foreign master records (clause 9.3.2.4).
type Foreign struct {
	recs map[msg.PortIdentity]*record
}

type record struct {
	seen []time.Time
	last *msg.Announce
}

// Add records an Announce received at now. window is FOREIGN_MASTER_TIME_WINDOW in
// time (4 × the sender's announce interval).
func (f *Foreign) Add(a *msg.Announce, now time.Time, window time.Duration) {
	if f.recs == nil {
		f.recs = map[msg.PortIdentity]*record{}
	}
	r := f.recs[a.SourcePort]
	if r == nil {
		r = &record{}
		f.recs[a.SourcePort] = r
	}
	r.seen = append(prune(r.seen, now, window), now)
	r.last = a
}

func prune(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > window {
		i++
	}
	return ts[i:]
}

// Qualified returns the latest Announce of each foreign master that sent at least
// FOREIGN_MASTER_THRESHOLD messages within the window; the current parent qualifies on
// its latest message alone (clause 9.3.2.5 d: a port keeps listening to its master).
// Records with nothing in the window are dropped.
func (f *Foreign) Qualified(now time.Time, window time.Duration, parent msg.PortIdentity) []*msg.Announce {
	var out []*msg.Announce
	for id, r := range f.recs {
		r.seen = prune(r.seen, now, window)
		switch {
		case len(r.seen) == 0:
			delete(f.recs, id)
		case len(r.seen) >= ForeignMasterThreshold || id == parent:
			out = append(out, r.last)
		}
	}
	return out
}

// Clear drops every record (announce receipt timeout, port leaving service).
func (f *Foreign) Clear() { f.recs = nil }

// Len is the number of records.
func (f *Foreign) Len() int { return len(f.recs) }

// Acceptable reports whether a port may qualify an Announce at all (clause 9.3.2.5):
// not from a port of this clock, not with stepsRemoved 255 or more, and in the domain.
func Acceptable(a *msg.Announce, self msg.ClockIdentity, domain uint8) bool {
	return a.SourcePort.Clock != self && a.StepsRemoved < 255 && a.Domain == domain
}

// Best returns the index of the best of the data sets under cmp, -1 for none.
func Best(cmp Comparison, ds []Dataset) int {
	best := -1
	for i := range ds {
		if best < 0 || cmp(&ds[i], &ds[best]).AWins() {
			best = i
		}
	}
	return best
}
