package ipsec

import (
	"time"

	"github.com/routerd/routerd/control/engine"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// profileItem is an /ip ipsec profile as the engine applies it (engine.Decode).
type profileItem struct {
	Name          string        `prop:"name"`
	DHGroup       []string      `prop:"dh-group"`
	DPDInterval   string        `prop:"dpd-interval"` // disable-dpd or a duration
	DPDMax        int           `prop:"dpd-maximum-failures"`
	EncAlgorithm  []string      `prop:"enc-algorithm"`
	HashAlgorithm string        `prop:"hash-algorithm"`
	Lifebytes     uint64        `prop:"lifebytes"`
	Lifetime      time.Duration `prop:"lifetime"`
	NATTraversal  bool          `prop:"nat-traversal"`
	PRFAlgorithm  string        `prop:"prf-algorithm"`
	ProposalCheck string        `prop:"proposal-check"`
}

// proposalItem is an /ip ipsec proposal as the engine applies it.
type proposalItem struct {
	Name           string        `prop:"name"`
	Disabled       bool          `prop:"disabled"`
	AuthAlgorithms []string      `prop:"auth-algorithms"`
	EncAlgorithms  []string      `prop:"enc-algorithms"`
	Lifetime       time.Duration `prop:"lifetime"`
	PFSGroup       string        `prop:"pfs-group"`
}

// TypedItems names the structs the engine decodes menus into (engine.Typed); the menus
// not listed are still read as property maps.
func TypedItems() map[string]any {
	return map[string]any{ProfilePath: profileItem{}, ProposalPath: proposalItem{}}
}

// TypedItems is TypedItems (engine.Typed).
func (e *Engine) TypedItems() map[string]any { return TypedItems() }

// decodeAll decodes the items of one menu into T; an item that does not decode is marked
// invalid with the reason (e.mu held) and left out.
func decodeAll[T any](e *Engine, path string, m *menu.Menu, its []store.Item) ([]T, []uint64) {
	var out []T
	var ids []uint64
	for _, it := range its {
		var v T
		if err := engine.Decode(m, it, &v); err != nil {
			e.bad(path, it.ID, err)
			continue
		}
		out = append(out, v)
		ids = append(ids, it.ID)
	}
	return out, ids
}
