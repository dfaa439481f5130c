package script

import (
	"sort"
	"sync"

	"github.com/routerd/routerd/control"
)

// Globals holds global variables (/system script environment).
//
// Every global has an owner whose bounds it counts against:
//   - a login (a console, telnet or ssh connection, an API connection, one REST
//     request) for the globals its own lines make, an imported file's and its :execute
//     jobs' included: they go when the login ends (Session.End), so nobody can leave
//     globals behind that hold routerd's memory after they left;
//   - a user, for the globals /system script run and the scheduler make
//     (control.Session.KeepsGlobals): those stay until routerd stops, as RouterOS keeps
//     globals until a reboot, since scripts keep state in them between runs.
//
// Whoever writes a global last owns it. Each owner may hold MaxOwnerGlobals globals of
// MaxOwnerGlobalBytes together, and all globals together are bounded by MaxGlobals and
// MaxGlobalBytes.
//
// A global's arrays are never written in place: another session may be reading them.
// An element write (`:set ($g->k) v`) copies the arrays on the path to the element and
// replaces the global (see setPath).
type Globals struct {
	mu    sync.Mutex
	m     map[string]Value
	size  map[string]int // each global's bytes (as measure counts them)
	owner map[string]owner
	count map[owner]int
	bytes map[owner]int
	total int // bytes of all globals
	// hooked are the logins whose End drops their globals.
	hooked map[*control.Session]bool
	// parent maps an :execute job's session to the owner of its caller's globals, which
	// owns the globals the job makes.
	parent map[*control.Session]owner
}

// owner is a login session or, for globals that outlive sessions, a user name.
type owner struct {
	sess *control.Session
	user string
}

// Limits on globals.
const (
	// MaxGlobals bounds the globals of all owners together, MaxOwnerGlobals those of one.
	MaxGlobals      = 4096
	MaxOwnerGlobals = 256
	// MaxOwnerGlobalBytes bounds the size of one owner's globals together: 256 globals
	// of 4 MiB each would be a gigabyte for every login. MaxGlobalBytes bounds them all.
	MaxOwnerGlobalBytes = 16 << 20
	MaxGlobalBytes      = 128 << 20
)

// ErrTooManyGlobals is the run-time error of the count limits; the size limits answer
// ErrValueTooLarge.
var ErrTooManyGlobals = &Error{Msg: "too many global variables"}

// ownerOf is who owns the globals sess's scripts write, and the login to hook when that
// is a login. g.mu is held.
func (g *Globals) ownerOf(sess *control.Session) owner {
	switch {
	case sess == nil:
		return owner{}
	case sess.GlobalsKept():
		return owner{user: sess.User}
	}
	login := sess.Login()
	if p, ok := g.parent[login]; ok {
		return p
	}
	return owner{sess: login}
}

// adopt makes the owner of parent's globals the owner of those child (an :execute job's
// session) makes, until release.
func (g *Globals) adopt(child, parent *control.Session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.parent == nil {
		g.parent = map[*control.Session]owner{}
	}
	g.parent[child] = g.ownerOf(parent)
}

func (g *Globals) release(child *control.Session) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.parent, child)
}

// Get reads a global. Its arrays must not be written (see Globals).
func (g *Globals) Get(name string) (Value, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.m[name]
	return v, ok
}

// Set writes a global that belongs to no session.
func (g *Globals) Set(name string, v Value) {
	_ = g.SetBy(name, v, nil)
}

// SetBy writes a global on behalf of sess, which owns it afterwards.
func (g *Globals) SetBy(name string, v Value, sess *control.Session) error {
	v = own(v)
	n, _, err := measure(v, 0)
	if err != nil {
		return err
	}
	freeze(v)
	return g.put(name, v, n, sess)
}

// SetElement is `:set ($name->keys[0]->...) v` on a global.
func (g *Globals) SetElement(name string, keys []Value, v Value, sess *control.Session) error {
	g.mu.Lock()
	root, ok := g.m[name]
	g.mu.Unlock()
	if !ok {
		return errNotArray
	}
	// The global's arrays are frozen: setPath copies the path, so the global is
	// unchanged until put replaces it. A concurrent writer of the same global may
	// have replaced it meanwhile; the later put wins, as with two :set of it.
	nroot, _, err := setPath(root, keys, v)
	if err != nil {
		return err
	}
	n, _, err := measure(nroot, 0)
	if err != nil {
		return err
	}
	freeze(nroot)
	return g.put(name, nroot, n, sess)
}

// put stores v, n bytes, as global name owned by sess's owner, within the bounds.
func (g *Globals) put(name string, v Value, n int, sess *control.Session) error {
	g.mu.Lock()
	if g.m == nil {
		g.m, g.size, g.owner = map[string]Value{}, map[string]int{}, map[string]owner{}
		g.count, g.bytes, g.hooked = map[owner]int{}, map[owner]int{}, map[*control.Session]bool{}
	}
	o := g.ownerOf(sess)
	prev, exists := g.owner[name]
	oldN := g.size[name]
	switch {
	case !exists && len(g.m) >= MaxGlobals, (!exists || prev != o) && g.count[o] >= MaxOwnerGlobals:
		g.mu.Unlock()
		return ErrTooManyGlobals
	}
	mine := 0 // what o holds of the global now
	if exists && prev == o {
		mine = oldN
	}
	if n > mine && g.bytes[o]-mine+n > MaxOwnerGlobalBytes || g.total-oldN+n > MaxGlobalBytes {
		g.mu.Unlock()
		return ErrValueTooLarge
	}
	if exists {
		g.disown(name)
	}
	g.m[name], g.size[name], g.owner[name] = v, n, o
	g.count[o]++
	g.bytes[o] += n
	g.total += n
	hook := o.sess != nil && !g.hooked[o.sess]
	if hook {
		g.hooked[o.sess] = true
	}
	g.mu.Unlock()
	if hook {
		// At once when the login has ended already (a job that outlived it).
		login := o.sess
		login.OnEnd(func() { g.EndSession(login) })
	}
	return nil
}

// disown takes global name off its owner's account; g.mu is held.
func (g *Globals) disown(name string) {
	o, ok := g.owner[name]
	if !ok {
		return
	}
	n := g.size[name]
	g.total -= n
	if g.count[o]--; g.count[o] <= 0 {
		delete(g.count, o)
		delete(g.bytes, o)
	} else {
		g.bytes[o] -= n
	}
	delete(g.owner, name)
	delete(g.size, name)
}

// Delete removes a global.
func (g *Globals) Delete(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.disown(name)
	delete(g.m, name)
}

// EndSession drops the globals of sess's login: it has ended.
func (g *Globals) EndSession(sess *control.Session) {
	if sess == nil {
		return
	}
	o := owner{sess: sess.Login()}
	g.mu.Lock()
	defer g.mu.Unlock()
	for name, on := range g.owner {
		if on == o {
			g.disown(name)
			delete(g.m, name)
		}
	}
	delete(g.hooked, o.sess)
}

// Names lists the globals, sorted.
func (g *Globals) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.m))
	for k := range g.m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
