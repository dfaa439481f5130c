package control

import (
	"maps"
	"sync"
)

// ItemState is what an engine reports about an item: flags it controls, read-only
// properties (counters, actual-mtu), and a status text shown by print when the item is not
// applied as configured.
type ItemState struct {
	Running, Invalid, Active bool
	Status                   string
	Props                    map[string]string
}

// State holds runtime state per menu and item, written by engines, read by print.
type State struct {
	mu sync.RWMutex
	m  map[string]map[uint64]ItemState
}

// Set replaces the state of one item. It keeps a copy of st.Props: the caller may go on
// changing its map.
func (s *State) Set(path string, id uint64, st ItemState) {
	st.Props = maps.Clone(st.Props)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[uint64]ItemState{}
	}
	if s.m[path] == nil {
		s.m[path] = map[uint64]ItemState{}
	}
	s.m[path][id] = st
}

// Get reads the state of one item. Its Props are the caller's own copy: engines update a
// counter in what Get returned and Set it back while prints range over the stored map
// (QA: concurrent API prints of /ip firewall filter crashed routerd with "concurrent map
// writes").
func (s *State) Get(path string, id uint64) (ItemState, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st, ok := s.m[path][id]
	st.Props = maps.Clone(st.Props)
	return st, ok
}

// Clear forgets an item (removed from the configuration).
func (s *State) Clear(path string, id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m[path], id)
}
