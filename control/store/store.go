// Package store keeps the configuration in a bbolt database in the data dir.
//
// Each menu is a bucket holding its items as JSON objects of canonical property strings,
// keyed by item id, plus the next id to hand out and the user order of the items. Ids are
// never reused: the counter only grows, so "*5" names one item for as long as it lives and
// never a later one. Every command commits in one bbolt transaction (fsync'd), so an
// acknowledged change survives SIGKILL and power loss. A batch (an import, a script) shares
// one transaction between its commands; a savepoint in it (Tx.Savepoint) lets one command
// that must be all-or-nothing be undone alone, without a commit around it.
//
// Two indexes spare scans of big menus: the name index (ByName) and key indexes over
// several properties (Lookup; an address list's list and address), kept by every write
// once built, so a duplicate check costs the same on 100,000 items as on none. Count
// counts a menu's items by their keys, without decoding them (print count-only).
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Item is one stored configuration item.
type Item struct {
	ID    uint64
	Props map[string]string
}

// Store is the open database.
type Store struct {
	db *bolt.DB
	// Observe, when set, is told how long each write transaction took to commit.
	Observe func(d time.Duration, err error)
	decoded decodedCache
}

// decodedCache remembers items decoded by read-only transactions beside the bytes they
// were decoded from. Engines read whole menus on every pass (10,000 firewall rules while
// an import runs), and decoding their JSON was most of that cost; a record is reused
// only while its stored bytes are the same, so a write, a rollback or a backup load
// can never make a read return what is not stored.
type decodedCache struct {
	mu sync.Mutex
	m  map[string]map[uint64]cachedRecord
}

type cachedRecord struct {
	raw []byte
	r   record
}

// get returns a copy of the record decoded from raw, if it is remembered; shared
// returns the cache's own (see ListShared).
func (c *decodedCache) get(path string, id uint64, raw []byte, shared bool) (record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[path][id]
	if !ok || !bytes.Equal(e.raw, raw) {
		return record{}, false
	}
	if shared {
		return e.r, true
	}
	return record{Pos: e.r.Pos, Props: maps.Clone(e.r.Props)}, true
}

// put remembers r as decoded from raw; r is the cache's own from here on.
func (c *decodedCache) put(path string, id uint64, raw []byte, r record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]map[uint64]cachedRecord{}
	}
	if c.m[path] == nil {
		c.m[path] = map[uint64]cachedRecord{}
	}
	c.m[path][id] = cachedRecord{raw: bytes.Clone(raw), r: r}
}

// forget drops an item (deleted) or, with path "", everything (the store was wiped).
func (c *decodedCache) forget(path string, id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if path == "" {
		c.m = nil
		return
	}
	delete(c.m[path], id)
}

var (
	bucketMenus = []byte("menus")
	bucketMeta  = []byte("meta")
	keySeq      = []byte("seq")
	keyLast     = []byte("last")
	bucketNames = []byte("names")
	prefixItem  = byte('i')
)

// ErrNotFound is returned for an id that does not exist in the menu.
var ErrNotFound = errors.New("no such item")

// ErrUnreadable is the error of a store file that exists but cannot be read as one: a
// zero-length file, a bad header, a tree page that fails the consistency check or
// makes bbolt panic. Open never replaces or repairs such a file; routerd refuses to
// start on it and says so (its --store-recover flag starts anew when asked to).
var ErrUnreadable = errors.New("store file cannot be read")

// Open opens (creating if needed) the store file at path with mode 0600: it may hold
// secrets. An existing file that cannot be read is an ErrUnreadable error, and the
// file is left as it was.
func Open(path string) (st *Store, err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() == 0 {
		// bbolt would initialise an empty file as a new database: the configuration
		// would be silently gone and a new admin password made.
		return nil, fmt.Errorf("store: %s is empty (0 bytes): %w", path, ErrUnreadable)
	}
	var db *bolt.DB
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			st, err = nil, fmt.Errorf("store: %s: bbolt panicked reading it (%v): %w", path, r, ErrUnreadable)
		}
	}()
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("store: open %s: %w (is another routerd running?)", path, err)
		}
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			return nil, fmt.Errorf("store: open %s: %v: %w", path, err, ErrUnreadable)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Walk every page once: a damaged tree fails here, at start, with the file
	// untouched, rather than in some later command or as a panic.
	if err := check(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %v: %w", path, err, ErrUnreadable)
	}
	// A file left by an older run may have wider permissions.
	_ = os.Chmod(path, 0o600)
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketMenus, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: init: %w", err)
	}
	return &Store{db: db}, nil
}

// check runs bbolt's consistency check and reads every item, so that both damaged
// pages and damaged values show.
func check(db *bolt.DB) error {
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return walk(b, 0)
		})
	})
}

func walk(b *bolt.Bucket, depth int) error {
	if depth > 8 {
		return errors.New("buckets nested too deep")
	}
	return b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walk(nb, depth+1)
			}
		}
		return nil
	})
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Path is the database file.
func (s *Store) Path() string { return s.db.Path() }

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(*Tx) error) (err error) {
	defer recoverInto(&err)
	return s.db.View(func(tx *bolt.Tx) error { return fn(&Tx{tx: tx, st: s}) })
}

// recoverInto turns a bbolt panic (a page damaged after the start check, by a disk or
// a hand) into an error of the command that met it, instead of a dead daemon.
func recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("store: bbolt panicked (%v): %w", r, ErrUnreadable)
	}
}

// Update runs fn in a read-write transaction that commits (and fsyncs) when fn returns nil
// and rolls back otherwise.
func (s *Store) Update(fn func(*Tx) error) (err error) {
	defer recoverInto(&err)
	start := time.Now()
	err = s.db.Update(func(tx *bolt.Tx) error {
		t := &Tx{tx: tx, st: s}
		if err := fn(t); err != nil {
			return err
		}
		return t.flush()
	})
	if s.Observe != nil {
		s.Observe(time.Since(start), err)
	}
	return err
}

// Begin starts a read-write transaction held by the caller, for scripts that batch many
// commands into one commit. The caller must Commit or Rollback it.
func (s *Store) Begin() (*Tx, error) {
	tx, err := s.db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	return &Tx{tx: tx, start: time.Now(), owner: s, st: s}, nil
}

// Tx is a store transaction.
type Tx struct {
	tx    *bolt.Tx
	start time.Time
	owner *Store // set for transactions from Begin
	st    *Store // the store, for its decoded-item cache
	// journal, when set, is told the state of each item before Put, Move or Delete
	// changes it (undo history).
	journal func(Before)
	// marks are the menus' id counters and last positions as this transaction has
	// them, written to their buckets when it commits (flush): an import adds thousands
	// of items in one transaction, and reading and rewriting both keys in the B+tree
	// for each add was half of the store's work per item.
	marks map[string]*marks
	// undo holds, while a savepoint is open, every key write since the oldest open one
	// as the key was before it, so that RollbackTo can put it back; saves counts the
	// open savepoints.
	undo  []undoEntry
	saves int
	// wiped: Wipe ran inside a savepoint, which cannot be undone key by key.
	wiped bool
}

// undoEntry is one bbolt write a savepoint can undo: key of the bucket (the meta bucket
// when menu is "", a menu's bucket, or its name index when names is set) held old
// before it (nil: absent). A nil key is the bucket itself, created after the savepoint.
type undoEntry struct {
	menu string
	sub  string // the menu's sub-bucket written: "" the menu's own, names, a key index
	key  []byte
	old  []byte
}

// ErrSavepoint is the error of a RollbackTo that cannot put the transaction back as it
// was at the savepoint (a Wipe ran after it); the caller must roll back the whole
// transaction.
var ErrSavepoint = errors.New("store: savepoint cannot be rolled back")

// Savepoint is a point in a transaction that RollbackTo returns to: a script's line
// that fails inside a batch of thousands takes back only its own writes, with no
// commit (and fsync) before and after each line.
type Savepoint struct {
	n     int
	marks map[string]marks
}

// Savepoint opens a savepoint; RollbackTo or Release closes it. Savepoints nest.
func (t *Tx) Savepoint() Savepoint {
	sp := Savepoint{n: len(t.undo), marks: make(map[string]marks, len(t.marks))}
	for p, m := range t.marks {
		sp.marks[p] = *m
	}
	t.saves++
	return sp
}

// Release closes a savepoint and keeps what was written since.
func (t *Tx) Release(sp Savepoint) {
	t.close()
}

func (t *Tx) close() {
	if t.saves--; t.saves <= 0 {
		t.saves, t.undo, t.wiped = 0, nil, false
	}
}

// RollbackTo closes a savepoint and undoes every write made since it: items, name
// indexes, buckets, meta values, and the id counters and last positions, so the next
// add gets the id it would have got had the undone writes never been made.
func (t *Tx) RollbackTo(sp Savepoint) error {
	defer t.close()
	if t.wiped {
		return ErrSavepoint
	}
	root := t.tx.Bucket(bucketMenus)
	for i := len(t.undo) - 1; i >= sp.n; i-- {
		u := t.undo[i]
		parent := root
		var b *bolt.Bucket
		switch {
		case u.menu == "":
			parent, b = nil, t.tx.Bucket(bucketMeta)
		case u.sub != "":
			parent = root.Bucket([]byte(u.menu))
			if parent != nil {
				b = parent.Bucket([]byte(u.sub))
			}
		default:
			b = root.Bucket([]byte(u.menu))
		}
		var err error
		switch {
		case b == nil || parent == nil && u.key == nil:
			err = fmt.Errorf("bucket of %q gone", u.menu)
		case u.key == nil && u.sub != "":
			err = parent.DeleteBucket([]byte(u.sub))
		case u.key == nil:
			err = parent.DeleteBucket([]byte(u.menu))
		case u.old == nil:
			err = b.Delete(u.key)
		default:
			err = b.Put(u.key, u.old)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSavepoint, err)
		}
	}
	t.undo = t.undo[:sp.n]
	for p, m := range t.marks {
		if was, ok := sp.marks[p]; ok {
			was.b = m.b
			*m = was
		} else {
			delete(t.marks, p)
		}
	}
	return nil
}

// put writes key in bucket b (of menu, its sub-bucket sub (the name index, a key
// index) when that is not "", or meta when menu is ""), remembering the old value for
// an open savepoint; a nil v deletes the key.
func (t *Tx) put(menu, sub string, b *bolt.Bucket, key, v []byte) error {
	if t.saves > 0 {
		t.undo = append(t.undo, undoEntry{menu: menu, sub: sub, key: bytes.Clone(key), old: bytes.Clone(b.Get(key))})
	}
	if v == nil {
		return b.Delete(key)
	}
	return b.Put(key, v)
}

// created remembers, for an open savepoint, a bucket made after it.
func (t *Tx) created(menu, sub string) {
	if t.saves > 0 {
		t.undo = append(t.undo, undoEntry{menu: menu, sub: sub})
	}
}

// marks are a menu's next id (keySeq) and highest position (keyLast) in a writable
// transaction.
type marks struct {
	b          *bolt.Bucket
	path       string
	seq, last  uint64
	seqDirty   bool
	lastDirty  bool
	seqRead    bool
	lastLoaded bool
	// keys are the menu's key indexes (keyIndexes), read once per transaction.
	keys       map[string][]string
	keysLoaded bool
}

// marksOf returns the marks of the menu at path, whose bucket is b.
func (t *Tx) marksOf(path string, b *bolt.Bucket) *marks {
	if m := t.marks[path]; m != nil {
		m.b = b // the same bucket: only Wipe deletes one, and it drops the marks
		return m
	}
	if t.marks == nil {
		t.marks = map[string]*marks{}
	}
	m := &marks{b: b, path: path}
	t.marks[path] = m
	return m
}

// flush writes the marks this transaction changed; a commit calls it first.
func (t *Tx) flush() error {
	for _, m := range t.marks {
		if err := t.putMark(m, keySeq, m.seq, &m.seqDirty); err != nil {
			return err
		}
		if err := t.putMark(m, keyLast, m.last, &m.lastDirty); err != nil {
			return err
		}
	}
	return nil
}

// putMark writes one of a menu's marks (under key) when the transaction changed it.
func (t *Tx) putMark(m *marks, key []byte, v uint64, dirty *bool) error {
	if !*dirty {
		return nil
	}
	if err := t.put(m.path, "", m.b, key, binary.BigEndian.AppendUint64(nil, v)); err != nil {
		return err
	}
	*dirty = false
	return nil
}

// Before is an item as it was before a write: Existed false for an item the write
// created. Restore puts it back.
type Before struct {
	Path    string
	ID      uint64
	Existed bool
	Props   map[string]string
	Pos     uint64
}

// SetJournal makes the transaction report each item's state before it is written or
// deleted (nil: stop).
func (t *Tx) SetJournal(fn func(Before)) { t.journal = fn }

// before reports an item's state to the journal.
func (t *Tx) before(path string, b *bolt.Bucket, id uint64) error {
	if t.journal == nil {
		return nil
	}
	var v []byte
	if b != nil {
		v = b.Get(itemKey(id))
	}
	return t.beforeStored(path, id, v)
}

// beforeStored is before for a caller that has read the item's stored bytes v (nil:
// no such item).
func (t *Tx) beforeStored(path string, id uint64, v []byte) error {
	if t.journal == nil {
		return nil
	}
	bf := Before{Path: path, ID: id}
	if v != nil {
		r, err := t.read(path, itemKey(id), v)
		if err != nil {
			return err
		}
		bf.Existed, bf.Props, bf.Pos = true, r.Props, r.Pos
	}
	t.journal(bf)
	return nil
}

// Restore puts an item back as bf says it was: at its position with its properties, or
// gone when it did not exist. The journal sees it like any write.
func (t *Tx) Restore(bf Before) error {
	b, err := t.menu(bf.Path, bf.Existed)
	if err != nil {
		return err
	}
	if !bf.Existed {
		if err := t.Delete(bf.Path, bf.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		return nil
	}
	if err := t.before(bf.Path, b, bf.ID); err != nil {
		return err
	}
	oldName := ""
	var oldProps map[string]string
	had := false
	if v := b.Get(itemKey(bf.ID)); v != nil {
		r, err := t.read(bf.Path, itemKey(bf.ID), v)
		if err != nil {
			return err
		}
		oldName, oldProps, had = r.Props["name"], r.Props, true
	}
	if err := t.index(bf.Path, b, bf.ID, oldName, bf.Props["name"]); err != nil {
		return err
	}
	if err := t.reindex(bf.Path, b, bf.ID, had, oldProps, true, bf.Props); err != nil {
		return err
	}
	return t.writeTracked(bf.Path, b, bf.ID, record{Pos: bf.Pos, Props: bf.Props})
}

// Commit commits a transaction from Begin. One that wrote nothing is rolled back
// instead: bbolt would still write and fsync a new meta page, and a script that only
// reads (a scheduler item every second) would cost a disk sync each run. bbolt
// materialises a node for every write (put, delete, bucket, sequence), so no node
// means no write.
func (t *Tx) Commit() error {
	if err := t.flush(); err != nil {
		t.tx.Rollback()
		if t.owner != nil && t.owner.Observe != nil {
			t.owner.Observe(time.Since(t.start), err)
		}
		return err
	}
	var err error
	if st := t.tx.Stats(); st.GetNodeCount() == 0 {
		err = t.tx.Rollback()
	} else {
		err = t.tx.Commit()
	}
	if t.owner != nil && t.owner.Observe != nil {
		t.owner.Observe(time.Since(t.start), err)
	}
	return err
}

// Rollback abandons a transaction from Begin.
func (t *Tx) Rollback() error { return t.tx.Rollback() }

// Writable reports whether the transaction may write.
func (t *Tx) Writable() bool { return t.tx.Writable() }

func (t *Tx) menu(path string, create bool) (*bolt.Bucket, error) {
	root := t.tx.Bucket(bucketMenus)
	if b := root.Bucket([]byte(path)); b != nil || !create {
		return b, nil
	}
	b, err := root.CreateBucket([]byte(path))
	if err == nil {
		t.created(path, "")
	}
	return b, err
}

func itemKey(id uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixItem
	binary.BigEndian.PutUint64(k[1:], id)
	return k
}

// NextID reserves a new id in menu.
func (t *Tx) NextID(path string) (uint64, error) {
	b, err := t.menu(path, true)
	if err != nil {
		return 0, err
	}
	m := t.marksOf(path, b)
	if !m.seqRead {
		m.seq, m.seqRead = 1, true
		if v := b.Get(keySeq); len(v) == 8 {
			m.seq = binary.BigEndian.Uint64(v)
		}
	}
	id := m.seq
	m.seq, m.seqDirty = id+1, true
	return id, nil
}

// record is the stored form of an item: its position in the user order and its
// properties. Positions leave gaps so that place-before and move rewrite one item, not the
// whole menu.
type record struct {
	Pos   uint64            `json:"p"`
	Props map[string]string `json:"v"`
	// Raw holds the values that are not valid UTF-8 (RouterOS's `\E7` escapes write
	// Latin-1 and CP1251 bytes into comments and names), which JSON strings cannot
	// carry: they would come back as U+FFFD and an export would lose the bytes.
	Raw map[string][]byte `json:"b,omitempty"`
}

const posGap = 1 << 20

// read decodes the item stored as v under key k of menu path. Only read-only
// transactions fill the cache: what they see is committed.
func (t *Tx) read(path string, k, v []byte) (record, error) {
	return t.readShared(path, k, v, false)
}

func (t *Tx) readShared(path string, k, v []byte, shared bool) (record, error) {
	id := binary.BigEndian.Uint64(k[1:])
	if t.st != nil {
		if r, ok := t.st.decoded.get(path, id, v, shared); ok {
			return r, nil
		}
	}
	r, err := decodeRecord(v)
	if err != nil {
		return r, fmt.Errorf("store: item *%X: %w", id, err)
	}
	if t.st != nil && !t.tx.Writable() {
		if shared {
			// The caller promised not to modify it, so the cache can keep this one.
			t.st.decoded.put(path, id, v, r)
		} else {
			t.st.decoded.put(path, id, v, record{Pos: r.Pos, Props: maps.Clone(r.Props)})
		}
	}
	return r, nil
}

type posItem struct {
	Item
	pos uint64
}

func (t *Tx) scan(path string) ([]posItem, error) {
	return t.scanShared(path, false)
}

func (t *Tx) scanShared(path string, shared bool) ([]posItem, error) {
	b, err := t.menu(path, false)
	if err != nil || b == nil {
		return nil, err
	}
	var out []posItem
	c := b.Cursor()
	for k, v := c.Seek([]byte{prefixItem}); k != nil && k[0] == prefixItem; k, v = c.Next() {
		r, err := t.readShared(path, k, v, shared)
		if err != nil {
			return nil, err
		}
		out = append(out, posItem{Item{ID: binary.BigEndian.Uint64(k[1:]), Props: r.Props}, r.Pos})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].pos < out[j].pos })
	return out, nil
}

// Get reads one item.
func (t *Tx) Get(path string, id uint64) (Item, error) {
	b, err := t.menu(path, false)
	if err != nil {
		return Item{}, err
	}
	if b == nil {
		return Item{}, ErrNotFound
	}
	k := itemKey(id)
	v := b.Get(k)
	if v == nil {
		return Item{}, ErrNotFound
	}
	r, err := t.read(path, k, v)
	return Item{ID: id, Props: r.Props}, err
}

// List reads every item of menu in user order.
func (t *Tx) List(path string) ([]Item, error) {
	ps, err := t.scan(path)
	out := make([]Item, len(ps))
	for i := range ps {
		out[i] = ps[i].Item
	}
	return out, err
}

// Count is the number of items of menu, counted from their keys without reading them
// (print count-only of a 100,000-entry address list).
func (t *Tx) Count(path string) (int, error) {
	b, err := t.menu(path, false)
	if err != nil || b == nil {
		return 0, err
	}
	n := 0
	c := b.Cursor()
	for k, _ := c.Seek([]byte{prefixItem}); k != nil && k[0] == prefixItem; k, _ = c.Next() {
		n++
	}
	return n, nil
}

// ListShared is List for a caller that never modifies the items' Props: in a read-only
// transaction, an item whose stored bytes are those the store last decoded comes back
// as the same map, not a copy. An engine that reads a whole menu on every pass (10,000
// firewall rules during an import) saves a copy of each, and can tell an unchanged item
// by the map it got last time.
func (t *Tx) ListShared(path string) ([]Item, error) {
	ps, err := t.scanShared(path, !t.tx.Writable())
	out := make([]Item, len(ps))
	for i := range ps {
		out[i] = ps[i].Item
	}
	return out, err
}

// Put writes an item. A new item goes to the end of the order, or before the item
// `before` when that is non-zero; an existing item keeps its place.
func (t *Tx) Put(path string, it Item, before uint64) error {
	b, err := t.menu(path, true)
	if err != nil {
		return err
	}
	k := itemKey(it.ID)
	old := b.Get(k)
	if err := t.beforeStored(path, it.ID, old); err != nil {
		return err
	}
	var pos uint64
	if old != nil {
		r, err := t.read(path, k, old)
		if err != nil {
			return err
		}
		if err := t.index(path, b, it.ID, r.Props["name"], it.Props["name"]); err != nil {
			return err
		}
		if err := t.reindex(path, b, it.ID, true, r.Props, true, it.Props); err != nil {
			return err
		}
		pos = r.Pos
		return t.write(path, b, it.ID, record{Pos: pos, Props: it.Props})
	}
	if err := t.index(path, b, it.ID, "", it.Props["name"]); err != nil {
		return err
	}
	if err := t.reindex(path, b, it.ID, false, nil, true, it.Props); err != nil {
		return err
	}
	if pos, err = t.place(path, b, before); err != nil {
		return err
	}
	return t.writeTracked(path, b, it.ID, record{Pos: pos, Props: it.Props})
}

func (t *Tx) write(path string, b *bolt.Bucket, id uint64, r record) error {
	v, err := r.encode()
	if err != nil {
		return err
	}
	return t.put(path, "", b, itemKey(id), v)
}

// place finds the position for an item inserted before `before` (0: at the end),
// renumbering the menu when the gap is used up.
func (t *Tx) place(path string, b *bolt.Bucket, before uint64) (uint64, error) {
	if before == 0 {
		return t.lastPos(path, b) + posGap, nil
	}
	ps, err := t.scan(path)
	if err != nil {
		return 0, err
	}
	for i, p := range ps {
		if p.ID != before {
			continue
		}
		var lo uint64
		if i > 0 {
			lo = ps[i-1].pos
		}
		if p.pos-lo >= 2 {
			return lo + (p.pos-lo)/2, nil
		}
		// No room: renumber everything and retry once.
		for j, q := range ps {
			if err := t.writeTracked(path, b, q.ID, record{Pos: uint64(j+1) * posGap * 2, Props: q.Props}); err != nil {
				return 0, err
			}
		}
		return uint64(i+1)*posGap*2 - posGap, nil
	}
	return 0, ErrNotFound
}

// lastPos is the highest position handed out, kept under "last" so appends stay O(1).
func (t *Tx) lastPos(path string, b *bolt.Bucket) uint64 {
	m := t.marksOf(path, b)
	if !m.lastLoaded {
		m.lastLoaded = true
		if v := b.Get(keyLast); len(v) == 8 {
			m.last = binary.BigEndian.Uint64(v)
		}
	}
	return m.last
}

// Move places item id before `before` (0: at the end).
func (t *Tx) Move(path string, id, before uint64) error {
	it, err := t.Get(path, id)
	if err != nil {
		return err
	}
	b, _ := t.menu(path, true)
	if before == id {
		return nil
	}
	if err := t.before(path, b, id); err != nil {
		return err
	}
	// Take it out of the order first so place() does not see it.
	if err := t.put(path, "", b, itemKey(id), nil); err != nil {
		return err
	}
	pos, err := t.place(path, b, before)
	if err != nil {
		return err
	}
	return t.writeTracked(path, b, id, record{Pos: pos, Props: it.Props})
}

// writeTracked writes and advances the last-position mark.
func (t *Tx) writeTracked(path string, b *bolt.Bucket, id uint64, r record) error {
	if last := t.lastPos(path, b); r.Pos > last {
		m := t.marks[path]
		m.last, m.lastDirty = r.Pos, true
	}
	return t.write(path, b, id, r)
}

// Delete removes an item.
func (t *Tx) Delete(path string, id uint64) error {
	b, err := t.menu(path, false)
	if err != nil {
		return err
	}
	if b == nil {
		return ErrNotFound
	}
	v := b.Get(itemKey(id))
	if v == nil {
		return ErrNotFound
	}
	r, err := t.read(path, itemKey(id), v)
	if err != nil {
		return err
	}
	if err := t.before(path, b, id); err != nil {
		return err
	}
	if err := t.index(path, b, id, r.Props["name"], ""); err != nil {
		return err
	}
	if err := t.reindex(path, b, id, true, r.Props, false, nil); err != nil {
		return err
	}
	if t.st != nil {
		t.st.decoded.forget(path, id)
	}
	return t.put(path, "", b, itemKey(id), nil)
}

// index keeps the name index of a menu in step with an item's name, so that lookups by
// name (references, uniqueness, default names) cost one key read instead of a scan.
func (t *Tx) index(path string, b *bolt.Bucket, id uint64, old, name string) error {
	if old == name {
		return nil
	}
	nb := b.Bucket(bucketNames)
	if nb == nil {
		var err error
		if nb, err = b.CreateBucket(bucketNames); err != nil {
			return err
		}
		t.created(path, string(bucketNames))
	}
	if old != "" {
		if v := nb.Get([]byte(old)); len(v) == 8 && binary.BigEndian.Uint64(v) == id {
			if err := t.put(path, string(bucketNames), nb, []byte(old), nil); err != nil {
				return err
			}
		}
	}
	if name == "" {
		return nil
	}
	v := make([]byte, 8)
	binary.BigEndian.PutUint64(v, id)
	return t.put(path, string(bucketNames), nb, []byte(name), v)
}

// ByName finds the item of menu whose name property is name.
func (t *Tx) ByName(path, name string) (uint64, bool) {
	b, err := t.menu(path, false)
	if err != nil || b == nil {
		return 0, false
	}
	nb := b.Bucket(bucketNames)
	if nb == nil {
		return 0, false
	}
	v := nb.Get([]byte(name))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// Menus lists the menus that have a bucket.
func (t *Tx) Menus() []string {
	var out []string
	_ = t.tx.Bucket(bucketMenus).ForEachBucket(func(k []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// Wipe deletes every menu bucket (backup load replaces the whole configuration).
func (t *Tx) Wipe() error {
	if t.st != nil {
		t.st.decoded.forget("", 0)
	}
	t.marks = nil // their buckets go
	if t.saves > 0 {
		t.wiped = true
	}
	for _, m := range t.Menus() {
		if err := t.tx.Bucket(bucketMenus).DeleteBucket([]byte(m)); err != nil {
			return err
		}
	}
	return nil
}

// Meta reads a value of the meta bucket (format version, instance facts).
func (t *Tx) Meta(key string) string {
	return string(t.tx.Bucket(bucketMeta).Get([]byte(key)))
}

// SetMeta writes a value of the meta bucket.
func (t *Tx) SetMeta(key, val string) error {
	return t.put("", "", t.tx.Bucket(bucketMeta), []byte(key), []byte(val))
}

// DeleteMeta removes a value of the meta bucket.
func (t *Tx) DeleteMeta(key string) error {
	return t.put("", "", t.tx.Bucket(bucketMeta), []byte(key), nil)
}

// keyPrefix starts the names of a menu's key indexes (sub-buckets of its bucket): an
// index of the items by the values of several properties together, kept by Put, Delete
// and Restore once Lookup has built it. The ids follow the values in each key, so one
// value combination may name several items (stored before anything refused them).
const keyPrefix = "k:"

// keyMark is a key index entry's value: all it says is in its key.
var keyMark = []byte{1}

// keyIndexes are the key indexes a menu has, by their property lists, as this
// transaction found them.
func (t *Tx) keyIndexes(path string, b *bolt.Bucket) map[string][]string {
	m := t.marksOf(path, b)
	if m.keysLoaded {
		return m.keys
	}
	m.keysLoaded = true
	c := b.Cursor()
	for k, v := c.Seek([]byte(keyPrefix)); k != nil && bytes.HasPrefix(k, []byte(keyPrefix)); k, v = c.Next() {
		if v != nil {
			continue // not a bucket
		}
		if m.keys == nil {
			m.keys = map[string][]string{}
		}
		m.keys[string(k)] = strings.Split(string(k[len(keyPrefix):]), ",")
	}
	return m.keys
}

// keyOf is the index key of values vals: each value with its length before it, so no
// value can run into the next.
func keyOf(vals []string) []byte {
	var k []byte
	for _, v := range vals {
		k = binary.AppendUvarint(k, uint64(len(v)))
		k = append(k, v...)
	}
	return k
}

func propValues(props []string, p map[string]string) []string {
	vals := make([]string, len(props))
	for i, n := range props {
		vals[i] = p[n]
	}
	return vals
}

// reindex moves item id in every key index of the menu from its old properties (had:
// it existed) to the new (has: it still exists).
func (t *Tx) reindex(path string, b *bolt.Bucket, id uint64, had bool, old map[string]string, has bool, props map[string]string) error {
	for name, ps := range t.keyIndexes(path, b) {
		ok, nk := keyOf(propValues(ps, old)), keyOf(propValues(ps, props))
		if had && has && bytes.Equal(ok, nk) {
			continue
		}
		kb := b.Bucket([]byte(name))
		if kb == nil {
			continue
		}
		if had {
			if err := t.put(path, name, kb, binary.BigEndian.AppendUint64(ok, id), nil); err != nil {
				return err
			}
		}
		if has {
			if err := t.put(path, name, kb, binary.BigEndian.AppendUint64(nk, id), keyMark); err != nil {
				return err
			}
		}
	}
	return nil
}

// Lookup returns the ids of the items of menu path whose properties props have the
// values vals, in id order. In a writable transaction the first Lookup of a property
// list builds its index (one pass over the menu) and every later one, in any later
// transaction, reads only the matching keys: the duplicate check of an address list
// that holds 100,000 entries costs what it costs on an empty one. A read-only
// transaction without the index scans the menu.
func (t *Tx) Lookup(path string, props, vals []string) ([]uint64, error) {
	if len(props) != len(vals) || len(props) == 0 {
		return nil, fmt.Errorf("store: lookup: %d properties, %d values", len(props), len(vals))
	}
	for _, p := range props {
		if p == "" || bytes.IndexByte([]byte(p), ',') >= 0 {
			return nil, fmt.Errorf("store: lookup: bad property name %q", p)
		}
	}
	b, err := t.menu(path, false)
	if err != nil || b == nil {
		return nil, err
	}
	name := keyPrefix + strings.Join(props, ",")
	kb := b.Bucket([]byte(name))
	if kb == nil && t.tx.Writable() {
		if kb, err = t.buildIndex(path, b, name, props); err != nil {
			return nil, err
		}
	}
	var ids []uint64
	if kb == nil {
		items, err := t.scan(path)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			if slices.Equal(propValues(props, it.Props), vals) {
				ids = append(ids, it.ID)
			}
		}
		slices.Sort(ids)
		return ids, nil
	}
	prefix := keyOf(vals)
	c := kb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) == len(prefix)+8 {
			ids = append(ids, binary.BigEndian.Uint64(k[len(prefix):]))
		}
	}
	return ids, nil
}

// Indexed reports whether Lookup of props in menu path reads a key index: always in a
// writable transaction (the first Lookup builds it), in a read-only one once a writable
// one built it. A caller that looks up many values at once scans the menu itself
// instead when it is not (one scan, not one per Lookup).
func (t *Tx) Indexed(path string, props []string) bool {
	if t.tx.Writable() {
		return true
	}
	b, err := t.menu(path, false)
	if err != nil || b == nil {
		return false
	}
	return b.Bucket([]byte(keyPrefix+strings.Join(props, ","))) != nil
}

// buildIndex creates the key index name of the menu over its items.
func (t *Tx) buildIndex(path string, b *bolt.Bucket, name string, props []string) (*bolt.Bucket, error) {
	items, err := t.scan(path)
	if err != nil {
		return nil, err
	}
	kb, err := b.CreateBucket([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("store: index %s of %s: %w", name, path, err)
	}
	t.created(path, name) // a savepoint rolled back takes it, and what it holds, away
	for _, it := range items {
		if err := kb.Put(binary.BigEndian.AppendUint64(keyOf(propValues(props, it.Props)), it.ID), keyMark); err != nil {
			return nil, err
		}
	}
	m := t.marksOf(path, b)
	if m.keysLoaded {
		if m.keys == nil {
			m.keys = map[string][]string{}
		}
		m.keys[name] = props
	}
	return kb, nil
}
