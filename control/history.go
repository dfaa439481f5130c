package control

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/store"
)

// HistoryPath is the menu listing recent configuration changes.
const HistoryPath = menu.HistoryPath

// maxHistory is how many changes /system history keeps, oldest dropped first.
const maxHistory = 100

// history is /system history: each command that changed the configuration, with its
// items as they were before, so that /undo can put them back and /redo make the change
// again, as RouterOS's console has it.
type history struct {
	mu      sync.Mutex
	next    uint64
	entries []*histEntry // oldest first; up to 2*maxHistory kept, maxHistory shown
	undone  int          // entries undone (redoable)
}

type histEntry struct {
	id     uint64
	action string
	by     string
	policy string
	when   time.Time
	before []store.Before // the items before the change, in write order
	after  []store.Before // the items before the undo, for redo
	undone bool
	sess   *Session // root session of the command
}

// mark is the id of the newest entry, for dropSince.
func (h *history) mark() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.next
}

// dropSince forgets the entries the session made after mark: their commands were
// rolled back together (a refused part of a RouterOS 6 line), so there is nothing to undo.
func (h *history) dropSince(mark uint64, sess *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.entries[:0]
	for _, e := range h.entries {
		if e.id <= mark || e.sess != sess {
			kept = append(kept, e)
		}
	}
	h.entries = kept
}

// enableHistory turns history on when the tree declares its menu.
func (x *Executor) enableHistory() {
	if _, ok := x.Tree.Get(HistoryPath); !ok {
		return
	}
	x.hist = &history{}
	x.Provide(HistoryPath, x.hist.rows)
	x.Handle("", "undo", CommandSpec{Policy: "write"}, func(ctx context.Context, c *Call) (*Reply, error) {
		return &Reply{}, x.undoRedo(c.Sess, true)
	})
	x.Handle("", "redo", CommandSpec{Policy: "write"}, func(ctx context.Context, c *Call) (*Reply, error) {
		return &Reply{}, x.undoRedo(c.Sess, false)
	})
}

// journaled wraps an Update function so the items it writes are recorded, as they
// were, in the session's journal; Exec turns the journal into a history entry.
func journaled(sess *Session, fn func(tx *store.Tx) ([]Change, error)) func(tx *store.Tx) ([]Change, error) {
	return func(tx *store.Tx) ([]Change, error) {
		if sess.journalFull() {
			return fn(tx) // not undoable any more: spare the reads
		}
		var bs []store.Before
		tx.SetJournal(func(b store.Before) { bs = append(bs, b) })
		chs, err := fn(tx)
		tx.SetJournal(nil)
		if err == nil && len(bs) > 0 {
			sess.addJournal(bs)
		}
		return chs, err
	}
}

// commit makes the journal of a command that ran into a history entry. A failed
// command's partial journal is dropped with it.
func (h *history) commit(x *Executor, sess *Session, s *Sentence, policy string, err error) {
	bs := sess.root().takeJournal()
	if err != nil || len(bs) == 0 || sess.User == "" || sess.DryRun || (s.Path == "" && (s.Cmd == "undo" || s.Cmd == "redo")) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	// A new change ends what could be redone.
	if h.undone > 0 {
		kept := h.entries[:0]
		for _, e := range h.entries {
			if !e.undone {
				kept = append(kept, e)
			}
		}
		h.entries, h.undone = kept, 0
	}
	h.next++
	h.entries = append(h.entries, &histEntry{id: h.next, action: action(s), by: sess.User, policy: policy,
		when: x.Now(), before: bs, sess: sess.root()})
	if len(h.entries) > 2*maxHistory {
		// Drop the oldest in one copy now and then, not one per change.
		h.entries = append(h.entries[:0:0], h.entries[len(h.entries)-maxHistory:]...)
	}
}

var verbs = map[string]string{"add": "added", "set": "changed", "remove": "removed", "unset": "changed",
	"enable": "enabled", "disable": "disabled", "comment": "changed", "move": "moved"}

// action describes a command as history shows it: "item added in /system/script".
func action(s *Sentence) string {
	verb := verbs[s.Cmd]
	where := s.Path
	if where == "" {
		where = "/"
	}
	if verb == "" {
		return s.Cmd + " in " + where
	}
	return "item " + verb + " in " + where
}

// undoRedo reverts the newest change not undone yet (undo), or makes the oldest undone
// one again (redo), in one transaction, and tells the engines.
func (x *Executor) undoRedo(sess *Session, undo bool) error {
	h := x.hist
	h.mu.Lock()
	defer h.mu.Unlock()
	var e *histEntry
	if undo {
		for i := len(h.entries) - 1; i >= 0; i-- {
			if !h.entries[i].undone {
				e = h.entries[i]
				break
			}
		}
	} else {
		for _, c := range h.entries {
			if c.undone {
				e = c
				break
			}
		}
	}
	if e == nil {
		if undo {
			return Failure("nothing to undo")
		}
		return Failure("nothing to redo")
	}
	// Undoing or redoing a change is making it: it needs the policies the change
	// needed (a write user's /undo reverted an admin's /user or /user group change).
	for p := range Policies(e.policy) {
		if !sess.Can(p) {
			return ErrPermission
		}
	}
	apply := e.before
	if !undo {
		apply = e.after
	}
	// and the policies of writing the items it restores: /password needs only password,
	// but what it changed is a /user item, which only policy may set (a write user's
	// /undo brought back another user's old password).
	for _, b := range apply {
		if _, ok := x.lookup(b.Path, "set"); ok {
			if err := x.Allowed(sess, b.Path, "set"); err != nil {
				return err
			}
		}
	}
	var seen []store.Before
	err := x.Update(sess, func(tx *store.Tx) ([]Change, error) {
		tx.SetJournal(func(b store.Before) { seen = append(seen, b) })
		defer tx.SetJournal(nil)
		var chs []Change
		for i := len(apply) - 1; i >= 0; i-- {
			b := apply[i]
			op := "set"
			if !b.Existed {
				op = "remove"
			}
			if err := tx.Restore(b); err != nil {
				return nil, err
			}
			chs = append(chs, Change{Path: b.Path, ID: b.ID, Op: op})
		}
		return chs, nil
	})
	sess.root().takeJournal()
	if err != nil {
		return err
	}
	if undo {
		e.after, e.undone = seen, true
		h.undone++
	} else {
		e.before, e.undone = seen, false
		h.undone--
	}
	return nil
}

func (h *history) rows(context.Context, *Session) ([]Row, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	rows := make([]Row, 0, maxHistory)
	for i := len(h.entries) - 1; i >= 0 && len(rows) < maxHistory; i-- {
		e := h.entries[i]
		flags, undoable, redoable := "U", "yes", "no"
		if e.undone {
			flags, undoable, redoable = "R", "no", "yes"
		}
		rows = append(rows, Row{ID: e.id, Flags: flags, Props: map[string]string{
			"action": e.action, "by": e.by, "policy": strings.ReplaceAll(e.policy, ",", ","),
			"time": e.when.Format("2006-01-02 15:04:05"), "undoable": undoable, "redoable": redoable,
		}})
	}
	return rows, nil
}
