package apiserver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
)

// fill adds n scripts in one batch.
func fill(b *testing.B, r *rig, n int) {
	sess := &control.Session{}
	if err := r.ex.BeginBatch(sess); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		s := &control.Sentence{Path: "/system/script", Cmd: "add", Args: []control.Arg{
			{Name: "name", Value: fmt.Sprintf("s%05d", i)}, {Name: "source", Value: ":put 1"}}}
		if _, err := r.ex.Exec(context.Background(), sess, s); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.ex.EndBatch(sess); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPrint10k: one API print of 10,000 items over TCP, read to !done by the
// client; "executor" is the baseline of the same print without the API (no words, no
// socket).
func BenchmarkPrint10k(b *testing.B) {
	r := newRig(b)
	fill(b, r, 10000)
	b.Run("api", func(b *testing.B) {
		cl := r.login(b)
		for i := 0; i < b.N; i++ {
			cl.c.SetDeadline(time.Now().Add(time.Minute))
			if re := cl.do("/system/script/print"); len(re) != 10001 {
				b.Fatalf("%d replies", len(re))
			}
		}
	})
	b.Run("executor", func(b *testing.B) {
		sess := &control.Session{}
		for i := 0; i < b.N; i++ {
			rep, err := r.ex.Exec(context.Background(), sess, &control.Sentence{Path: "/system/script", Cmd: "print"})
			if err != nil || len(rep.Rows) != 10000 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCommands20Sessions: 20 logged-in API sessions each sending print of
// /system/identity back to back; reports commands per second over all of them.
func BenchmarkCommands20Sessions(b *testing.B) {
	r := newRig(b)
	cls := make([]*client, 20)
	for i := range cls {
		cls[i] = r.login(b)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := b.N/20 + 1
	for _, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.c.SetDeadline(time.Now().Add(10 * time.Minute))
			for i := 0; i < per; i++ {
				cl.send("/system/identity/print")
				for {
					s, err := cl.r.ReadSentence()
					if err != nil {
						b.Error(err)
						return
					}
					if s[0] == "!done" {
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*20)/time.Since(start).Seconds(), "cmds/s")
}
