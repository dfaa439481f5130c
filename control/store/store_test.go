package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "routerd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ids(t *testing.T, s *Store, menu string) []uint64 {
	t.Helper()
	var out []uint64
	err := s.View(func(tx *Tx) error {
		its, err := tx.List(menu)
		for _, it := range its {
			out = append(out, it.ID)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func add(t *testing.T, s *Store, menu string, before uint64) uint64 {
	t.Helper()
	var id uint64
	err := s.Update(func(tx *Tx) error {
		var err error
		if id, err = tx.NextID(menu); err != nil {
			return err
		}
		return tx.Put(menu, Item{ID: id, Props: map[string]string{"name": "x"}}, before)
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIDsNeverReused(t *testing.T) {
	s := open(t)
	a := add(t, s, "/m", 0)
	b := add(t, s, "/m", 0)
	if err := s.Update(func(tx *Tx) error { return tx.Delete("/m", b) }); err != nil {
		t.Fatal(err)
	}
	c := add(t, s, "/m", 0)
	if a != 1 || b != 2 || c != 3 {
		t.Fatalf("ids %d %d %d, want 1 2 3", a, b, c)
	}
	if got := ids(t, s, "/m"); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("order %v", got)
	}
}

func TestPlaceBeforeAndMove(t *testing.T) {
	s := open(t)
	a := add(t, s, "/m", 0)
	b := add(t, s, "/m", 0)
	// Enough inserts at one spot to exhaust the gap and force a renumbering.
	var last uint64 = b
	for i := 0; i < 25; i++ {
		last = add(t, s, "/m", last)
	}
	got := ids(t, s, "/m")
	if got[0] != a || got[len(got)-1] != b || got[1] != last {
		t.Fatalf("order after place-before: %v", got)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Move("/m", b, a) }); err != nil {
		t.Fatal(err)
	}
	got = ids(t, s, "/m")
	if got[0] != b || got[1] != a {
		t.Fatalf("order after move: %v", got)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Move("/m", b, 0) }); err != nil {
		t.Fatal(err)
	}
	if got = ids(t, s, "/m"); got[len(got)-1] != b {
		t.Fatalf("move to end: %v", got)
	}
}

func TestRollbackChangesNothing(t *testing.T) {
	s := open(t)
	add(t, s, "/m", 0)
	_ = s.Update(func(tx *Tx) error {
		_ = tx.Delete("/m", 1)
		return ErrNotFound
	})
	if got := ids(t, s, "/m"); len(got) != 1 {
		t.Fatalf("rolled back delete applied: %v", got)
	}
}

// TestCommitWithoutWritesSkipsTheDisk checks that a batch that only read is not written
// (no new bbolt transaction id), while every kind of write still commits and persists.
func TestCommitWithoutWritesSkipsTheDisk(t *testing.T) {
	s := open(t)
	add(t, s, "/m", 0)
	txid := func() int {
		tx, err := s.db.Begin(false)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		return tx.ID()
	}
	commit := func(fn func(tx *Tx) error) {
		t.Helper()
		tx, err := s.Begin()
		if err != nil {
			t.Fatal(err)
		}
		if err := fn(tx); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	before := txid()
	commit(func(tx *Tx) error { _, err := tx.List("/m"); return err })
	if got := txid(); got != before {
		t.Fatalf("read-only batch committed: txid %d -> %d", before, got)
	}
	commit(func(tx *Tx) error { _, err := tx.NextID("/m"); return err })
	if got := txid(); got != before+1 {
		t.Fatalf("NextID alone not committed: txid %d -> %d", before, got)
	}
	commit(func(tx *Tx) error { return tx.Delete("/m", 1) })
	if got := ids(t, s, "/m"); len(got) != 0 {
		t.Fatalf("delete not committed: %v", got)
	}
	commit(func(tx *Tx) error { _, err := tx.NextID("/new"); return err })
	if got := txid(); got != before+3 {
		t.Fatalf("bucket creation not committed: txid %d -> %d", before, got)
	}
}

// TestDecodedCache: reads reuse decoded items only while the stored bytes are the same:
// a caller changing what it read, a later write, a delete and a rollback all show.
func TestDecodedCache(t *testing.T) {
	s := open(t)
	var id uint64
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Update(func(tx *Tx) error {
		var err error
		if id, err = tx.NextID("/m"); err != nil {
			return err
		}
		return tx.Put("/m", Item{ID: id, Props: map[string]string{"a": "1"}}, 0)
	}))
	get := func() string {
		var v string
		must(s.View(func(tx *Tx) error {
			it, err := tx.Get("/m", id)
			v = it.Props["a"]
			it.Props["a"] = "changed by the reader"
			return err
		}))
		return v
	}
	if first, second := get(), get(); first != "1" || second != "1" {
		t.Fatal("a reader's change reached the next read")
	}
	must(s.Update(func(tx *Tx) error { return tx.Put("/m", Item{ID: id, Props: map[string]string{"a": "2"}}, 0) }))
	if v := get(); v != "2" {
		t.Fatalf("after a write read %q", v)
	}
	tx, err := s.Begin()
	must(err)
	must(tx.Put("/m", Item{ID: id, Props: map[string]string{"a": "3"}}, 0))
	must(tx.Rollback())
	if v := get(); v != "2" {
		t.Fatalf("after a rollback read %q", v)
	}
	must(s.Update(func(tx *Tx) error { return tx.Delete("/m", id) }))
	must(s.View(func(tx *Tx) error {
		if _, err := tx.Get("/m", id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted item read back: %v", err)
		}
		return nil
	}))
}

// TestBytesNotUTF8: a value with bytes that are not UTF-8 (a RouterOS export's `\E7`)
// comes back byte for byte, beside plain values of the same item.
func TestBytesNotUTF8(t *testing.T) {
	s := open(t)
	props := map[string]string{"name": "Ponte de Seguran\xe7a", "comment": "plain", "x": "\xc2 \xf1\xf2"}
	err := s.Update(func(tx *Tx) error {
		id, err := tx.NextID("/m")
		if err != nil {
			return err
		}
		return tx.Put("/m", Item{ID: id, Props: props}, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if props["name"] != "Ponte de Seguran\xe7a" {
		t.Fatal("Put changed the caller's map")
	}
	for i := 0; i < 2; i++ { // the second read comes from the decoded cache
		var got map[string]string
		if err := s.View(func(tx *Tx) error {
			its, err := tx.List("/m")
			if len(its) == 1 {
				got = its[0].Props
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for k, v := range props {
			if got[k] != v {
				t.Errorf("read %d: %s = %q, want %q", i, k, got[k], v)
			}
		}
		if len(got) != len(props) {
			t.Errorf("read %d: %v", i, got)
		}
	}
}

// TestListShared: an unchanged item comes back as the same map, a changed one as a new
// map with the new values, and List's copies stay the reader's own.
func TestListShared(t *testing.T) {
	s := open(t)
	a, b := add(t, s, "/m", 0), add(t, s, "/m", 0)
	shared := func() map[uint64]map[string]string {
		t.Helper()
		out := map[uint64]map[string]string{}
		if err := s.View(func(tx *Tx) error {
			its, err := tx.ListShared("/m")
			for _, it := range its {
				out[it.ID] = it.Props
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	same := func(x, y map[string]string) bool {
		return reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(y).UnsafePointer()
	}
	first := shared()
	if err := s.View(func(tx *Tx) error {
		its, err := tx.List("/m")
		for _, it := range its {
			if same(it.Props, first[it.ID]) {
				t.Error("List handed out the shared map")
			}
			it.Props["x"] = "changed by a List reader"
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Tx) error { return tx.Put("/m", Item{ID: b, Props: map[string]string{"n": "new"}}, 0) }); err != nil {
		t.Fatal(err)
	}
	second := shared()
	if !same(first[a], second[a]) {
		t.Error("an unchanged item came back as a new map")
	}
	if _, ok := second[a]["x"]; ok {
		t.Error("a List reader's change reached the shared map")
	}
	if same(first[b], second[b]) || second[b]["n"] != "new" {
		t.Errorf("a changed item came back as %v", second[b])
	}
}

// TestMarksOfOneTransaction: a transaction keeps a menu's next id and last position in
// memory and writes them when it commits (Tx.flush): many adds in one transaction, a
// commit through Begin or Update, a rollback, and a wipe all leave the ids and order
// that writing the marks on every add left.
func TestMarksOfOneTransaction(t *testing.T) {
	s := open(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	put := func(tx *Tx, before uint64) uint64 {
		t.Helper()
		id, err := tx.NextID("/m")
		must(err)
		must(tx.Put("/m", Item{ID: id, Props: map[string]string{"n": fmt.Sprint(id)}}, before))
		return id
	}
	tx, err := s.Begin()
	must(err)
	for i := 0; i < 3; i++ {
		put(tx, 0)
	}
	put(tx, 2) // 4 before 2
	must(tx.Commit())
	if got := fmt.Sprint(ids(t, s, "/m")); got != "[1 4 2 3]" {
		t.Fatalf("after one transaction: %s", got)
	}
	if id := add(t, s, "/m", 0); id != 5 {
		t.Fatalf("next transaction's id %d, want 5", id)
	}
	tx, err = s.Begin()
	must(err)
	put(tx, 0)
	put(tx, 0)
	must(tx.Rollback())
	if id := add(t, s, "/m", 1); id != 6 {
		t.Fatalf("after a rollback: id %d, want 6", id)
	}
	if id := add(t, s, "/m", 0); id != 7 {
		t.Fatalf("id %d, want 7", id)
	}
	if got := fmt.Sprint(ids(t, s, "/m")); got != "[6 1 4 2 3 5 7]" {
		t.Fatalf("order %s", got)
	}
	must(s.Update(func(tx *Tx) error {
		put(tx, 0)
		if err := tx.Wipe(); err != nil {
			return err
		}
		put(tx, 0)
		return nil
	}))
	if got := fmt.Sprint(ids(t, s, "/m")); got != "[1]" {
		t.Fatalf("after a wipe: %s", got)
	}
	if id := add(t, s, "/m", 0); id != 2 {
		t.Fatalf("after a wipe: id %d, want 2", id)
	}
}

// TestLookup: the key index finds the items with given values of several properties,
// follows Put, Delete and Restore once built, keeps several items of one key apart,
// never confuses values that run together, and a read-only transaction without the
// index scans instead.
func TestLookup(t *testing.T) {
	s := open(t)
	const m = "/ip/firewall/address-list"
	props := []string{"list", "address"}
	put := func(id uint64, l, a string) {
		t.Helper()
		if err := s.Update(func(tx *Tx) error {
			return tx.Put(m, Item{ID: id, Props: map[string]string{"list": l, "address": a}}, 0)
		}); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(writable bool, l, a string) []uint64 {
		t.Helper()
		var got []uint64
		fn := func(tx *Tx) error {
			var err error
			got, err = tx.Lookup(m, props, []string{l, a})
			return err
		}
		var err error
		if writable {
			err = s.Update(fn)
		} else {
			err = s.View(fn)
		}
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	put(1, "a", "198.18.0.1")
	put(2, "a", "198.18.0.2")
	put(3, "ab", "c") // "a"+"bc" would collide with a plain join
	put(4, "a", "bc")
	// Before the index: a read-only transaction scans.
	if got := lookup(false, "a", "198.18.0.2"); !reflect.DeepEqual(got, []uint64{2}) {
		t.Fatalf("scan: %v", got)
	}
	var built bool
	s.View(func(tx *Tx) error {
		b, _ := tx.menu(m, false)
		built = b.Bucket([]byte("k:list,address")) != nil
		return nil
	})
	if built {
		t.Fatal("a read-only lookup built the index")
	}
	// A writable one builds it.
	if got := lookup(true, "a", "bc"); !reflect.DeepEqual(got, []uint64{4}) {
		t.Fatalf("build: %v", got)
	}
	if got := lookup(false, "ab", "c"); !reflect.DeepEqual(got, []uint64{3}) {
		t.Fatalf("index: %v", got)
	}
	// Put: a new item, a changed one, one given the key another has.
	put(5, "b", "198.18.0.5")
	put(1, "b", "198.18.0.9")
	put(2, "b", "198.18.0.5")
	for _, c := range []struct {
		l, a string
		want []uint64
	}{{"b", "198.18.0.5", []uint64{2, 5}}, {"a", "198.18.0.1", nil}, {"b", "198.18.0.9", []uint64{1}}, {"a", "198.18.0.2", nil}} {
		for _, w := range []bool{false, true} {
			if got := lookup(w, c.l, c.a); !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s %s (writable %v): %v, want %v", c.l, c.a, w, got, c.want)
			}
		}
	}
	// Delete, then Restore as undo does, in and out of one transaction.
	var journal []Before
	err := s.Update(func(tx *Tx) error {
		tx.SetJournal(func(b Before) { journal = append(journal, b) })
		if err := tx.Delete(m, 5); err != nil {
			return err
		}
		if got, _ := tx.Lookup(m, props, []string{"b", "198.18.0.5"}); !reflect.DeepEqual(got, []uint64{2}) {
			t.Errorf("after delete in its transaction: %v", got)
		}
		return tx.Put(m, Item{ID: 2, Props: map[string]string{"list": "c", "address": ""}}, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(false, "b", "198.18.0.5"); got != nil {
		t.Fatalf("after delete and set: %v", got)
	}
	if got := lookup(false, "c", ""); !reflect.DeepEqual(got, []uint64{2}) {
		t.Fatalf("empty value: %v", got)
	}
	err = s.Update(func(tx *Tx) error {
		for i := len(journal) - 1; i >= 0; i-- {
			if err := tx.Restore(journal[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := lookup(false, "b", "198.18.0.5"); !reflect.DeepEqual(got, []uint64{2, 5}) {
		t.Fatalf("after restore: %v", got)
	}
	if got := lookup(false, "c", ""); got != nil {
		t.Fatalf("after restore, the set's key: %v", got)
	}
	// A rolled-back transaction leaves the index as it was.
	errBack := errors.New("back")
	if err := s.Update(func(tx *Tx) error {
		if err := tx.Delete(m, 2); err != nil {
			return err
		}
		return errBack
	}); !errors.Is(err, errBack) {
		t.Fatal(err)
	}
	if got := lookup(false, "b", "198.18.0.5"); !reflect.DeepEqual(got, []uint64{2, 5}) {
		t.Fatalf("after rollback: %v", got)
	}
	// A savepoint rolled back (a migrated import line undone) takes its index writes
	// back, and an index it built.
	if err := s.Update(func(tx *Tx) error {
		sp := tx.Savepoint()
		if err := tx.Put(m, Item{ID: 8, Props: map[string]string{"list": "sp", "address": "198.18.0.8"}}, 0); err != nil {
			return err
		}
		if err := tx.Delete(m, 5); err != nil {
			return err
		}
		if _, err := tx.Lookup(m, []string{"address"}, []string{"198.18.0.8"}); err != nil {
			return err
		}
		return tx.RollbackTo(sp)
	}); err != nil {
		t.Fatal(err)
	}
	if got := lookup(true, "sp", "198.18.0.8"); got != nil {
		t.Fatalf("after a savepoint rolled back: %v", got)
	}
	if got := lookup(true, "b", "198.18.0.5"); !reflect.DeepEqual(got, []uint64{2, 5}) {
		t.Fatalf("after a savepoint rolled back, the deleted item: %v", got)
	}
	s.View(func(tx *Tx) error {
		b, _ := tx.menu(m, false)
		built = b.Bucket([]byte("k:address")) != nil
		return nil
	})
	if built {
		t.Fatal("the index a rolled-back savepoint built stayed")
	}
	// Wipe (backup load) takes the index with the menu; the next lookup builds it anew.
	if err := s.Update(func(tx *Tx) error {
		if err := tx.Wipe(); err != nil {
			return err
		}
		return tx.Put(m, Item{ID: 7, Props: map[string]string{"list": "b", "address": "198.18.0.5"}}, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if got := lookup(true, "b", "198.18.0.5"); !reflect.DeepEqual(got, []uint64{7}) {
		t.Fatalf("after wipe: %v", got)
	}
	if err := s.View(func(tx *Tx) error { _, err := tx.Lookup(m, []string{"a,b"}, []string{"x"}); return err }); err == nil {
		t.Fatal("a property name with a comma was taken")
	}
}

// BenchmarkLookup: one lookup among 100,000 items costs what it costs among 10.
func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "routerd.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			const m = "/ip/firewall/address-list"
			props := []string{"list", "address"}
			err = s.Update(func(tx *Tx) error {
				for i := 0; i < n; i++ {
					if err := tx.Put(m, Item{ID: uint64(i + 1), Props: map[string]string{"list": "l", "address": fmt.Sprint(i)}}, 0); err != nil {
						return err
					}
				}
				_, err := tx.Lookup(m, props, []string{"l", "0"})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			s.View(func(tx *Tx) error {
				for i := 0; i < b.N; i++ {
					if ids, _ := tx.Lookup(m, props, []string{"l", fmt.Sprint(i % n)}); len(ids) != 1 {
						b.Fatal(ids)
					}
				}
				return nil
			})
		})
	}
}

// TestIndexed: a read-only transaction reads a key index only once a writable one built
// it; a writable one always does (its first Lookup builds it).
func TestIndexed(t *testing.T) {
	s := open(t)
	const m = "/ip/address"
	props := []string{"interface", "address"}
	indexed := func(writable bool) bool {
		t.Helper()
		var got bool
		fn := func(tx *Tx) error { got = tx.Indexed(m, props); return nil }
		var err error
		if writable {
			err = s.Update(fn)
		} else {
			err = s.View(fn)
		}
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if err := s.Update(func(tx *Tx) error {
		return tx.Put(m, Item{ID: 1, Props: map[string]string{"interface": "ether1", "address": "198.18.0.1/24"}}, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if indexed(false) {
		t.Fatal("read-only: indexed before any Lookup built the index")
	}
	if !indexed(true) {
		t.Fatal("writable: not indexed")
	}
	if err := s.Update(func(tx *Tx) error {
		_, err := tx.Lookup(m, props, []string{"ether1", "198.18.0.1/24"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !indexed(false) {
		t.Fatal("read-only: not indexed after a writable Lookup built the index")
	}
	if indexed(false) && func() bool {
		var ok bool
		_ = s.View(func(tx *Tx) error { ok = tx.Indexed(m, []string{"interface"}); return nil })
		return ok
	}() {
		t.Fatal("read-only: another property list counted as indexed")
	}
}
