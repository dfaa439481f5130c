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

// setElement is `:set ($a->k) v`: a's size is kept as elements are written (the old
// element's size taken off), and the write is refused past MaxValue.
func setElement(a *Array, k, v Value) error {
	if a.bytes <= 0 {
		a.bytes = size(a, MaxValue, 0)
	}
	n := 1 + size(v, MaxValue, 0)
	old := 0
	if x := a.Get(k); x != nil {
		if _, none := x.(Nothing); !none {
			old = 1 + size(x, MaxValue, 0)
		}
	}
	if a.Len() >= MaxValue || a.bytes-old+n > MaxValue {
		return ErrValueTooLarge
	}
	a.Set(k, v)
	a.bytes += n - old
	return nil
}
