package firewall

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/store"
	"github.com/routerd/routerd/control/value"
)

// DefaultDNSRefresh is how often the addresses of entries given by DNS name are
// compared with the Resolver's answers besides when it reports a change (it asks again
// as each record's TTL runs out and when /ip dns changes, hostname.Resolver.OnChange).
const DefaultDNSRefresh = 30 * time.Second

// listTimer is when a configured address-list entry with timeout= expires: timeout after
// it was added, or after its timeout was last set, as RouterOS counts.
type listTimer struct {
	timeout  string
	deadline time.Time
}

// dnsEntry is a DNS name's addresses as last resolved.
type dnsEntry struct {
	addrs []netip.Addr
	err   error
}

// resolve looks a name up as RouterOS does, through the daemon's hostname.Resolver
// (/ip dns static, then /ip dns's servers; kept for the record's TTL).
func (e *Engine) resolve(ctx context.Context, name string, v6 bool) ([]netip.Addr, error) {
	network := "ip4"
	if v6 {
		network = "ip6"
	}
	addrs, err := e.hosts.Lookup(ctx, network, name)
	if err != nil {
		return nil, fmt.Errorf("could not resolve %s: %w", name, err)
	}
	// A copy: the slice is the Resolver's cached answer, whose order (a tunnel takes
	// its first address) is not this list's to change.
	addrs = slices.Clone(addrs)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	return slices.Compact(addrs), nil
}

// entries resolves an address-list address: an address, prefix or range, or a DNS name
// from the cache (resolved now when it is not there yet; refreshDNS keeps it current).
func (e *Engine) entries(ctx context.Context, addr string, v6 bool) ([]Entry, error) {
	if addr == "" {
		return nil, nil // the entry only creates its list
	}
	if from, to, err := addrRange(addr); err == nil {
		if from.Is6() != v6 {
			return nil, fmt.Errorf("invalid value for argument address")
		}
		return []Entry{{From: from, To: to}}, nil
	}
	if e.boot {
		return nil, nil // resolved by the engine's first pass
	}
	key := dnsKey(addr, v6)
	e.mu.Lock()
	d, ok := e.dns[key]
	e.mu.Unlock()
	if !ok {
		addrs, err := e.resolve(ctx, addr, v6)
		d = dnsEntry{addrs: addrs, err: err}
		e.mu.Lock()
		e.dns[key] = d
		e.mu.Unlock()
	}
	if d.err != nil {
		return nil, d.err
	}
	var out []Entry
	for _, a := range d.addrs {
		out = append(out, Entry{From: a, To: a})
	}
	return out, nil
}

func dnsKey(name string, v6 bool) string {
	if v6 {
		return "6/" + name
	}
	return "4/" + name
}

// refreshDNS resolves every name in the cache again and starts a pass when any
// answer changed; names no longer in any list are dropped from the cache.
func (e *Engine) refreshDNS(ctx context.Context) {
	inUse := map[string]bool{}
	for _, v6 := range []bool{false, true} {
		items, _ := e.ex.Items(listPath(v6))
		for _, it := range items {
			if _, _, err := addrRange(it.Props["address"]); err != nil && it.Props["address"] != "" {
				inUse[dnsKey(it.Props["address"], v6)] = true
			}
		}
	}
	e.mu.Lock()
	keys := make([]string, 0, len(e.dns))
	for k := range e.dns {
		if inUse[k] {
			keys = append(keys, k)
		} else {
			delete(e.dns, k)
		}
	}
	e.mu.Unlock()
	changed := false
	for _, k := range keys {
		addrs, err := e.resolve(ctx, k[2:], k[0] == '6')
		e.mu.Lock()
		old := e.dns[k]
		if !slices.Equal(old.addrs, addrs) || (old.err == nil) != (err == nil) {
			changed = true
			e.dns[k] = dnsEntry{addrs: addrs, err: err}
		}
		e.mu.Unlock()
	}
	if changed {
		e.poke()
	}
}

// timedEntry returns the time left of a configured entry with timeout= (first seen now:
// the full timeout) and whether it has a timeout.
func (e *Engine) timedEntry(path string, it store.Item, now time.Time) (time.Duration, bool) {
	t := it.Props["timeout"]
	if t == "" {
		return 0, false
	}
	to, err := value.ParseDuration(t)
	if err != nil || to <= 0 {
		return 0, false
	}
	key := path + "/" + control.FormatID(it.ID)
	e.mu.Lock()
	defer e.mu.Unlock()
	lt, ok := e.timers[key]
	if !ok || lt.timeout != t {
		lt = listTimer{timeout: t, deadline: now.Add(to)}
		e.timers[key] = lt
	}
	return max(lt.deadline.Sub(now), time.Second), true
}

// expireEntries removes configured entries whose timeout ran out from the
// configuration, as RouterOS does; the kernel's set dropped them already.
func (e *Engine) expireEntries(now time.Time) {
	e.mu.Lock()
	none := len(e.timers) == 0
	e.mu.Unlock()
	if none {
		return // no timed entry: spare reading every entry each second
	}
	for _, v6 := range []bool{false, true} {
		path := listPath(v6)
		items, err := e.ex.SharedItems(path)
		if err != nil {
			continue
		}
		var gone []uint64
		e.mu.Lock()
		for _, it := range items {
			lt, ok := e.timers[path+"/"+control.FormatID(it.ID)]
			if ok && lt.timeout == it.Props["timeout"] && !now.Before(lt.deadline) {
				gone = append(gone, it.ID)
			}
		}
		e.mu.Unlock()
		if len(gone) == 0 {
			continue
		}
		e.removeEntries(path, gone)
	}
}

// removeEntries removes timed entries whose time is up from the configuration.
func (e *Engine) removeEntries(path string, gone []uint64) {
	err := e.ex.Update(nil, func(tx *store.Tx) ([]control.Change, error) {
		var chs []control.Change
		for _, id := range gone {
			if err := tx.Delete(path, id); err != nil {
				continue // removed meanwhile
			}
			chs = append(chs, control.Change{Path: path, ID: id, Op: "remove"})
		}
		return chs, nil
	})
	e.setListErr(path == listPath(true), "expiry", err, "expired address-list entries not removed")
	if err != nil {
		return // their timers stay: tried again next tick
	}
	e.mu.Lock()
	for _, id := range gone {
		delete(e.timers, path+"/"+control.FormatID(id))
	}
	e.mu.Unlock()
}

// seedTimers runs once at start, before the first pass. A restarted routerd finds its
// table in the kernel, where each timed entry's element holds the time it has left: the
// entry keeps that time and its creation-time (the deadline less the timeout) rather
// than starting its timeout anew. Without the table the machine has started: timed
// entries are dynamic in RouterOS and do not outlive a reboot, so they are removed as
// RouterOS drops them. An entry whose element is not found (merged with a neighbour into
// one range) starts its timeout anew.
func (e *Engine) seedTimers(now time.Time) {
	for _, v6 := range []bool{false, true} {
		left, exists, err := e.k.StaticTimeouts(v6)
		if err != nil {
			slog.Warn("firewall: timed address-list entries restart their timeout", "err", err)
			continue
		}
		path := listPath(v6)
		items, err := e.ex.Items(path)
		if err != nil {
			continue
		}
		var gone []uint64
		e.mu.Lock()
		for _, it := range items {
			t := it.Props["timeout"]
			to, err := value.ParseDuration(t)
			if t == "" || err != nil || to <= 0 {
				continue
			}
			if !exists {
				gone = append(gone, it.ID)
				continue
			}
			from, _, err := addrRange(it.Props["address"])
			if err != nil {
				continue // a DNS name: its addresses start anew
			}
			d, ok := left[it.Props["list"]][from.Unmap()]
			if !ok {
				continue
			}
			key := path + "/" + control.FormatID(it.ID)
			e.timers[key] = listTimer{timeout: t, deadline: now.Add(d)}
			m := e.listMeta[v6][it.ID]
			m.created = now.Add(d).Add(-to).Unix()
			e.listMeta[v6][it.ID] = m
		}
		e.mu.Unlock()
		if len(gone) > 0 {
			slog.Info("firewall: timed address-list entries removed at start, as after a reboot", "count", len(gone))
			e.removeEntries(path, gone)
		}
	}
}

// listTimers runs the expiry of timed entries (every second) and the DNS refresh.
func (e *Engine) listTimers(ctx context.Context) {
	refresh := e.opts.DNSRefresh
	if refresh <= 0 {
		refresh = DefaultDNSRefresh
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastDNS := time.Now()
	for {
		select {
		case <-ctx.Done():
			e.saveCreated()
			e.saveMarks()
			return
		case now := <-tick.C:
			if e.zoneMoved(e.ex.Now()) { // daylight saving time began or ended, or sys_tz changed
				e.poke()
			}
			e.expireEntries(now)
			e.promoteKept(false)
			e.promoteKept(true)
			e.saveCreated()
			e.saveMarks()
			if now.Sub(lastDNS) >= refresh || e.dnsDue.Swap(false) {
				lastDNS = now
				e.refreshDNS(ctx)
			}
		}
	}
}

// entryMeta is what the engine keeps of a configured address-list entry: when it was
// created (unix seconds, as this daemon first saw it or the store's meta bucket kept
// it), the hash of the creation-time value the meta bucket has for it (createdHash; 0:
// none), and the pass that last saw it configured. A few words per entry: a list of
// 100,000 entries costs a few megabytes here, where a map of strings per entry in
// control.State cost forty.
type entryMeta struct {
	created int64
	saved   uint64
	sweep   uint64
}

// createdAt returns the creation-time of the configured entry id of the family, now
// when it is first seen.
func (e *Engine) createdAt(v6 bool, id uint64, now time.Time) int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	m, ok := e.listMeta[v6][id]
	if !ok || m.created == 0 {
		m.created = now.Unix()
		e.listMeta[v6][id] = m
	}
	return m.created
}

// sweepEntries records, in a pass, that the configured entries of ids are there and
// forgets those that are not: a removed entry's creation-time goes, and its meta key
// is removed by the next saveCreated.
func (e *Engine) sweepEntries(v6 bool, items []store.Item, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sweepGen++
	gen, ms := e.sweepGen, e.listMeta[v6]
	for _, it := range items {
		m := ms[it.ID]
		if m.created == 0 {
			m.created = now.Unix()
		}
		m.sweep = gen
		ms[it.ID] = m
	}
	for id, m := range ms {
		if m.sweep != gen {
			if m.saved != 0 {
				e.unsaved[v6] = append(e.unsaved[v6], id)
			}
			delete(ms, id)
		}
	}
}

// listRowProps is what print shows of a configured entry beyond its configuration
// (control.RowProps, computed as print asks): when it was added, and for an entry with
// timeout= the time left, counting down, and the D flag RouterOS gives timed entries.
// props holds the row's configured values (timeout= as configured).
func (e *Engine) listRowProps(v6 bool) control.RowProps {
	path := listPath(v6)
	return func(id uint64, props map[string]string) {
		now := time.Now()
		props["creation-time"] = e.stamp(time.Unix(e.createdAt(v6, id, now), 0))
		if left, timed := e.timedEntry(path, store.Item{ID: id, Props: props}, now); timed {
			props["timeout"] = value.FormatDuration(left.Round(time.Second))
			props["dynamic"] = "yes"
		}
	}
}

// createdMeta prefixes the store's meta keys that keep address-list entries'
// creation-time (path/id), so that it survives a restart of routerd, and a reboot, as
// RouterOS keeps it. The value also names the entry's list and address: a key left
// behind by an entry removed while routerd was down never dates another entry.
const createdMeta = "firewall/created:"

func createdValue(unix int64, it store.Item) string {
	return strconv.FormatInt(unix, 10) + "\x00" + it.Props["list"] + "\x00" + it.Props["address"]
}

// createdHash is FNV-1a of createdValue(unix, it), computed without building the
// string: saveCreated compares every entry's with what the store has once a second
// while passes run. Never 0 (0 is "not saved").
func createdHash(unix int64, it store.Item) uint64 {
	h := uint64(14695981039346656037)
	add := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	var b [20]byte
	add(string(strconv.AppendInt(b[:0], unix, 10)))
	add("\x00")
	add(it.Props["list"])
	add("\x00")
	add(it.Props["address"])
	return max(h, 1)
}

// dynCreatedMeta keeps, in one value of the store's meta bucket, the creation-times of
// the entries rules added and of the addresses DNS-named entries resolved to (keys
// dynPrefix list/address, dnsPrefix list/name/address; unix seconds): their kernel
// elements carry no timestamp, and a restarted routerd would date them from its start.
const dynCreatedMeta = "firewall/dyncreated"

// isDynKey reports whether a creation-time key is one dynCreatedMeta keeps.
func isDynKey(k string) bool {
	for _, v6 := range []bool{false, true} {
		if strings.HasPrefix(k, dynPrefix(v6)) || strings.HasPrefix(k, dnsPrefix(v6)) {
			return true
		}
	}
	return false
}

// dynCreatedValue encodes the dynamic creation-times of created, sorted.
func dynCreatedValue(created map[string]time.Time) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(created)) {
		if isDynKey(k) {
			b.WriteString(k + "\x00" + strconv.FormatInt(created[k].Unix(), 10) + "\n")
		}
	}
	return b.String()
}

// loadDynCreated reads dynCreatedMeta at start: entries rules added that the kernel
// still has (none after a reboot: a later entry of the same address is new), and the
// addresses of DNS-named entries (dropped by the first print once their name resolved
// without them).
func (e *Engine) loadDynCreated(tx *store.Tx) {
	inKernel := map[string]bool{}
	for _, v6 := range []bool{false, true} {
		ds, err := e.k.Dynamic(v6)
		if err != nil {
			continue
		}
		for _, d := range ds {
			inKernel[dynPrefix(v6)+d.List+"/"+d.Addr.String()] = true
		}
	}
	v := tx.Meta(dynCreatedMeta)
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, line := range strings.Split(v, "\n") {
		k, unix, ok := strings.Cut(line, "\x00")
		n, err := strconv.ParseInt(unix, 10, 64)
		if !ok || err != nil || !isDynKey(k) {
			continue
		}
		if (strings.HasPrefix(k, dynPrefix(false)) || strings.HasPrefix(k, dynPrefix(true))) && !inKernel[k] {
			continue
		}
		e.created[k] = time.Unix(n, 0)
	}
	e.savedDyn = dynCreatedValue(e.created)
}

// loadCreated reads the creation-times saveCreated kept, at start.
func (e *Engine) loadCreated() {
	err := e.ex.Store.View(func(tx *store.Tx) error {
		e.loadDynCreated(tx)
		for _, v6 := range []bool{false, true} {
			path := listPath(v6)
			items, err := tx.List(path)
			if err != nil {
				return err
			}
			for _, it := range items {
				key := path + "/" + control.FormatID(it.ID)
				v := tx.Meta(createdMeta + key)
				unix, _, ok := strings.Cut(v, "\x00")
				n, err := strconv.ParseInt(unix, 10, 64)
				if !ok || err != nil {
					continue
				}
				if v != createdValue(n, it) {
					continue
				}
				e.mu.Lock()
				e.listMeta[v6][it.ID] = entryMeta{created: n, saved: createdHash(n, it)}
				e.mu.Unlock()
			}
		}
		return nil
	})
	if err != nil {
		slog.Warn("firewall: address-list creation times not read", "err", err)
	}
}

// saveCreated writes the creation-times that changed since the last call (new entries,
// changed addresses, removed entries) into the store's meta bucket. It runs from the
// list timers, once a second after a pass, not in the pass: an import holds the store's
// write transaction in its batch.
func (e *Engine) saveCreated() {
	e.mu.Lock()
	dirty := e.createdDirty || len(e.unsaved[false])+len(e.unsaved[true]) > 0
	e.createdDirty = false
	e.mu.Unlock()
	if !dirty {
		return
	}
	// Only what differs is built: the entries' values are hashed in place (an import's
	// passes make this run every second over every entry).
	type saving struct {
		v6   bool
		id   uint64
		v    string
		hash uint64
	}
	var put []saving
	del := map[bool][]uint64{}
	for _, v6 := range []bool{false, true} {
		items, err := e.ex.SharedItems(listPath(v6))
		if err != nil {
			e.mu.Lock()
			e.createdDirty = true
			e.mu.Unlock()
			return
		}
		e.mu.Lock()
		ms := e.listMeta[v6]
		for _, it := range items {
			m, ok := ms[it.ID]
			if !ok || m.created == 0 {
				continue
			}
			if h := createdHash(m.created, it); h != m.saved {
				put = append(put, saving{v6, it.ID, createdValue(m.created, it), h})
			}
		}
		del[v6] = e.unsaved[v6]
		e.unsaved[v6] = nil
		e.mu.Unlock()
	}
	e.mu.Lock()
	dyn := dynCreatedValue(e.created)
	dynChanged := dyn != e.savedDyn
	e.mu.Unlock()
	if len(put)+len(del[false])+len(del[true]) == 0 && !dynChanged {
		return
	}
	err := e.ex.Store.Update(func(tx *store.Tx) error {
		if dynChanged {
			if err := tx.SetMeta(dynCreatedMeta, dyn); err != nil {
				return err
			}
		}
		for _, p := range put {
			if err := tx.SetMeta(createdMeta+listPath(p.v6)+"/"+control.FormatID(p.id), p.v); err != nil {
				return err
			}
		}
		for v6, ids := range del {
			for _, id := range ids {
				if err := tx.DeleteMeta(createdMeta + listPath(v6) + "/" + control.FormatID(id)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	for _, v6 := range []bool{false, true} {
		e.setListErr(v6, "creation-time", err, "address-list creation times not kept")
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.createdDirty = true // again on the next tick
		for v6, ids := range del {
			e.unsaved[v6] = append(e.unsaved[v6], ids...)
		}
		return
	}
	if dynChanged {
		e.savedDyn = dyn
	}
	for _, p := range put {
		// An entry removed or re-added meanwhile has a new meta; the next save sees it.
		if m, ok := e.listMeta[p.v6][p.id]; ok {
			m.saved = p.hash
			e.listMeta[p.v6][p.id] = m
		} else {
			e.unsaved[p.v6] = append(e.unsaved[p.v6], p.id)
		}
	}
}

// setListErr records what an address-list timer's task could not do (err nil: it
// did), for the family's entries to show (listMaintErr), and asks for a pass when
// that changes.
func (e *Engine) setListErr(v6 bool, task string, err error, what string) {
	if err != nil {
		err = fmt.Errorf("%s: %w", what, err)
		slog.Warn("firewall: "+err.Error(), "ipv6", v6)
	}
	e.mu.Lock()
	old := e.listErr[v6][task]
	if err == nil {
		delete(e.listErr[v6], task)
	} else {
		e.listErr[v6][task] = err
	}
	e.mu.Unlock()
	if (old == nil) != (err == nil) || old != nil && err != nil && old.Error() != err.Error() {
		e.poke()
	}
}

// listMaintErr is what the family's address-list timers could not do, nil when all did.
func (e *Engine) listMaintErr(v6 bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	tasks := slices.Sorted(maps.Keys(e.listErr[v6]))
	var errs []error
	for _, t := range tasks {
		errs = append(errs, e.listErr[v6][t])
	}
	return errors.Join(errs...)
}
