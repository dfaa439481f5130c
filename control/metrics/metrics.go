// Package metrics is routerd's Prometheus registry and its /metrics endpoint. Subsystems
// report through small methods whose signatures match the hooks they plug into (the
// executor's Observe, the store's Observe), so neither imports Prometheus.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxCommandSeries bounds the distinct (menu, verb) pairs of routerd_commands_total: the
// API lets a client send any path and command word, and each new pair would otherwise
// be a new time series kept forever.
const maxCommandSeries = 2000

// Metrics holds routerd's collectors.
type Metrics struct {
	// Registry is where subsystems register their own collectors (routerd_<subsystem>_...).
	Registry *prometheus.Registry
	// Known, when set, says whether a menu and verb exist; commands that do not are
	// counted under menu="unknown", verb="unknown" instead of their own labels.
	Known func(menu, verb string) bool

	commands   *prometheus.CounterVec
	storeTx    prometheus.Histogram
	storeTxErr prometheus.Counter

	mu   sync.Mutex
	seen map[[2]string]bool
}

// New registers routerd's metrics and the Go and process collectors in a new registry.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_commands_total",
			Help: "Commands run by the executor, by menu, verb and result (ok or error).",
		}, []string{"menu", "verb", "result"}),
		storeTx: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "routerd_store_transaction_seconds",
			Help: "Time to run and commit a write transaction of the configuration store.",
			// An fsync'd bbolt commit takes from tens of microseconds (tmpfs) to a
			// second (a busy disk): 1-2.5-5 steps over that range.
			Buckets: []float64{50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
				25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1},
		}),
		storeTxErr: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "routerd_store_transaction_errors_total",
			Help: "Write transactions of the configuration store that failed or were rolled back.",
		}),
		seen: map[[2]string]bool{},
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "routerd_build_info",
		Help:        "A metric with a constant '1' value labeled by version and goversion.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	reg.MustRegister(build, m.commands, m.storeTx, m.storeTxErr,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Command counts one executed command; it has the signature of control.Executor.Observe.
func (m *Metrics) Command(menu, verb, result string) {
	if m.Known != nil && !m.Known(menu, verb) {
		menu, verb = "unknown", "unknown"
	}
	if menu == "" {
		menu = "/"
	}
	key := [2]string{menu, verb}
	m.mu.Lock()
	if !m.seen[key] {
		if len(m.seen) >= maxCommandSeries {
			menu, verb = "other", "other"
		} else {
			m.seen[key] = true
		}
	}
	m.mu.Unlock()
	m.commands.WithLabelValues(menu, verb, result).Inc()
}

// StoreTx records one store write transaction; it has the signature of
// store.Store.Observe.
func (m *Metrics) StoreTx(d time.Duration, err error) {
	m.storeTx.Observe(d.Seconds())
	if err != nil {
		m.storeTxErr.Inc()
	}
}

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{
		Registry: m.Registry, // counts its own scrape errors
		// A scrape must never hang a goroutine of the daemon.
		Timeout: 10 * time.Second,
	})
}

// Serve serves h at /metrics on addr until ctx ends.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return ServeListener(ctx, ln, h)
}

// ServeListener serves h at /metrics on ln until ctx ends, then closes ln. It returns nil
// after a shutdown caused by ctx.
func ServeListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><body><a href="/metrics">routerd metrics</a></body></html>`)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-ctx.Done():
		case <-stop: // Serve failed on its own; nothing to shut down
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	close(stop)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("metrics: %w", err)
}
