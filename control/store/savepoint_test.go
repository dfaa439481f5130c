package store

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// dump is every bucket and key of the database, nested buckets by path.
func dump(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func(prefix string, b *bolt.Bucket)
	walk = func(prefix string, b *bolt.Bucket) {
		_ = b.ForEach(func(k, v []byte) error {
			if v == nil {
				out[prefix+"/"+string(k)+"/"] = "bucket"
				walk(prefix+"/"+string(k), b.Bucket(k))
				return nil
			}
			out[prefix+"/"+fmt.Sprintf("%q", k)] = string(v)
			return nil
		})
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			walk(string(name), b)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func addNamed(t *testing.T, tx *Tx, menu, name string, before uint64) uint64 {
	t.Helper()
	id, err := tx.NextID(menu)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Put(menu, Item{ID: id, Props: map[string]string{"name": name, "v": "1"}}, before); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestSavepointRollback: what a transaction wrote after a savepoint, rolled back to it,
// leaves the database as if it had never been written (items, name index, buckets, meta,
// and the ids and positions of later adds), whatever was written before the savepoint
// and after the rollback stays; a nested savepoint rolls back only its own part.
func TestSavepointRollback(t *testing.T) {
	base := func(t *testing.T, tx *Tx) {
		addNamed(t, tx, "/a", "a1", 0)
		a2 := addNamed(t, tx, "/a", "a2", 0)
		addNamed(t, tx, "/a", "a3", 0)
		if err := tx.SetMeta("k", "v0"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Put("/a", Item{ID: a2, Props: map[string]string{"name": "a2b"}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	tail := func(t *testing.T, tx *Tx) {
		addNamed(t, tx, "/a", "a4", 0)
		addNamed(t, tx, "/b", "b1", 0)
		if err := tx.SetMeta("k2", "v"); err != nil {
			t.Fatal(err)
		}
	}

	var tx *Tx
	var err error
	got := open(t)
	// The same base committed first, so that the undone part meets committed items too.
	if err := got.Update(func(tx *Tx) error { base(t, tx); return nil }); err != nil {
		t.Fatal(err)
	}
	want2 := open(t)
	if err := want2.Update(func(tx *Tx) error { base(t, tx); return nil }); err != nil {
		t.Fatal(err)
	}
	if tx, err = want2.Begin(); err != nil {
		t.Fatal(err)
	}
	addNamed(t, tx, "/a", "pre", 0)
	tail(t, tx)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	if tx, err = got.Begin(); err != nil {
		t.Fatal(err)
	}
	// A write before the savepoint in the same transaction: its marks (next id, last
	// position) are in memory and must come back as they were.
	addNamed(t, tx, "/a", "pre", 0)
	outer := tx.Savepoint()
	// Every kind of write: adds (new menu, new name index), a rename, a delete, a move
	// with renumbering (place-before into a full gap), meta set and delete.
	c1 := addNamed(t, tx, "/c", "c1", 0)
	addNamed(t, tx, "/c", "c2", c1)
	addNamed(t, tx, "/a", "x", 1)
	if err := tx.Put("/a", Item{ID: 1, Props: map[string]string{"name": "renamed"}}, 0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Delete("/a", 3); err != nil {
		t.Fatal(err)
	}
	if err := tx.Move("/a", 2, 1); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 25; i++ { // gap 2^20 halves each time: renumbers the menu
		addNamed(t, tx, "/a", fmt.Sprintf("y%d", i), 1)
	}
	inner := tx.Savepoint()
	addNamed(t, tx, "/d", "d1", 0)
	if err := tx.RollbackTo(inner); err != nil {
		t.Fatal(err)
	}
	if _, ok := tx.ByName("/d", "d1"); ok {
		t.Error("inner rollback kept /d d1")
	}
	if _, ok := tx.ByName("/c", "c2"); !ok {
		t.Error("inner rollback undid the outer savepoint's c2")
	}
	if err := tx.SetMeta("k", "v1"); err != nil {
		t.Fatal(err)
	}
	if err := tx.DeleteMeta("k"); err != nil {
		t.Fatal(err)
	}
	if err := tx.RollbackTo(outer); err != nil {
		t.Fatal(err)
	}
	if _, ok := tx.ByName("/a", "a1"); !ok {
		t.Error("a1 not found by name after the rollback")
	}
	tail(t, tx)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if g, w := dump(t, got), dump(t, want2); !reflect.DeepEqual(g, w) {
		for k, v := range w {
			if g[k] != v {
				t.Errorf("%s: got %q, want %q", k, g[k], v)
			}
		}
		for k, v := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s: got %q, not wanted", k, v)
			}
		}
	}
}

// TestSavepointRelease: a released savepoint keeps its writes, and a Wipe inside one
// cannot be rolled back piecewise.
func TestSavepointRelease(t *testing.T) {
	s := open(t)
	tx, err := s.Begin()
	if err != nil {
		t.Fatal(err)
	}
	sp := tx.Savepoint()
	id := addNamed(t, tx, "/a", "a1", 0)
	tx.Release(sp)
	if len(tx.undo) != 0 || tx.saves != 0 {
		t.Errorf("released: undo %d saves %d", len(tx.undo), tx.saves)
	}
	sp = tx.Savepoint()
	if err := tx.Wipe(); err != nil {
		t.Fatal(err)
	}
	if err := tx.RollbackTo(sp); !errors.Is(err, ErrSavepoint) {
		t.Errorf("rollback over a wipe: %v, want ErrSavepoint", err)
	}
	tx.Rollback()
	if got := ids(t, s, "/a"); len(got) != 0 {
		t.Errorf("rolled back transaction left %v", got)
	}
	_ = id
}
