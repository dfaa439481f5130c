package ipsec

import (
	"sync"

	"github.com/routerd/routerd/ike/esp"
)

// espTraffic is one SA's or one direction's byte and packet count.
type espTraffic struct{ bytes, packets uint64 }

// espTotals makes the ESP traffic metrics counters: what SAs carried never goes back
// when they are removed (rekeys every few minutes) or when the data path restarts an
// SA's counters (the kernel path's MoveSA). Each SA's last known count is kept; a
// removed SA's count moves to its direction's retired total, read just before the
// adapter deletes it, or from the last scrape when the data path removed it itself
// (hard expiry).
type espTotals struct {
	mu      sync.Mutex
	live    map[esp.Key]espSA
	retired [2]espTraffic // by dirIndex
}

type espSA struct {
	dir int
	t   espTraffic
}

func dirIndex(d esp.Direction) int {
	if d == esp.DirOut {
		return 1
	}
	return 0
}

func newESPTotals() *espTotals { return &espTotals{live: map[esp.Key]espSA{}} }

// observe records an SA's counters; a count lower than the last (the data path
// restarted it) retires the last first.
func (t *espTotals) observe(k esp.Key, d esp.Direction, c esp.SACounters) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.observeLocked(k, dirIndex(d), espTraffic{c.Bytes, c.Packets})
}

func (t *espTotals) observeLocked(k esp.Key, dir int, now espTraffic) {
	if old, ok := t.live[k]; ok && (now.bytes < old.t.bytes || now.packets < old.t.packets) {
		t.retired[old.dir].bytes += old.t.bytes
		t.retired[old.dir].packets += old.t.packets
	}
	t.live[k] = espSA{dir, now}
}

// retire moves an SA's last count to its direction's total (the SA is going).
func (t *espTotals) retire(k esp.Key) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.retireLocked(k)
}

func (t *espTotals) retireLocked(k esp.Key) {
	if old, ok := t.live[k]; ok {
		t.retired[old.dir].bytes += old.t.bytes
		t.retired[old.dir].packets += old.t.packets
		delete(t.live, k)
	}
}

// retireRead reads an SA's counters from dp and retires it: the adapter calls it just
// before deleting the SA, so the traffic since the last scrape is counted too.
func (t *espTotals) retireRead(dp esp.Datapath, k esp.Key, d esp.Direction) {
	if t == nil {
		return
	}
	if c, err := dp.Counters(k); err == nil {
		t.observe(k, d, c)
	}
	t.retire(k)
}

// espSeen is one SA a scrape read.
type espSeen struct {
	key esp.Key
	dir esp.Direction
	c   esp.SACounters
}

// totals takes a scrape's SAs: those no longer there are retired (the data path removed
// them), and the totals by direction (in, out) are returned.
func (t *espTotals) totals(seen []espSeen) [2]espTraffic {
	t.mu.Lock()
	defer t.mu.Unlock()
	present := make(map[esp.Key]bool, len(seen))
	for _, s := range seen {
		t.observeLocked(s.key, dirIndex(s.dir), espTraffic{s.c.Bytes, s.c.Packets})
		present[s.key] = true
	}
	for k := range t.live {
		if !present[k] {
			t.retireLocked(k)
		}
	}
	out := t.retired
	for _, s := range t.live {
		out[s.dir].bytes += s.t.bytes
		out[s.dir].packets += s.t.packets
	}
	return out
}
