package firewall

import (
	"fmt"
	"time"

	"github.com/google/nftables"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// address-list-timeout=none-static: in RouterOS the entry a rule adds so is a static
// one, kept in the configuration (print shows it without D, export writes it, it
// survives a restart); none-dynamic adds a dynamic entry without timeout. The kernel can
// only add to a set from a rule, so a none-static rule adds to the list's dynamic set
// with keepTimeout, a timeout no configuration gives (RouterOS's longest is 35w3d13:13:56),
// and the engine's one-second timer turns each such element into a configured entry of
// the list (promoteKept). The element matches meanwhile; once a pass has put the entry
// into the configured set, the element is deleted, so removing the entry later removes
// the address. The kernel keeps timeouts in jiffies: the value read back is compared in
// whole seconds (kept).
const keepTimeout = 3650*24*time.Hour + 7*time.Second

// kept reports whether a dynamic entry was added by a none-static rule.
func kept(d DynamicEntry) bool { return d.Timeout.Round(time.Second) == keepTimeout }

// promoteKept adds the addresses none-static rules added to the configuration, and
// deletes from the kernel's dynamic sets those a pass has applied as configured entries.
func (e *Engine) promoteKept(v6 bool) {
	e.mu.Lock()
	any := e.keepRules[v6] || len(e.keeping) > 0
	e.mu.Unlock()
	if !any { // nothing to read the kernel's sets for every second
		return
	}
	ds, err := e.k.Dynamic(v6)
	if err != nil {
		return
	}
	var keep []DynamicEntry
	for _, d := range ds {
		if kept(d) {
			keep = append(keep, d)
		}
	}
	if len(keep) == 0 {
		return
	}
	path := listPath(v6)
	items, err := e.ex.Items(path)
	if err != nil {
		return
	}
	have := map[string]bool{}
	for _, it := range items {
		if a, ok := hostAddr(it.Props["address"]); ok {
			have[it.Props["list"]+"/"+a.String()] = true
		}
	}
	var add, done []DynamicEntry
	e.mu.Lock()
	applied := e.appliedGen[v6]
	for _, d := range keep {
		k := keepKey(v6, d)
		switch g, pending := e.keeping[k]; {
		case !have[d.List+"/"+d.Addr.String()]:
			add = append(add, d)
		case !pending || applied > g:
			// A pass that began after the entry was added has applied it (or the entry
			// was there before this run): the configured set holds the address.
			done = append(done, d)
			delete(e.keeping, k)
		}
	}
	gen := e.passGen
	e.mu.Unlock()
	if len(add) > 0 {
		err := e.ex.Update(nil, func(tx *store.Tx) ([]control.Change, error) {
			var chs []control.Change
			for _, d := range add {
				id, err := tx.NextID(path)
				if err != nil {
					return nil, err
				}
				if err := tx.Put(path, store.Item{ID: id, Props: map[string]string{"list": d.List, "address": d.Addr.String()}}, 0); err != nil {
					return nil, err
				}
				chs = append(chs, control.Change{Path: path, ID: id, Op: "add"})
			}
			return chs, nil
		})
		e.setListErr(v6, "none-static", err, "none-static address-list entries not saved")
		if err != nil {
			return // the elements stay in the dynamic set: tried again next tick
		}
		e.mu.Lock()
		for _, d := range add {
			e.keeping[keepKey(v6, d)] = gen
		}
		e.mu.Unlock()
	}
	if len(done) > 0 {
		// Refused, the elements are found again next tick and deleted then.
		e.setListErr(v6, "none-static-delete", e.k.DeleteDynamic(v6, done),
			"none-static address-list entries left in the dynamic set")
	}
}

func keepKey(v6 bool, d DynamicEntry) string {
	return dynPrefix(v6) + d.List + "/" + d.Addr.String()
}

// DeleteDynamic deletes entries from their lists' dynamic sets, in one transaction.
func (k *Kernel) DeleteDynamic(v6 bool, ds []DynamicEntry) error {
	c, err := k.conn()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	t := table(v6)
	for _, d := range ds {
		key := d.Addr.AsSlice()
		s := &nftables.Set{Table: t, Name: dynamicSet(d.List), KeyType: nftables.TypeIPAddr}
		if v6 {
			s.KeyType = nftables.TypeIP6Addr
		}
		if err := c.SetDeleteElements(s, []nftables.SetElement{{Key: key}}); err != nil {
			return fmt.Errorf("nftables: set %s: %w", s.Name, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	return nil
}
