package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLint(t *testing.T) {
	m := New("1.2.3")
	m.Command("/interface/gre", "add", "ok")
	m.StoreTx(time.Millisecond, nil)
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

func TestCommand(t *testing.T) {
	tests := []struct {
		name  string
		known func(string, string) bool
		calls [][3]string
		want  string
	}{
		{
			name:  "counts by labels",
			calls: [][3]string{{"/interface/gre", "add", "ok"}, {"/interface/gre", "add", "ok"}, {"/interface/gre", "add", "error"}, {"", "export", "ok"}},
			want: `
routerd_commands_total{menu="/",result="ok",verb="export"} 1
routerd_commands_total{menu="/interface/gre",result="error",verb="add"} 1
routerd_commands_total{menu="/interface/gre",result="ok",verb="add"} 2
`,
		},
		{
			name:  "unknown commands share one series",
			known: func(menu, verb string) bool { return menu == "/log" },
			calls: [][3]string{{"/log", "print", "ok"}, {"/junk1", "x", "error"}, {"/junk2", "y", "error"}},
			want: `
routerd_commands_total{menu="/log",result="ok",verb="print"} 1
routerd_commands_total{menu="unknown",result="error",verb="unknown"} 2
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("test")
			m.Known = tt.known
			for _, c := range tt.calls {
				m.Command(c[0], c[1], c[2])
			}
			head := "# HELP routerd_commands_total Commands run by the executor, by menu, verb and result (ok or error).\n# TYPE routerd_commands_total counter"
			if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(head+tt.want), "routerd_commands_total"); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestCommandCardinalityBound(t *testing.T) {
	m := New("test")
	for i := 0; i < maxCommandSeries+50; i++ {
		m.Command(fmt.Sprintf("/m%d", i), "print", "ok")
	}
	// Series already seen keep their labels after the cap.
	m.Command("/m0", "print", "ok")
	n := testutil.CollectAndCount(m.commands)
	if n != maxCommandSeries+1 {
		t.Errorf("series = %d, want %d", n, maxCommandSeries+1)
	}
	if v := testutil.ToFloat64(m.commands.WithLabelValues("other", "other", "ok")); v != 50 {
		t.Errorf("other = %v, want 50", v)
	}
	if v := testutil.ToFloat64(m.commands.WithLabelValues("/m0", "print", "ok")); v != 2 {
		t.Errorf("/m0 = %v, want 2", v)
	}
}

func TestStoreTx(t *testing.T) {
	m := New("test")
	m.StoreTx(80*time.Microsecond, nil)
	m.StoreTx(300*time.Millisecond, errors.New("disk full"))
	if n := testutil.CollectAndCount(m.storeTx); n != 1 {
		t.Fatalf("histogram series = %d", n)
	}
	if v := testutil.ToFloat64(m.storeTxErr); v != 1 {
		t.Errorf("errors = %v, want 1", v)
	}
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(`
# HELP routerd_store_transaction_errors_total Write transactions of the configuration store that failed or were rolled back.
# TYPE routerd_store_transaction_errors_total counter
routerd_store_transaction_errors_total 1
`), "routerd_store_transaction_errors_total"); err != nil {
		t.Error(err)
	}
}

// TestScrape serves on a real socket and scrapes it as Prometheus would.
func TestScrape(t *testing.T) {
	m := New("9.9.9")
	m.Command("/system/script", "run", "ok")
	m.StoreTx(time.Millisecond, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- ServeListener(ctx, ln, m.Handler()) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		fmt.Sprintf(`routerd_build_info{goversion=%q,version="9.9.9"} 1`, runtime.Version()),
		`routerd_commands_total{menu="/system/script",result="ok",verb="run"} 1`,
		`routerd_store_transaction_seconds_count 1`,
		`routerd_store_transaction_seconds_bucket{le="5e-05"} 0`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	resp, err = http.Get("http://" + ln.Addr().String() + "/nope")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("/nope: status %d", resp.StatusCode)
		}
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still open after shutdown")
	}
}

func TestServeBadAddr(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := Serve(ctx, "256.0.0.1:bad", http.NotFoundHandler()); err == nil {
		t.Error("Serve accepted a bad address")
	}
}
