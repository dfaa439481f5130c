package control

import (
	"strconv"
	"sync"
	"testing"
)

// TestStateConcurrentCounters: engines refresh counters by Get, change Props, Set, while
// prints range over an item's Props; each side works on its own map (QA: four API clients
// printing /ip firewall filter crashed routerd with "concurrent map writes"). Run with
// -race (make test-race); without the copies the runtime itself usually aborts.
func TestStateConcurrentCounters(t *testing.T) {
	var s State
	s.Set("/ip/firewall/filter", 1, ItemState{Props: map[string]string{"bytes": "0"}})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				st, _ := s.Get("/ip/firewall/filter", 1)
				st.Props["bytes"] = strconv.Itoa(i)
				st.Props["w"+strconv.Itoa(w)] = "x"
				s.Set("/ip/firewall/filter", 1, st)
			}
		}()
		go func() {
			defer wg.Done()
			for range 2000 {
				st, _ := s.Get("/ip/firewall/filter", 1)
				n := 0
				for k, v := range st.Props {
					n += len(k) + len(v)
				}
				_ = n
			}
		}()
	}
	wg.Wait()
	if st, _ := s.Get("/ip/firewall/filter", 1); st.Props["bytes"] == "" {
		t.Fatal("the counter was lost")
	}
}
