package node

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/routerd/routerd/ptp/clock"
	"github.com/routerd/routerd/ptp/ts"
)

// panicTransport is a transport whose receive side panics, as a bug in packet handling
// below the node would.
type panicTransport struct{ closed atomic.Bool }

func (*panicTransport) Send([]byte, bool, bool) (int64, error) { return time.Now().UnixNano(), nil }
func (*panicTransport) Recv() <-chan ts.Packet                 { panic("injected") }
func (*panicTransport) Hardware() bool                         { return false }
func (t *panicTransport) Close() error                         { t.closed.Store(true); return nil }

// A panic in a port's receiver goroutine does not end routerd: Run panics with it on its
// own goroutine, the one the engine host recovers (the instance's items show it and the
// engine starts it again), after closing its transports and joining its goroutines.
func TestReceiverPanicEndsRun(t *testing.T) {
	tr := &panicTransport{}
	n, err := New(Config{Name: "ptp1", Profile: Profiles["default"], Ports: []string{"lo"}, Clock: clock.NewVirtual(0, 0),
		Open: func(ts.Options) (ts.Transport, error) { return tr, nil }})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan any, 1)
	go func() {
		defer func() { got <- recover() }()
		n.Run(context.Background())
	}()
	select {
	case p := <-got:
		if s, _ := p.(string); !strings.Contains(s, "port lo receiver: injected") {
			t.Fatalf("Run ended with %v, want the receiver's panic", p)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still runs after its receiver panicked")
	}
	if !tr.closed.Load() {
		t.Error("the transport was not closed")
	}
}
