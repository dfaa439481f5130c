package firewall

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// heapSite is the live heap allocated at one place (the innermost routerd function of
// the allocating stack, with the function that called it).
type heapSite struct {
	site  string
	bytes float64
}

// heapSites sums the memory profile's live bytes by allocation site, scaled up from
// the samples (taken every sampleRate bytes) as pprof does, biggest first. Sites outside routerd (the runtime, bbolt's
// own pages) are summed by their innermost function.
func heapSites(sampleRate int) []heapSite {
	runtime.GC()
	runtime.GC()
	var recs []runtime.MemProfileRecord
	n, _ := runtime.MemProfile(nil, false)
	for {
		recs = make([]runtime.MemProfileRecord, n+50)
		var ok bool
		if n, ok = runtime.MemProfile(recs, false); ok {
			recs = recs[:n]
			break
		}
	}
	rate := float64(sampleRate)
	by := map[string]float64{}
	for _, r := range recs {
		if r.InUseBytes() == 0 {
			continue
		}
		scale := 1.0
		if rate > 1 && r.AllocObjects > 0 {
			avg := float64(r.AllocBytes) / float64(r.AllocObjects)
			scale = 1 / (1 - math.Exp(-avg/rate))
		}
		var names []string
		frames := runtime.CallersFrames(r.Stack())
		for {
			f, more := frames.Next()
			names = append(names, f.Function)
			if !more {
				break
			}
		}
		site := ""
		for i, fn := range names {
			if strings.HasPrefix(fn, "github.com/routerd/routerd/") {
				site = strings.TrimPrefix(fn, "github.com/routerd/routerd/")
				if i+1 < len(names) {
					site += " <- " + shortFn(names[i+1])
				}
				break
			}
		}
		if site == "" && len(names) > 0 {
			site = names[0]
		}
		by[site] += float64(r.InUseBytes()) * scale
	}
	var out []heapSite
	for s, b := range by {
		out = append(out, heapSite{s, b})
	}
	slices.SortFunc(out, func(a, b heapSite) int { return int(b.bytes - a.bytes) })
	return out
}

func shortFn(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

// createdSaved reports whether the store has the creation-time of every configured
// entry the engine has seen (nothing left for saveCreated).
func (e *Engine) createdSaved() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.unsaved[false])+len(e.unsaved[true]) > 0 {
		return false
	}
	for _, ms := range e.listMeta {
		for _, m := range ms {
			if m.saved == 0 {
				return false
			}
		}
	}
	return true
}

// TestBenchAddressListMemory: the heap a routerd holds per address-list entry, and how
// long print of the list takes, issue 15. A fresh routerd imports -firewall.blocklist
// entries (one list used by a rule); the live heap after a full collection is compared
// with that before the import, and the memory profile (sampled every 512 bytes during
// the import) says which allocation sites hold it. Then `print count-only`, `print count-only where
// list=bl` and `print where address=...` are timed over the console.
//
//	go test ./control/firewall/ -run TestBenchAddressListMemory -firewall.bench -v [-firewall.blocklist 100000]
func TestBenchAddressListMemory(t *testing.T) {
	if !*benchFlag {
		t.Skip("benchmark: run with -firewall.bench")
	}
	n := *benchBlocklist
	if n <= 0 {
		t.Skip("-firewall.blocklist 0")
	}
	tp := newTopo(t)
	load0 := loadAverage()
	b := newListBench(t, tp)
	// The import's allocations are sampled every 512 bytes, the prints' at the default
	// rate (the denser sampling costs them several times their time).
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 512
	before := heapSites(512)
	heap0 := liveHeap()
	script, wall := b.importFile(t, blocklist("bl", 0, n), n)
	runtime.MemProfileRate = old
	// The figure is of the steady state: once every entry's creation-time is in the
	// store (saveCreated's batch of new values is garbage then).
	deadline := time.Now().Add(5 * time.Minute)
	for !b.e.createdSaved() {
		if time.Now().After(deadline) {
			t.Fatal("the entries' creation-times were never all saved")
		}
		time.Sleep(100 * time.Millisecond)
	}
	heap1 := liveHeap()
	per := float64(heap1-heap0) / float64(n)
	t.Logf("%d entries: imported in %v (applied after %v); live heap %.1f MB -> %.1f MB: %.0f bytes per entry",
		n, script.Round(time.Millisecond), wall.Round(time.Millisecond), float64(heap0)/1e6, float64(heap1)/1e6, per)
	was := map[string]float64{}
	for _, s := range before {
		was[s.site] = s.bytes
	}
	after := heapSites(512)
	for i, s := range after {
		if i == 15 {
			break
		}
		t.Logf("  %6.0f B/entry  %s", (s.bytes-was[s.site])/float64(n), s.site)
	}

	// Wall time and the process's CPU time (the machine's load swings the former).
	timed := func(cmd string) (string, time.Duration, time.Duration) {
		var out strings.Builder
		start := time.Now()
		u0, s0 := cpuTimes()
		if err := b.in.Run(context.Background(), b.con, cmd, &out); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		u1, s1 := cpuTimes()
		return strings.TrimSpace(out.String()), time.Since(start), u1 - u0 + s1 - s0
	}
	mid := blockAddr(n / 2).String()
	for _, c := range []struct{ cmd, want string }{
		{"/ip firewall address-list print count-only", fmt.Sprint(n)},
		{"/ip firewall address-list print count-only where list=bl", fmt.Sprint(n)},
		{"/ip firewall address-list print count-only where list=other", "0"},
		{"/ip firewall address-list print where address=" + mid, mid},
		{"/ip firewall address-list print count-only", fmt.Sprint(n)},
	} {
		out, d, cpu := timed(c.cmd)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s: %q, want %s", c.cmd, out, c.want)
		}
		t.Logf("%s: %v (CPU %v)", c.cmd, d.Round(time.Millisecond), cpu.Round(time.Millisecond))
	}
	heap2 := liveHeap()
	t.Logf("after the prints: live heap %.1f MB (%.0f bytes per entry)", float64(heap2)/1e6, float64(heap2-heap0)/float64(n))
	t.Logf("load average %s -> %s", load0, loadAverage())
}
