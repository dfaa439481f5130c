package control

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/routerd/routerd/control/store"
)

// Session is one user's conversation with the executor: a console, an API connection, a
// running script. It keeps what RouterOS keeps per session: the print numbers of each menu
// and, for scripts, the batch transaction their commands share.
type Session struct {
	User string
	// ShowSensitive: the user may see secrets (the sensitive policy).
	ShowSensitive bool
	// Policies the user's group grants (read, write, test, sensitive, ...). Nil means
	// every policy: the local console socket is root's.
	Policies map[string]bool

	// DryRun: the session checks commands without acting (a dry-run import): its
	// batch is rolled back, commands with effects outside the store are skipped and
	// :delay does not wait.
	DryRun bool

	// V6: what the session runs is RouterOS 6's (an imported file whose export header
	// says so): the RouterOS 6 rewrites whose input v7 reads otherwise apply (a mangle
	// rule's unknown routing mark makes its table, as v6 made marks implicitly; v7
	// refuses it). Rewrites of v6-only properties apply to any input.
	V6 bool

	// Import: what the session runs is a script file (/import, routerctl -f), most often
	// an export: what it names that is not here is kept as written where a typed
	// command is refused, so that the box's own export always imports. A firewall rule
	// naming an interface that is gone (a PPP session's, a link made outside routerd, a
	// rule stored before unknown names were refused) is such a line: it is kept, and
	// matches the interface by name once it appears.
	Import bool

	// V6Joined: the RouterOS 6 master ports this session's import put into a bridge of
	// the export's own (port → bridge), so that an address line naming such a port
	// afterwards goes to that bridge as the upgrade put it. One import uses it at a
	// time: a session runs one command at a time.
	V6Joined map[string]string

	// KeepsGlobals: the globals this session's scripts make stay after it ends, until
	// routerd stops, as RouterOS keeps them until a reboot (a /system script run, a
	// scheduler item); they count against the user's bound instead of a session's. The
	// globals a login makes itself (lines typed at a console, an ssh command, an
	// imported file) go when it ends.
	KeepsGlobals bool

	// JobsOutlive: the :execute jobs this login starts do not end with it but run for
	// at most this long. A REST request is a login of its own that ends with its
	// answer, and RouterOS answers POST /rest/execute at once with the job's id.
	JobsOutlive time.Duration

	mu          sync.Mutex
	ended       bool
	onEnd       []func()
	nums        map[string][]uint64
	journal     []store.Before // items as they were before the command in progress wrote them
	journalLost bool

	// share is the session whose batch this one uses (a script started by it).
	share *Session
	// login is the session that started this one with a batch of its own (a script run
	// over the API): what ends with a login (:execute jobs) ends with that one.
	login *Session

	txmu     sync.Mutex // guards the batch fields; held while a command uses the batch
	batching bool
	atomic   bool
	batch    *store.Tx
	pending  []Change
	timer    *time.Timer
	flushErr error
	// lines counts the atomic lines (atomically) running in the batch: the timer must
	// not commit half of one, so it only sets flushDue and the outermost line commits.
	lines    int
	flushDue bool
}

func (s *Session) numbers(path string) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nums[path]
}

// PrintNumbers returns the ids the session's last print of a menu showed, in order (nil
// before any print), for handlers that resolve numbers of engine-supplied rows.
func (s *Session) PrintNumbers(path string) []uint64 {
	if s == nil {
		return nil
	}
	return s.numbers(path)
}

// setNumbers remembers the ids shown by the last print of a menu, in order: "set 0"
// refers to the first of them until the next print.
func (s *Session) setNumbers(path string, ids []uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nums == nil {
		s.nums = map[string][]uint64{}
	}
	s.nums[path] = ids
}

// A session's batch: scripts and imports run thousands of commands, and a commit each
// would cost a disk sync each. Their commands share one store transaction instead, but
// that transaction holds the store's only writer lock, so it is begun lazily by the
// first write and committed again after FlushAfter at most (by a timer, between two
// commands), before any :delay and when the run ends: a script that sleeps or loops
// never freezes other writers for longer than FlushAfter plus one command. A failing
// command wrote nothing (handlers validate before writing), and what ran before it
// stays applied, as RouterOS leaves it.
//
// An atomic batch (a dry-run import) is never committed early: it is rolled back at
// the end, and the run must not wait inside it (:delay returns at once in a dry run).

// Root is the session s was started from (a script's caller, its caller's...): the one
// that holds the batch, and owns the globals, of all of them.
func (s *Session) Root() *Session { return s.root() }

// root is the session that holds the batch s's commands use.
func (s *Session) root() *Session {
	for s.share != nil {
		s = s.share
	}
	return s
}

// FlushAfter bounds how long a batch holds the store's writer lock.
const FlushAfter = 20 * time.Millisecond

// BeginBatch makes the session's following commands share batch transactions until
// EndBatch.
func (x *Executor) BeginBatch(s *Session) error {
	s = s.root()
	s.txmu.Lock()
	defer s.txmu.Unlock()
	s.batching = true
	return nil
}

// BeginAtomic makes the session's following commands share one transaction that is
// never committed early; RollbackBatch abandons it.
func (x *Executor) BeginAtomic(s *Session) error {
	s = s.root()
	s.txmu.Lock()
	defer s.txmu.Unlock()
	s.batching, s.atomic = true, true
	return nil
}

// InBatch reports whether the session's commands run in a batch.
func (s *Session) InBatch() bool {
	s = s.root()
	s.txmu.Lock()
	defer s.txmu.Unlock()
	return s.batching
}

// EndBatch commits the session's batch and tells watchers what changed.
func (x *Executor) EndBatch(s *Session) error {
	s = s.root()
	s.txmu.Lock()
	chs, err := s.commitLocked()
	s.batching, s.atomic = false, false
	s.txmu.Unlock()
	x.notify(chs)
	if err != nil {
		return AsError(err)
	}
	return nil
}

// FlushBatch commits what the batch holds; the next write begins a new transaction. A
// run calls it before it waits.
func (x *Executor) FlushBatch(s *Session) error {
	s = s.root()
	s.txmu.Lock()
	if s.atomic || s.lines > 0 {
		s.txmu.Unlock()
		return nil
	}
	chs, err := s.commitLocked()
	s.txmu.Unlock()
	x.notify(chs)
	if err != nil {
		return AsError(err)
	}
	return nil
}

// commitLocked commits the open transaction, if any, and returns its changes and the
// error of an earlier commit by the timer.
func (s *Session) commitLocked() ([]Change, error) {
	err := s.flushErr
	s.flushErr, s.flushDue = nil, false
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.batch == nil {
		return nil, err
	}
	tx, chs := s.batch, s.pending
	s.batch, s.pending = nil, nil
	if cerr := tx.Commit(); cerr != nil {
		return nil, cerr
	}
	return chs, err
}

// RollbackBatch abandons the session's batch: nothing it wrote since its last commit is
// kept (dry-run import).
func (x *Executor) RollbackBatch(s *Session) error {
	s = s.root()
	s.txmu.Lock()
	defer s.txmu.Unlock()
	s.batching, s.atomic = false, false
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.batch == nil {
		return nil
	}
	tx := s.batch
	s.batch, s.pending = nil, nil
	return tx.Rollback()
}

// batchUpdate runs fn in the session's batch, beginning its transaction when needed.
// The caller holds s.txmu.
func (x *Executor) batchUpdate(s *Session, fn func(tx *store.Tx) ([]Change, error)) error {
	if s.batch == nil {
		tx, err := x.Store.Begin()
		if err != nil {
			return err
		}
		s.batch = tx
		if !s.atomic {
			s.timer = time.AfterFunc(FlushAfter, func() { x.timedFlush(s, tx) })
		}
	}
	chs, err := fn(s.batch)
	if err == nil {
		s.pending = append(s.pending, chs...)
	}
	return err
}

// timedFlush commits the batch tx when it is still the session's open one: the run is
// between two commands (it does not hold txmu), perhaps looping or waiting.
func (x *Executor) timedFlush(s *Session, tx *store.Tx) {
	s.txmu.Lock()
	if s.batch != tx {
		s.txmu.Unlock()
		return
	}
	s.timer = nil
	if s.lines > 0 {
		s.flushDue = true
		s.txmu.Unlock()
		return
	}
	chs, pending := s.pending, s.batch
	s.batch, s.pending = nil, nil
	err := pending.Commit()
	if err != nil {
		s.flushErr = err
		chs = nil
	}
	s.txmu.Unlock()
	x.notify(chs)
}

// Can reports whether the session holds a policy.
func (s *Session) Can(policy string) bool {
	if s == nil || s.Policies == nil {
		return true
	}
	return s.Policies[policy]
}

// StartedBy records that caller started s (a script's own session): Login then leads
// from s to caller's login.
func (s *Session) StartedBy(caller *Session) {
	if caller != nil && caller != s {
		s.login = caller.Login()
	}
}

// GlobalsKept reports whether the globals s's scripts make outlive the login: s or a
// session it shares its batch with keeps them (KeepsGlobals).
func (s *Session) GlobalsKept() bool {
	for ; s != nil; s = s.share {
		if s.KeepsGlobals {
			return true
		}
	}
	return false
}

// Login is the session of the connection or run that s works for: s's root, or the
// login that started it (StartedBy). :execute jobs end when it ends.
func (s *Session) Login() *Session {
	s = s.root()
	for s.login != nil {
		s = s.login.root()
	}
	return s
}

// OnEnd runs fn when the session ends (End), e.g. to drop it from /user active; at once
// when it has ended already.
func (s *Session) OnEnd(fn func()) {
	s.mu.Lock()
	if !s.ended {
		s.onEnd = append(s.onEnd, fn)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	fn()
}

// End ends the session: the protocol that opened it calls End when its connection closes.
// Calling it again does nothing.
func (s *Session) End() {
	if s == nil {
		return
	}
	s.mu.Lock()
	fns := s.onEnd
	s.onEnd, s.ended = nil, true
	s.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// maxJournal bounds the items one history entry keeps: a command that changes more
// (a large import) is not undoable rather than held in memory.
const maxJournal = 5000

func (s *Session) addJournal(bs []store.Before) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.journalLost || len(s.journal)+len(bs) > maxJournal {
		s.journal, s.journalLost = nil, true
		return
	}
	s.journal = append(s.journal, bs...)
}

func (s *Session) journalFull() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.journalLost
}

// takeJournal returns and clears the journal; nil when it overflowed.
func (s *Session) takeJournal() []store.Before {
	s.mu.Lock()
	defer s.mu.Unlock()
	bs := s.journal
	s.journal, s.journalLost = nil, false
	return bs
}

// atomically runs fn, whose commands write through the session, as one change: when fn
// fails nothing they wrote is kept (a RouterOS 6 line the upgrade splits into several
// items, a refused part of which leaves none behind).
//
// In a batch (an import, a script, an API batch) fn's writes are undone through a
// savepoint of the batch's transaction: a line costs no commit of its own, where
// committing before and after it cost two disk syncs a line (33.9 s for a 10,000-line
// /system script import). What the batch held before fn stays in it either way. Outside a
// batch fn runs in a transaction of its own, committed when it succeeds.
func (x *Executor) atomically(sess *Session, fn func() error) error {
	s := sess.root()
	s.txmu.Lock()
	var mark uint64
	if x.hist != nil {
		mark = x.hist.mark()
	}
	if !s.batching {
		s.batching, s.atomic = true, true
		s.txmu.Unlock()
		err := fn()
		s.txmu.Lock()
		var chs []Change
		if err != nil {
			s.abandonLocked()
			if x.hist != nil {
				x.hist.dropSince(mark, s)
			}
		} else if chs, err = s.commitLocked(); err != nil {
			err = AsError(err)
		}
		s.batching, s.atomic = false, false
		s.txmu.Unlock()
		x.notify(chs)
		return err
	}
	if s.batch == nil {
		// Begun here, not by fn's first write, so that the savepoint covers all of it.
		if err := x.batchUpdate(s, func(*store.Tx) ([]Change, error) { return nil, nil }); err != nil {
			s.txmu.Unlock()
			return AsError(err)
		}
	}
	tx := s.batch
	sp := tx.Savepoint()
	pending := len(s.pending)
	s.lines++
	s.txmu.Unlock()

	err := fn()

	s.txmu.Lock()
	s.lines--
	if err == nil {
		tx.Release(sp)
	} else {
		if x.hist != nil {
			x.hist.dropSince(mark, s)
		}
		if s.batch != tx {
			// Committed under the line, which the timer and FlushBatch wait for: say
			// so rather than undo in a closed transaction.
			s.abandonLocked()
			s.flushErr = errors.New("store: a failed line's transaction was committed before it could be undone")
		} else if rerr := tx.RollbackTo(sp); rerr != nil {
			// The store could not undo the line alone: give up the batch's uncommitted
			// part rather than keep half a line.
			s.abandonLocked()
			s.flushErr = fmt.Errorf("%w (undoing a failed line)", rerr)
		} else {
			s.pending = s.pending[:pending]
		}
	}
	var chs []Change
	var ferr error
	if s.lines == 0 && s.flushDue && !s.atomic {
		// The timer came due during the line.
		chs, ferr = s.commitLocked()
	}
	s.txmu.Unlock()
	x.notify(chs)
	if err == nil && ferr != nil {
		err = AsError(ferr)
	}
	return err
}

// abandonLocked rolls the session's open transaction back. The caller holds s.txmu.
func (s *Session) abandonLocked() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if s.batch != nil {
		s.batch.Rollback()
	}
	s.batch, s.pending = nil, nil
}
