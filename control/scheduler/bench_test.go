package scheduler

import (
	"context"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/script"
)

// BenchmarkRun measures what a scheduled run costs beside running the same source in
// the interpreter directly (the baseline): the session with the item's policies, the
// script lookup by name and, for a named script, /system script run (its policy check
// and run-count). Each op is one run of `:global n; :set n ($n + 1)`.
func BenchmarkRun(b *testing.B) {
	const src = `:global n 0; :global n; :set n ($n + 1)`
	r := newRig(b, base)
	r.run("/system script add name=inc source={" + src + "}")
	ctx := context.Background()
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			if err := r.in.Run(ctx, &script.Console{Sess: &control.Session{User: "admin"}}, src, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scheduled-inline", func(b *testing.B) {
		it := decoded(b, map[string]string{"name": "inline", "owner": "admin", "on-event": src})
		for b.Loop() {
			r.e.run(ctx, it)
		}
	})
	b.Run("scheduled-named", func(b *testing.B) {
		it := decoded(b, map[string]string{"name": "named", "owner": "admin", "on-event": "inc"})
		for b.Loop() {
			r.e.run(ctx, it)
		}
	})
	if n := testutil.ToFloat64(r.e.runs.WithLabelValues("error")); n != 0 {
		b.Fatalf("%v scheduled runs failed", n)
	}
}
