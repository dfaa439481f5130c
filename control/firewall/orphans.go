package firewall

import (
	"fmt"
	"log/slog"
	"time"
)

// orphanRecheck bounds how long a list kept for its dynamic entries alone goes without
// its set being read again (entries without timeout, or removed by the operator).
const orphanRecheck = time.Minute

// keepDynamicLists adds to cfg.Lists, with no configured entry, each address list that
// the last applied plan (at start: the kernel's table) had and that neither a configured
// entry nor an enabled rule names any more, while its dynamic set still has entries. In
// RouterOS address lists live apart from the rules: disabling or removing the rules that
// fill or match a list leaves its dynamic entries until their timeout (port knocking's
// secured list, a ban list with address-list-timeout=1w). Only such lists' sets are read,
// and each at most every orphanRecheck or when its last entry expires.
//
// The kernel's lists that cannot be read (at start) are the error: the pass must not
// apply a table without them.
func (e *Engine) keepDynamicLists(cfg *Config) error {
	used := map[string]bool{}
	for l := range cfg.Lists {
		used[l] = true
	}
	for _, r := range cfg.Rules {
		for _, l := range r.lists() {
			used[l] = true
		}
	}
	e.mu.Lock()
	prev := e.applied[cfg.V6]
	e.mu.Unlock()
	var cands []string
	if prev != nil {
		cands = prev.Lists
	} else {
		names, err := e.k.DynamicLists(cfg.V6)
		if err != nil {
			return fmt.Errorf("address lists of the kernel's table not read: %w", err)
		}
		cands = names
	}
	now := time.Now()
	for _, l := range cands {
		if used[l] {
			continue
		}
		key := dnsKey(l, cfg.V6)
		e.mu.Lock()
		until, ok := e.orphans[key]
		e.mu.Unlock()
		if !ok || !now.Before(until) {
			es, err := e.k.DynamicOf(cfg.V6, l)
			switch {
			case err != nil: // keep it rather than lose its entries; read again next time
				slog.Warn("firewall: dynamic address-list entries not read", "list", l, "err", err)
				until = now
			case len(es) == 0:
				e.mu.Lock()
				delete(e.orphans, key)
				e.mu.Unlock()
				continue
			default:
				last := time.Duration(0)
				for _, d := range es {
					if d.Timeout == 0 || kept(d) {
						last = orphanRecheck
						break
					}
					last = max(last, d.Expires)
				}
				until = now.Add(min(last+time.Second, orphanRecheck))
			}
			e.mu.Lock()
			e.orphans[key] = until
			e.mu.Unlock()
		}
		cfg.Lists[l] = nil
	}
	return nil
}
