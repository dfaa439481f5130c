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

// TestStateSetStatus: SetStatus changes an item's Invalid and Status and keeps its
// Props, Running and Active; a first SetStatus makes the item's state.
func TestStateSetStatus(t *testing.T) {
	var s State
	const path = "/ip/firewall/filter"
	s.Set(path, 1, ItemState{Running: true, Active: true, Props: map[string]string{"bytes": "7"}})
	s.SetStatus(path, 1, true, "bad")
	st, ok := s.Get(path, 1)
	if !ok || !st.Invalid || st.Status != "bad" || !st.Running || !st.Active || st.Props["bytes"] != "7" {
		t.Fatalf("after SetStatus: %+v, %v", st, ok)
	}
	s.SetStatus(path, 1, false, "")
	if st, _ := s.Get(path, 1); st.Invalid || st.Status != "" || st.Props["bytes"] != "7" || !st.Running {
		t.Fatalf("after clearing: %+v", st)
	}
	s.SetStatus(path, 2, false, "")
	if _, ok := s.Get(path, 2); !ok {
		t.Fatal("SetStatus of an item without state made none")
	}
	s.SetStatus("/ip/firewall/nat", 3, true, "why")
	if st, ok := s.Get("/ip/firewall/nat", 3); !ok || !st.Invalid || st.Status != "why" {
		t.Fatalf("new menu: %+v, %v", st, ok)
	}
}
