package user

import (
	"context"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
)

// ActivePath is the menu of the users logged in now.
const ActivePath = menu.UserActivePath

type activeSession struct {
	when    time.Time
	name    string
	address netip.Addr
	via     string
	group   string
}

// activeSessions are the sessions of /user active: each from its login until its
// protocol ends it (Session.End) or the context it logged in with ends (one REST request).
type activeSessions struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]activeSession
}

func (s *activeSessions) add(ctx context.Context, sess *control.Session, a activeSession) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[uint64]activeSession{}
	}
	s.next++
	id := s.next
	s.m[id] = a
	s.mu.Unlock()
	var once sync.Once
	remove := func() {
		once.Do(func() {
			s.mu.Lock()
			delete(s.m, id)
			s.mu.Unlock()
		})
	}
	stop := context.AfterFunc(ctx, remove)
	sess.OnEnd(func() { stop(); remove() })
}

func (s *activeSessions) rows(ex *control.Executor) control.Source {
	return func(context.Context, *control.Session) ([]control.Row, error) {
		m, _ := ex.Tree.Get(ActivePath)
		s.mu.Lock()
		defer s.mu.Unlock()
		rows := make([]control.Row, 0, len(s.m))
		for id, a := range s.m {
			addr := ""
			if a.address.IsValid() {
				addr = a.address.String()
			}
			rows = append(rows, control.Row{ID: id, Menu: m, Props: map[string]string{
				"when": a.when.Format("2006-01-02 15:04:05"), "name": a.name, "address": addr,
				"via": a.via, "group": a.group,
			}})
		}
		sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
		return rows, nil
	}
}

// Console lists a session of the local console (routerctl on the console socket, which
// needs no password: its user is root on the machine) in /user active as via=console
// until ctx ends, as RouterOS lists its serial and local console logins.
func (a *Auth) Console(ctx context.Context, sess *control.Session) {
	group := "full"
	if u, _, err := a.lookup(sess.User); err == nil && u != nil {
		group = u.group
	}
	a.active.add(ctx, sess, activeSession{when: a.now(), name: sess.User, via: "console", group: group})
}
