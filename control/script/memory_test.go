package script

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/routerd/routerd/control"
)

// Arrays are values: a copy is not changed by writes to the original's elements, nested
// ones included, nor the original by writes to the copy, a loop variable or an argument.
func TestArraysAreValues(t *testing.T) {
	in, c := newInterp(t)
	for _, tc := range []struct{ src, want string }{
		{`:local a {1;{2;3}}; :local b $a; :set ($b->1->0) 9; :put $a; :put $b`, "1;2;3\n1;9;3\n"},
		{`:local a {x={y=1}}; :local b {$a}; :set ($a->"x"->"y") 2; :put ($b->0->"x"->"y"); :put ($a->"x"->"y")`, "1\n2\n"},
		{`:local a {{1};{2}}; :foreach e in=$a do={ :set ($e->0) 7 }; :put $a`, "1;2\n"},
		{`:local f do={ :set ($1->0) 5; :return $1 }; :local a {1;2}; :put [$f $a]; :put $a`, "5;2\n1;2\n"},
		{`:global ga {1;{2}}; :local l $ga; :set ($l->1->0) 8; :put $ga; :set ($ga->1->0) 4; :put $ga; :put $l`, "1;2\n1;4\n1;8\n"},
		// An element write grows the array as before: a new index appends, a key adds.
		{`:local a [:toarray ""]; :set ($a->0) x; :set ($a->"k") y; :put [:len $a]; :put ($a->"k")`, "2\ny\n"},
		// A path that does not start at a variable changes nothing.
		{`:local a {{1}}; :set (($a , $a)->0->0) 9; :put $a`, "1\n"},
	} {
		if got := mustRun(t, in, c, tc.src); got != tc.want {
			t.Errorf("%s\n got %q\nwant %q", tc.src, got, tc.want)
		}
	}
}

// Element writes, however nested and wherever they start, are bounded in depth, element
// count and bytes, with a RouterOS-style error, and a refused write changes nothing.
func TestElementWritesBounded(t *testing.T) {
	in, c := newInterp(t)
	deep := "$a" + strings.Repeat("->0", MaxArrayDepth+1)
	for _, tc := range []struct{ src, err string }{
		{`:local a {1}; :set (` + deep + `) 1`, "array nesting too deep"},
		// 40 arrays in arrays built one level at a time.
		{`:local a [:toarray ""]; :local p "\$a"; :for i from=1 to=40 do={ :set ($a) {$a} }`, "array nesting too deep"},
		{`:local a [:toarray ""]; :for i from=0 to=300000 do={ :set ($a->$i) 1 }`, "too many array elements"},
		{`:local a [:toarray ""]; :for i from=0 to=300000 do={ :set ($a->"k$i") 1 }`, "too many array elements"},
		// Bytes through nesting: each inner array stays under the limit, the whole does not.
		{`:local s "x"; :for i from=1 to=20 do={ :set s ($s.$s) }; :local a {{};{};{};{};{};{}}; :for i from=0 to=5 do={ :set ($a->$i->0) $s }`, "value too large"},
		// Filling many inner arrays through a variable that held them once keeps nothing
		// in the container: the container holds copies.
		{`:local s "x"; :for i from=1 to=20 do={ :set s ($s.$s) }; :local c [:toarray ""]; :for i from=0 to=20 do={ :local x [:toarray ""]; :set ($c->$i) $x; :set ($x->0) $s; :set ($c->$i->0) $s }`, "value too large"},
		{`:local a {1}; :for i from=1 to=20 do={ :set a ($a , $a) }`, "too many array elements"},
	} {
		_, err := runSrc(t, in, c, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%.120s: got %v, want %q", tc.src, err, tc.err)
		}
	}
	// The refused write left the array as it was.
	out := mustRun(t, in, c, `:local a {{1}}; :do { :set (`+strings.Replace(deep, "$a", "$a", 1)+`) 2 } on-error={}; :set ($a->0->0) 3; :put $a`)
	if out != "3\n" {
		t.Errorf("after a refused deep write: %q", out)
	}
}

// A global's element writes count against its owner's bound like whole writes do, and
// sessions may write and read one global at once (run with -race).
func TestGlobalElementWrites(t *testing.T) {
	in, _ := newInterp(t)
	login := &control.Session{User: "u", Policies: map[string]bool{"read": true}}
	c := &Console{Sess: login}
	// 3 MiB globals written an element at a time: the sixth's element passes the
	// owner's 16 MiB.
	src := `:local s "x"; :for i from=1 to=20 do={ :set s ($s.$s) }; :set s ($s.$s.$s);
:for g from=1 to=6 do={ :local f [:parse (":global e$g [:toarray \"\"]; :global e$g; :set (\$e$g->0) \$1")]; [$f $s] }`
	_, err := runSrc(t, in, c, src)
	if err == nil || !strings.Contains(err.Error(), "value too large") {
		t.Fatalf("growing globals element by element past the owner's bound: %v", err)
	}
	if out := mustRun(t, in, c, `:global e5; :global e6; :put [:len ($e5->0)]; :put [:len $e6]`); out != "3145728\n0\n" {
		t.Errorf("the sixth global's element was not refused alone: %q", out)
	}
	login.End()
	if n := len(in.Globals.Names()); n != 0 {
		t.Errorf("%d globals outlived the login", n)
	}

	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs := &Console{Sess: &control.Session{User: "admin"}}
			var out strings.Builder
			src := fmt.Sprintf(`:global shared; :if ([:typeof $shared] != "array") do={ :set shared [:toarray ""] }
:for i from=0 to=300 do={ :set ($shared->"w%d"->$i) $i; :local n 0; :foreach k,v in=$shared do={ :set n ($n + [:len $v]) } }`, w)
			if err := in.Run(context.Background(), cs, `:global shared {w0={};w1={};w2={};w3={}}`, &out); err != nil {
				t.Error(err)
			}
			if err := in.Run(context.Background(), cs, src, &out); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

// Globals a login makes go when it ends; those of a script run or scheduler item
// (KeepsGlobals) stay, bounded per user.
func TestGlobalsOwners(t *testing.T) {
	g := &Globals{}
	login := &control.Session{User: "u"}
	run := login.WithPolicies(nil)
	run.KeepsGlobals = true
	if err := g.SetBy("mine", Str("a"), login); err != nil {
		t.Fatal(err)
	}
	if err := g.SetBy("kept", Str("b"), run); err != nil {
		t.Fatal(err)
	}
	// An import the login started (a session of its own that leads back to it).
	imp := &control.Session{User: "u"}
	imp.StartedBy(login)
	if err := g.SetBy("imported", Str("c"), imp); err != nil {
		t.Fatal(err)
	}
	login.End()
	if got := strings.Join(g.Names(), ","); got != "kept" {
		t.Errorf("after the login ended: %s, want kept", got)
	}
	// A login that ended before its job wrote: the job's global goes at once.
	job := &control.Session{User: "u"}
	g.adopt(job, login)
	if err := g.SetBy("late", Str("d"), job); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Get("late"); ok {
		t.Errorf("a global made for an ended login stayed")
	}
	for i := 0; i < MaxOwnerGlobals+10; i++ {
		if err := g.SetBy(fmt.Sprintf("k%d", i), Num(i), run); err != nil {
			if err != ErrTooManyGlobals || i != MaxOwnerGlobals-1 {
				t.Fatalf("global %d: %v", i, err)
			}
			break
		}
	}
	// Another user keeps a bound of its own.
	other := &control.Session{User: "v", KeepsGlobals: true}
	if err := g.SetBy("v1", Num(1), other); err != nil {
		t.Errorf("another user's script: %v", err)
	}
}

// FuzzSetPath drives element writes from bytes: each op picks a root (three locals and
// a global), a path up to 40 deep and a value (a string up to 1 MiB, an empty array, an
// array with one array, or another root). Whatever the ops, no root passes the value
// limits, each array's kept measure equals a fresh one, and no array is held twice
// (arrays are values), so a write through one root never changes another.
func FuzzSetPath(f *testing.F) {
	f.Add([]byte{0, 3, 1, 2, 3, 1, 0, 1, 0, 2})
	f.Add([]byte{3, 1, 0, 2, 0, 3, 2, 0, 0, 3, 3, 3, 0, 0, 0})
	f.Add(append([]byte{1, 40}, make([]byte, 60)...))
	f.Fuzz(func(t *testing.T, ops []byte) {
		g := &Globals{}
		sess := &control.Session{User: "u"}
		roots := []Value{&Array{held: true}, &Array{held: true}, &Array{held: true}}
		g.SetBy("g", &Array{}, sess)
		next := func() byte {
			if len(ops) == 0 {
				return 0
			}
			b := ops[0]
			ops = ops[1:]
			return b
		}
		for steps := 0; len(ops) > 0 && steps < 200; steps++ {
			root := int(next() % 4)
			keys := make([]Value, int(next()%41)+1)
			for i := range keys {
				if k := next(); k < 128 {
					keys[i] = Num(k % 4)
				} else {
					keys[i] = Str(fmt.Sprint(k % 4))
				}
			}
			var v Value
			switch kind := next(); kind % 5 {
			case 0:
				v = Str(strings.Repeat("x", int(next())<<12))
			case 1:
				v = &Array{}
			case 2:
				v = &Array{List: []Value{&Array{}}}
			case 3:
				v = roots[int(kind/5)%3]
			default:
				v, _ = g.Get("g")
			}
			if root == 3 {
				_ = g.SetElement("g", keys, v, sess)
				continue
			}
			if nr, _, err := setPath(roots[root], keys, v, nil); err == nil {
				roots[root] = nr
			}
		}
		gv, _ := g.Get("g")
		seen := map[*Array]bool{}
		for i, r := range append(roots, gv) {
			if _, _, err := measure(r, 0); err != nil {
				t.Fatalf("root %d past the limits: %v", i, err)
			}
			checkHeld(t, r, seen, i == 3)
		}
	})
}

// checkHeld fails when an array is reachable twice, is not held, or keeps a measure
// that differs from a fresh one; a global's arrays must all be frozen.
func checkHeld(t *testing.T, v Value, seen map[*Array]bool, global bool) {
	a, ok := v.(*Array)
	if !ok {
		return
	}
	if seen[a] && !a.frozen {
		t.Fatalf("an array is held twice")
	}
	seen[a] = true
	if global && !a.frozen {
		t.Fatalf("a global's array handed out by Get is not frozen")
	}
	if a.sized {
		b, e, _ := measure(a, 0)
		if b != a.bytes || e != a.elems {
			t.Fatalf("kept measure %d bytes %d elements, fresh %d %d", a.bytes, a.elems, b, e)
		}
	}
	a.each(func(_, e Value) bool { checkHeld(t, e, seen, global); return true })
}
