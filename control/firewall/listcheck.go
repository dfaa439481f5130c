package firewall

import (
	"context"
	"net/netip"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
)

// registerListMenu puts the duplicate check of dynamic entries in front of the address
// list's add and set: RouterOS refuses a second entry with the same list and address,
// with or without a timeout ("failure: already have such entry"), also when the entry
// there is a dynamic one a rule added (add-src/dst-to-address-list). A configured entry
// with the same list and address is the store's to refuse (the menu's UniqueKey, checked
// in the command's own transaction against the store's index of list and address), as
// is a set giving several entries one list and address (checked here: the command writes
// them together).
func (e *Engine) registerListMenu(path string) {
	v6 := path == listPath(true)
	if _, ok := e.ex.Tree.Get(path); !ok {
		return
	}
	for _, cmd := range []string{"add", "set"} {
		fn, spec, ok := e.ex.Generic(path, cmd)
		if !ok {
			continue
		}
		cmd := cmd
		e.ex.Handle(path, cmd, spec, func(ctx context.Context, c *control.Call) (*control.Reply, error) {
			args, err := control.ArgValues(c, "list", "address")
			if err != nil {
				return nil, err
			}
			if err := checkListName(args["list"]); err != nil {
				return nil, ruleError(err)
			}
			if cmd == "set" && len(args) == 0 {
				return fn(ctx, c)
			}
			var keys [][2]string
			// An add reads no store (a blocklist's import adds thousands of entries).
			collect := func(tx *store.Tx) error {
				seen := map[[2]string]bool{}
				for _, it := range e.ex.Prospective(tx, c, args) {
					k := [2]string{it.Props["list"], it.Props["address"]}
					// Several items set to one list and address collide with each other.
					if seen[k] {
						return control.Failure("already have such entry")
					}
					seen[k] = true
					keys = append(keys, k)
				}
				return nil
			}
			if cmd == "add" {
				err = collect(nil)
			} else {
				err = e.ex.View(c.Sess, collect)
			}
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				if k[0] != "" && e.dynamicEntry(v6, k[0], k[1]) {
					return nil, control.Failure("already have such entry")
				}
			}
			return fn(ctx, c)
		})
	}
}

// dynamicEntry reports whether a rule has added address (one host, as a rule adds) to
// list. It reads that list's dynamic set alone, and not even that once it was found
// empty while no rule of the table filled it (dynEmpty): a blocklist's import asks the
// kernel once, not per line, and never reads the entries of other lists nor the
// configured entries of its own.
func (e *Engine) dynamicEntry(v6 bool, list, address string) bool {
	a, ok := hostAddr(address)
	if !ok {
		return false
	}
	e.mu.Lock()
	empty, gen := e.dynEmpty[v6][list], e.passGen
	e.mu.Unlock()
	if empty {
		return false
	}
	ds, err := e.k.DynamicOf(v6, list)
	if err != nil {
		return false
	}
	if len(ds) == 0 {
		e.mu.Lock()
		// A pass that began meanwhile may have applied a rule that fills it.
		if e.passGen == gen && !e.dynFill[v6][list] {
			e.dynEmpty[v6][list] = true
		}
		e.mu.Unlock()
	}
	for _, d := range ds {
		if d.Addr.Unmap() == a {
			return true
		}
	}
	return false
}

// hostAddr is the one address an address-list value names ("192.0.2.1" or a host
// prefix such as "192.0.2.1/32"); false for networks, ranges and DNS names.
func hostAddr(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if p, err := netip.ParsePrefix(s); err == nil && p.IsSingleIP() {
		return p.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
