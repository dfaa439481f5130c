package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// startProfile writes CPU profiles when ROUTERD_CPUPROFILE names a path prefix (for
// measuring the engines: docs/perf.md): PREFIX.0 from start, and on each SIGUSR1 the
// current profile is closed and PREFIX.N+1 begun, so a benchmark can profile one phase
// (the create, then the resyncs). The returned stop closes the last one.
func startProfile() (stop func()) {
	prefix := os.Getenv("ROUTERD_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	n := 0
	begin := func() *os.File {
		f, err := os.OpenFile(fmt.Sprintf("%s.%d", prefix, n), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			slog.Warn("routerd: cpu profile", "err", err)
			return nil
		}
		return f
	}
	end := func(f *os.File) {
		if f != nil {
			pprof.StopCPUProfile()
			f.Close()
		}
	}
	cur := begin()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-sig:
				end(cur)
				n++
				cur = begin()
			case <-done:
				signal.Stop(sig)
				end(cur)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
