package control

import (
	"sync"

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

	mu      sync.Mutex
	nums    map[string][]uint64
	batch   *store.Tx
	pending []Change
}

func (s *Session) numbers(path string) []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nums[path]
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

// BeginBatch makes the session's following commands share one store transaction until
// EndBatch: a script or an import of thousands of commands then costs one commit, and a
// command that fails inside it leaves what ran before it applied (handlers validate
// before writing, so the failing command itself wrote nothing).
func (x *Executor) BeginBatch(s *Session) error {
	if s.batch != nil {
		return nil
	}
	tx, err := x.Store.Begin()
	if err != nil {
		return err
	}
	s.batch = tx
	return nil
}

// InBatch reports whether the session holds a batch transaction.
func (s *Session) InBatch() bool { return s.batch != nil }

// EndBatch commits the session's batch and tells watchers what changed.
func (x *Executor) EndBatch(s *Session) error {
	if s.batch == nil {
		return nil
	}
	tx, chs := s.batch, s.pending
	s.batch, s.pending = nil, nil
	if err := tx.Commit(); err != nil {
		return AsError(err)
	}
	x.notify(chs)
	return nil
}

// FlushBatch commits what the batch holds and starts a new one, for long scripts that
// must not hold the store's writer lock across a :delay.
func (x *Executor) FlushBatch(s *Session) error {
	if s.batch == nil {
		return nil
	}
	if err := x.EndBatch(s); err != nil {
		return err
	}
	return x.BeginBatch(s)
}

// RollbackBatch abandons the session's batch: nothing it wrote is kept (dry-run import,
// a backup load that failed half way).
func (x *Executor) RollbackBatch(s *Session) error {
	if s.batch == nil {
		return nil
	}
	tx := s.batch
	s.batch, s.pending = nil, nil
	return tx.Rollback()
}

// Can reports whether the session holds a policy.
func (s *Session) Can(policy string) bool {
	if s == nil || s.Policies == nil {
		return true
	}
	return s.Policies[policy]
}
