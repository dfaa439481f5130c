package tunnel

import (
	"slices"
	"strconv"
	"testing"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/dataplane"
)

// TestCounterNames: the counters the engine reports are exactly the stats columns each
// tunnel menu declares (a drop reason added to the dataplane needs its column), and
// rx-drop and tx-drop add up the reasons by direction.
func TestCounterNames(t *testing.T) {
	s := dataplane.Stats{RxPackets: 1, RxBytes: 2, TxPackets: 3, TxBytes: 4}
	var sum uint64
	for i := range s.Drops {
		s.Drops[i] = uint64(10 << i)
		sum += s.Drops[i]
	}
	p := counterProps(s)
	tree := menu.Default()
	for _, tm := range Menus {
		m, ok := tree.Get(tm.Path)
		if !ok {
			t.Fatalf("%s not declared", tm.Path)
		}
		for k := range p {
			if !slices.Contains(m.Stats, k) {
				t.Errorf("%s: counter %s is no stats column", tm.Path, k)
			}
		}
		for _, k := range m.Stats {
			if _, ok := p[k]; !ok {
				t.Errorf("%s: stats column %s is not reported", tm.Path, k)
			}
		}
	}
	mal := slices.Index(dataplane.DropReasons, "malformed")
	clear := slices.Index(dataplane.DropReasons, "cleartext")
	if mal < 0 || clear < 0 {
		t.Fatal("no malformed or cleartext drop reason")
	}
	rx := s.Drops[mal] + s.Drops[clear]
	if p["rx-drop"] != strconv.FormatUint(rx, 10) || p["tx-drop"] != strconv.FormatUint(sum-rx, 10) {
		t.Errorf("rx-drop %s tx-drop %s from %v", p["rx-drop"], p["tx-drop"], s.Drops)
	}
	if p["rx-byte"] != "2" || p["tx-packet"] != "3" {
		t.Errorf("counters %v", p)
	}
}
