package ike

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/routerd/routerd/test/testbin"
)

// TestInputRecovers: a panic while handling a message (here: an IKE SA without its
// daemon, so receiving on it dereferences nil) is logged and counted as malformed, the
// lock is released and the next message is handled.
func TestInputRecovers(t *testing.T) {
	var logs strings.Builder
	d := &Daemon{log: slog.New(slog.NewTextHandler(&logs, nil)), sas: map[uint64]*IKESA{5: {spiI: 1, cIn: &Cipher{}}}}
	// An INFORMATIONAL request header (RFC 7296 3.1) for that SA, without payloads.
	msg := make([]byte, 28)
	msg[7] = 1     // initiator SPI
	msg[15] = 5    // responder SPI (ours)
	msg[17] = 0x20 // version 2.0
	msg[18] = 37   // INFORMATIONAL
	msg[19] = 0x08 // from the initiator
	msg[23] = 1    // message ID 1 where 0 is next: counted on the SA's missing daemon
	msg[27] = 28   // length
	from, local := netip.MustParseAddrPort("198.18.0.2:500"), netip.MustParseAddrPort("198.18.0.1:500")
	for range 2 {
		d.input(msg, from, local)
	}
	if !d.mu.TryLock() {
		t.Fatal("daemon lock held after a panic")
	}
	d.mu.Unlock()
	if n := strings.Count(logs.String(), "internal error handling a message"); n != 2 {
		t.Errorf("%d panics logged, want 2 (if handle no longer panics on an SA without its daemon, give it another nil):\n%s", n, logs.String())
	}
	if n := d.Stats.Malformed.Load(); n != 2 {
		t.Errorf("malformed %d, want 2", n)
	}
}

// TestSpawnRecovers: a panic in a task the daemon runs beside its readers (an EAP or
// XAuth exchange with RADIUS, whose answer is handled there) is logged and the daemon
// goes on; a loop that panics starts again; Close's wait ends.
func TestSpawnRecovers(t *testing.T) {
	var logs testbin.Buffer
	d := &Daemon{log: slog.New(slog.NewTextHandler(&logs, nil)), done: make(chan struct{})}
	d.spawn("task", false, func() { panic("injected task fault") })
	runs := make(chan int, 3)
	n := 0
	d.spawn("loop", true, func() {
		n++
		runs <- n
		if n < 3 {
			panic("injected loop fault")
		}
	})
	for want := 1; want <= 3; want++ {
		if got := <-runs; got != want {
			t.Fatalf("loop run %d, want %d", got, want)
		}
	}
	d.wg.Wait()
	for _, s := range []string{`panic="injected task fault"`, `in=loop panic="injected loop fault"`} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("no %s in the log:\n%s", s, logs.String())
		}
	}
	if c := strings.Count(logs.String(), "injected loop fault"); c != 2 {
		t.Errorf("%d loop faults logged, want 2", c)
	}
}
