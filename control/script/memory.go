package script

import (
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// MaxHeap bounds the Go heap while scripts run: past it every script statement fails
// with "not enough memory" until the heap shrinks again. Values, arrays and globals are
// bounded one by one; this is the bound on what many of them together, in many
// sessions, may hold, so that no user's script can take the memory routerd needs.
var MaxHeap uint64 = 1 << 30

// ErrNoMemory is a script's run-time error past MaxHeap.
var ErrNoMemory = &Error{Msg: "not enough memory"}

var (
	heapOnce sync.Once
	heapOver atomic.Bool
)

// heapFull reports whether the heap is past MaxHeap. A background reader samples it
// every 50 ms (reading runtime metrics on every statement would cost more than the
// statement).
func heapFull() bool {
	heapOnce.Do(func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		read := func() {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				heapOver.Store(sample[0].Value.Uint64() > MaxHeap)
			}
		}
		read()
		go func() {
			for range time.Tick(50 * time.Millisecond) {
				read()
			}
		}()
	})
	return heapOver.Load()
}

// concatEach is `array . string` (or string . array when front): an element per element,
// the whole bounded by MaxValue.
func concatEach(a *Array, s string, front bool) (Value, error) {
	out := &Array{}
	total := 0
	var err error
	a.each(func(_, v Value) bool {
		e := ToString(v)
		if total += 1 + len(e) + len(s); total > MaxValue {
			err = ErrValueTooLarge
			return false
		}
		if front {
			out.List = append(out.List, Str(s+e))
		} else {
			out.List = append(out.List, Str(e+s))
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Limits on values: a string's bytes, an array's elements and how deep arrays nest in
// arrays. `:set a ($a.$a)` in a loop doubles a string each turn, and element writes
// (`:set ($a->$i) ...`, `:set ($a->1->2->3) ...`) grow arrays one by one; without these
// either would take all memory within a second.
const (
	// MaxValue bounds the size of one value: a string's bytes, an array's elements
	// and their sizes, counted through nested arrays (measure).
	MaxValue = 4 << 20
	// MaxElements bounds the elements of one value, counted through nested arrays:
	// each costs tens of bytes more than the byte it counts for in MaxValue.
	MaxElements = 1 << 18
	// MaxArrayDepth bounds arrays nested in arrays.
	MaxArrayDepth = 32
)

// The run-time errors of those limits.
var (
	ErrValueTooLarge   = &Error{Msg: "value too large"}
	ErrTooManyElements = &Error{Msg: "too many array elements"}
	ErrArrayTooDeep    = &Error{Msg: "array nesting too deep"}
	errNotArray        = &Error{Msg: "not an array"}
)

// measure returns v's size in bytes (a string's length, 8 for other scalars, 1 per
// element of an array plus the element's size) and element count, as if v were nested
// depth arrays deep, or the error of the first limit it passes. It stops walking there.
func measure(v Value, depth int) (bytes, elems int, err error) {
	m := meter{}
	m.walk(v, depth)
	return m.bytes, m.elems, m.err
}

type meter struct {
	bytes, elems int
	err          error
}

func (m *meter) walk(v Value, depth int) {
	switch x := v.(type) {
	case Str:
		m.bytes += len(x)
	case *Array:
		if depth >= MaxArrayDepth {
			m.err = ErrArrayTooDeep
			return
		}
		x.each(func(_, e Value) bool {
			m.bytes++
			if m.elems++; m.elems > MaxElements {
				m.err = ErrTooManyElements
				return false
			}
			m.walk(e, depth+1)
			return m.err == nil
		})
	default:
		m.bytes += 8
	}
	if m.err == nil && m.bytes > MaxValue {
		m.err = ErrValueTooLarge
	}
}

// Arrays are values in RouterOS: `:local b $a` copies, and a write to an element of $b
// leaves $a as it was. Here an array is shared until stored: own is called on every
// value a variable, an argument or an array element is about to hold, and copies an
// array another holds already. So every stored array has one holder, an element write
// changes only the arrays of the variable written, and measuring that variable
// measures everything the write can have grown.
func own(v Value) Value {
	a, ok := v.(*Array)
	if !ok {
		return v
	}
	if a.held {
		return clone(a)
	}
	a.held = true
	for i, e := range a.List {
		if _, ok := e.(*Array); ok {
			a.List[i] = own(e)
		}
	}
	for k, e := range a.Keys {
		if _, ok := e.(*Array); ok {
			a.Keys[k] = own(e)
		}
	}
	return a
}

// clone copies an array and every array in it; the copies are held.
func clone(a *Array) *Array {
	c := &Array{held: true}
	if a.List != nil {
		c.List = make([]Value, len(a.List))
		for i, e := range a.List {
			if x, ok := e.(*Array); ok {
				e = clone(x)
			}
			c.List[i] = e
		}
	}
	if a.Keys != nil {
		c.Keys = make(map[string]Value, len(a.Keys))
		for k, e := range a.Keys {
			if x, ok := e.(*Array); ok {
				e = clone(x)
			}
			c.Keys[k] = e
		}
	}
	return c
}

// freeze marks v's arrays as read by a session that may keep them (a global's value
// handed out by Globals.Get): they are never written again (setPath copies them
// instead). A frozen array's elements are frozen already, so freezing walks only what
// was written since the last freeze.
func freeze(v Value) {
	a, ok := v.(*Array)
	if !ok || a.frozen {
		return
	}
	a.frozen, a.held = true, true
	for _, e := range a.List {
		freeze(e)
	}
	for _, e := range a.Keys {
		freeze(e)
	}
}

// setPath is `:set ($root->keys[0]->...->keys[n-1]) v`: it writes v into the array the
// path leads to and returns the root to keep. Arrays on the path must exist. A frozen
// array on the path (a global's) is copied rather than written, so the root returned is
// then a new one. The root may not grow past the value limits (measure); keys deeper
// than MaxArrayDepth are refused before anything is walked. admit, when set, is asked
// about the growth before anything is written (a global's owner's bound).
func setPath(root Value, keys []Value, v Value, admit func(grow int) error) (Value, int, error) {
	if len(keys) == 0 {
		return nil, 0, errNotArray
	}
	if len(keys) > MaxArrayDepth {
		return nil, 0, ErrArrayTooDeep
	}
	path := make([]*Array, len(keys))
	cur := root
	for i, k := range keys {
		a, ok := cur.(*Array)
		if !ok {
			return nil, 0, errNotArray
		}
		path[i] = a
		cur = a.Get(k)
	}
	v = own(v)
	n, ne, err := measure(v, len(keys))
	if err != nil {
		return nil, 0, err
	}
	n, ne = n+1, ne+1 // the element itself
	last, k := path[len(path)-1], keys[len(keys)-1]
	// What Set replaces, which Get may not read: "0" reads a list's first element
	// but writes a key.
	cur = last.slot(k)
	old, oe := 0, 0
	if _, none := cur.(Nothing); !none {
		old, oe, _ = measureOf(cur)
		old, oe = old+1, oe+1
	}
	rb, re := path[0].measured()
	if rb-old+n > MaxValue {
		return nil, 0, ErrValueTooLarge
	}
	if re-oe+ne > MaxElements {
		return nil, 0, ErrTooManyElements
	}
	if admit != nil {
		if err := admit(n - old); err != nil {
			return nil, 0, err
		}
	}
	// Every array on the path knows its size before it changes.
	for _, a := range path {
		a.measured()
	}
	for i, a := range path {
		if !a.frozen {
			continue
		}
		c := a.shallow()
		if i == 0 {
			root = c
		} else {
			path[i-1].Set(keys[i-1], c)
		}
		path[i] = c
	}
	last = path[len(path)-1]
	last.Set(k, v)
	for _, a := range path {
		a.bytes += n - old
		a.elems += ne - oe
	}
	return root, n - old, nil
}

// slot is the element Set(k, ...) replaces: Nothing when it adds one.
func (a *Array) slot(k Value) Value {
	if n, ok := k.(Num); ok && int(n) >= 0 && int(n) <= len(a.List) {
		if int(n) < len(a.List) {
			return a.List[n]
		}
		return Nothing{}
	}
	if v, ok := a.Keys[ToString(k)]; ok {
		return v
	}
	return Nothing{}
}

// measureOf measures an element already held: an array's cached size.
func measureOf(v Value) (int, int, error) {
	if a, ok := v.(*Array); ok {
		b, e := a.measured()
		return b, e, nil
	}
	return measure(v, 0)
}

// measured returns a's size and element count, measuring it the first time. setPath
// keeps them as it writes, so that filling an array element by element does not walk
// it each time; an array is written only through setPath once held.
func (a *Array) measured() (int, int) {
	if !a.sized {
		a.bytes, a.elems, _ = measure(a, 0)
		a.sized = true
	}
	return a.bytes, a.elems
}

// shallow copies a (not its elements), keeping its measure; the copy is held, not
// frozen.
func (a *Array) shallow() *Array {
	c := &Array{held: true, bytes: a.bytes, elems: a.elems, sized: a.sized}
	if a.List != nil {
		c.List = append(make([]Value, 0, len(a.List)+1), a.List...)
	}
	if a.Keys != nil {
		c.Keys = make(map[string]Value, len(a.Keys)+1)
		for k, e := range a.Keys {
			c.Keys[k] = e
		}
	}
	return c
}
