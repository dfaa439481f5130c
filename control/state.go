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

// SetStatus sets an item's Invalid flag and status text and keeps the rest of its state
// (Props, Running, Active) as it is. An engine that reports on every item each pass
// (10,000 firewall rules while an import runs) writes only the two fields, without the
// two copies of the item's Props that Get and Set would make.
func (s *State) SetStatus(path string, id uint64, invalid bool, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]map[uint64]ItemState{}
	}
	items := s.m[path]
	if items == nil {
		items = map[uint64]ItemState{}
		s.m[path] = items
	}
	st, ok := items[id]
	if ok && st.Invalid == invalid && st.Status == status {
		return
	}
	st.Invalid, st.Status = invalid, status
	items[id] = st
}

// Clear forgets an item (removed from the configuration).
func (s *State) Clear(path string, id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m[path], id)
}
