package ipsec

import (
	"net/netip"
	"testing"

	"github.com/routerd/routerd/ike/esp"
)

// TestESPTotalsMonotonic: the ESP counters never go back: not when an SA goes (read
// before delete, or missing from a scrape), nor when the data path restarts an SA's
// count (the kernel path's MoveSA).
func TestESPTotalsMonotonic(t *testing.T) {
	tot := newESPTotals()
	a := esp.Key{SPI: 1, Dst: netip.MustParseAddr("198.18.0.1")}
	b := esp.Key{SPI: 2, Dst: netip.MustParseAddr("198.18.0.2")}
	c := func(bytes, pkts uint64) esp.SACounters { return esp.SACounters{Bytes: bytes, Packets: pkts} }
	check := func(got [2]espTraffic, in, out uint64) {
		t.Helper()
		if got[0].bytes != in || got[1].bytes != out || got[0].packets != in/100 || got[1].packets != out/100 {
			t.Fatalf("totals %+v, want in %d out %d", got, in, out)
		}
	}
	check(tot.totals([]espSeen{{a, esp.DirIn, c(1000, 10)}, {b, esp.DirOut, c(500, 5)}}), 1000, 500)
	// b is removed by the adapter after 200 more bytes the scrape never saw.
	tot.observe(b, esp.DirOut, c(700, 7))
	tot.retire(b)
	check(tot.totals([]espSeen{{a, esp.DirIn, c(1200, 12)}}), 1200, 700)
	// a's count restarts (moved by delete and add): what it had stays.
	check(tot.totals([]espSeen{{a, esp.DirIn, c(100, 1)}}), 1300, 700)
	// a vanished (hard expiry in the data path): its last count stays.
	check(tot.totals(nil), 1300, 700)
}
