package script

import (
	"context"
	"errors"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
)

// languageReference is the console-language reference whose examples seed the fuzzers.
const languageReference = "../../../shared/reference/console-language.md"

// fuzzSeeds returns every unit of reference-commands.txt and the examples of
// console-language.md: its code blocks (whole, and line by line) and its inline code spans.
// The language reference lives beside the repository; without it the units still seed.
func fuzzSeeds(f *testing.F) []string {
	f.Helper()
	var seeds []string
	for _, u := range loadReference(f) {
		seeds = append(seeds, u.Src)
	}
	b, err := os.ReadFile(languageReference)
	if err != nil {
		f.Logf("no language reference: %v", err)
		return seeds
	}
	var block []string
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "```") {
			if in && len(block) > 0 {
				seeds = append(seeds, strings.Join(block, "\n"))
				seeds = append(seeds, block...)
			}
			in, block = !in, nil
			continue
		}
		if in {
			block = append(block, l)
			continue
		}
		// Inline code spans: `...`.
		parts := strings.Split(l, "`")
		for i := 1; i < len(parts); i += 2 {
			if s := strings.TrimSpace(parts[i]); s != "" {
				seeds = append(seeds, s)
			}
		}
	}
	return seeds
}

// FuzzParse: the parser never panics, and a failure is an *Error with a position inside
// the unit.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Add(strings.Repeat("[", 5000))
	f.Add(":put " + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300))
	f.Add(":put " + strings.Repeat("!", 1000) + "true")
	f.Add(":put (1" + strings.Repeat("+1", 5000) + ")")
	f.Add(":put (1" + strings.Repeat("+1", 500) + ")")
	in, _ := newInterp(f)
	res := in.resolver()
	f.Fuzz(func(t *testing.T, src string) {
		for _, cwd := range []string{"", "/ip/ipsec/policy"} {
			var stmts []Stmt
			var err error
			n := allocated(func() { stmts, _, err = Parse(src, cwd, res) })
			// Parsing costs in proportion to the text, however it nests: a few
			// hundred bytes of tree per byte at most.
			if limit := 512*uint64(len(src)) + 1<<20; n > limit {
				t.Fatalf("%.200q: parsing %d bytes allocated %d bytes", src, len(src), n)
			}
			if d := depth(reflect.ValueOf(stmts), 0); d > 16*MaxNesting+4*MaxOperands {
				t.Fatalf("%.200q: a tree %d deep was accepted (nesting limit %d)", src, d, MaxNesting)
			}
			if err == nil {
				continue
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("%q at %q: error %T %v is not a *Error", src, cwd, err, err)
			}
			if pe.Line < 1 || pe.Col < 1 {
				t.Fatalf("%q at %q: error without position: %#v", src, cwd, pe)
			}
			if lines := strings.Count(src, "\n") + 1; pe.Line > lines {
				t.Fatalf("%q at %q: error on line %d of %d: %v", src, cwd, pe.Line, lines, pe)
			}
		}
	})
}

// allocated runs fn and returns how many bytes it allocated.
func allocated(fn func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	fn()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// depth is how deeply pointers, interfaces, slices and structs nest in v.
func depth(v reflect.Value, d int) int {
	if d > 100000 {
		return d
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return d
		}
		return depth(v.Elem(), d+1)
	case reflect.Slice, reflect.Array:
		m := d
		for i := 0; i < v.Len(); i++ {
			m = max(m, depth(v.Index(i), d+1))
		}
		return m
	case reflect.Struct:
		m := d
		for i := 0; i < v.NumField(); i++ {
			m = max(m, depth(v.Field(i), d+1))
		}
		return m
	}
	return d
}

// cappedWriter keeps the first 64 kB written to it and discards the rest, so that a
// fuzzed loop of :put does not grow without bound.
type cappedWriter struct{ b strings.Builder }

func (w *cappedWriter) Write(p []byte) (int, error) {
	if room := 64<<10 - w.b.Len(); room > 0 {
		if len(p) > room {
			w.b.Write(p[:room])
		} else {
			w.b.Write(p)
		}
	}
	return len(p), nil
}

// exportAll is the export that shows everything a configuration holds.
var exportAll = control.ExportOptions{ShowSensitive: true}

// exportBody is the full export without its timestamp line.
func exportBody(t *testing.T, in *Interp, c *Console) string {
	t.Helper()
	text, err := in.Ex.Export(context.Background(), c.Sess, "", exportAll)
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	_, body, _ := strings.Cut(text, "\n")
	return body
}

// FuzzRun runs inputs in a fresh interpreter for at most 100ms: no panic, and a unit that
// does not parse changes nothing.
func FuzzRun(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		in, c := newInterp(t)
		before := exportBody(t, in, c)
		_, _, perr := Parse(src, c.Path, in.resolver())
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- in.Run(ctx, c, src, &cappedWriter{}) }()
		var err error
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: still running 5s after a 100ms deadline", src)
		}
		if perr == nil {
			return
		}
		if err == nil || err.Error() != perr.Error() {
			t.Fatalf("%q: Parse says %v, Run says %v", src, perr, err)
		}
		if after := exportBody(t, in, c); after != before {
			t.Fatalf("%q failed to parse (%v) yet changed the configuration:\n%s", src, perr, after)
		}
		if c.Path != "" {
			t.Fatalf("%q failed to parse yet moved the console to %q", src, c.Path)
		}
	})
}
