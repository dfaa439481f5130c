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
// A global's arrays are never written while another session may be reading them: Get
// freezes what it hands out, and an element write (`:set ($g->k) v`) copies the frozen
// arrays on its path (see setPath).
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
	// ids number the globals for /system script environment, from 1 as made.
	ids  map[string]uint64
	next uint64
	// jobs counts the running :execute jobs per user (at most MaxJobs each): the
	// router's, like its globals, not the process's.
	jobs map[string]int
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

// startJob counts a new :execute job of user; false when user runs MaxJobs already.
func (g *Globals) startJob(user string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.jobs[user] >= MaxJobs {
		return false
	}
	if g.jobs == nil {
		g.jobs = map[string]int{}
	}
	g.jobs[user]++
	return true
}

// jobDone counts the end of a job startJob counted.
func (g *Globals) jobDone(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.jobs[user]--; g.jobs[user] <= 0 {
		delete(g.jobs, user)
	}
}

// Get reads a global. What it returns is frozen: the caller may keep it while other
// sessions write the global (a write then copies what it changes; see Globals).
func (g *Globals) Get(name string) (Value, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.m[name]
	freeze(v)
	return v, ok
}

// Element reads $name->keys[0]->...: Nothing when there is none. Only what it returns
// is frozen (see Get).
func (g *Globals) Element(name string, keys []Value) Value {
	g.mu.Lock()
	defer g.mu.Unlock()
	v, ok := g.m[name]
	if !ok {
		return Nothing{}
	}
	for _, k := range keys {
		a, ok := v.(*Array)
		if !ok {
			return Nothing{}
		}
		v = a.Get(k)
	}
	freeze(v)
	return v
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
	g.mu.Lock()
	o := g.ownerOf(sess)
	if err := g.admit(name, o, n); err != nil {
		g.mu.Unlock()
		return err
	}
	hook := g.store(name, v, n, o)
	g.mu.Unlock()
	g.hook(hook)
	return nil
}

// SetElement is `:set ($name->keys[0]->...) v` on a global. It writes in place what
// no session has read since it was last written, and copies the rest (see setPath),
// so that a script filling a global element by element costs in proportion to what it
// writes, while a reader's copy never changes under it.
func (g *Globals) SetElement(name string, keys []Value, v Value, sess *control.Session) error {
	g.mu.Lock()
	root, ok := g.m[name]
	if !ok {
		g.mu.Unlock()
		return errNotArray
	}
	o := g.ownerOf(sess)
	oldN := g.size[name]
	nroot, grow, err := setPath(root, keys, v, func(grow int) error { return g.admit(name, o, oldN+grow) })
	if err != nil {
		g.mu.Unlock()
		return err
	}
	hook := g.store(name, nroot, oldN+grow, o)
	g.mu.Unlock()
	g.hook(hook)
	return nil
}

// admit checks that global name may hold n bytes owned by o; g.mu is held.
func (g *Globals) admit(name string, o owner, n int) error {
	prev, exists := g.owner[name]
	oldN := g.size[name]
	switch {
	case !exists && len(g.m) >= MaxGlobals, (!exists || prev != o) && g.count[o] >= MaxOwnerGlobals:
		return ErrTooManyGlobals
	}
	mine := 0 // what o holds of the global now
	if exists && prev == o {
		mine = oldN
	}
	if n > mine && g.bytes[o]-mine+n > MaxOwnerGlobalBytes || g.total-oldN+n > MaxGlobalBytes {
		return ErrValueTooLarge
	}
	return nil
}

// store makes v, n bytes, global name, owned by o; g.mu is held. It returns the login
// whose End must drop its globals, when that is not arranged yet.
func (g *Globals) store(name string, v Value, n int, o owner) *control.Session {
	if g.m == nil {
		g.m, g.size, g.owner = map[string]Value{}, map[string]int{}, map[string]owner{}
		g.count, g.bytes, g.hooked = map[owner]int{}, map[owner]int{}, map[*control.Session]bool{}
	}
	if _, exists := g.owner[name]; exists {
		g.disown(name)
	}
	if g.ids == nil {
		g.ids = map[string]uint64{}
	}
	if _, ok := g.ids[name]; !ok {
		g.next++
		g.ids[name] = g.next
	}
	g.m[name], g.size[name], g.owner[name] = v, n, o
	g.count[o]++
	g.bytes[o] += n
	g.total += n
	if o.sess == nil || g.hooked[o.sess] {
		return nil
	}
	g.hooked[o.sess] = true
	return o.sess
}

// hook drops login's globals when it ends; at once when it has ended already (a job
// that outlived it). g.mu is not held.
func (g *Globals) hook(login *control.Session) {
	if login != nil {
		login.OnEnd(func() { g.EndSession(login) })
	}
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
	delete(g.ids, name)
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

// Var is one global as /system script environment shows it.
type Var struct {
	ID         uint64
	Name, User string
	Value      Value
}

// List returns the globals in the order they were made.
func (g *Globals) List() []Var {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Var, 0, len(g.m))
	for name, v := range g.m {
		o := g.owner[name]
		user := o.user
		if o.sess != nil {
			user = o.sess.User
		}
		freeze(v)
		out = append(out, Var{ID: g.ids[name], Name: name, User: user, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
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
