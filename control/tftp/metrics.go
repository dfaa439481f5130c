package tftp

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts what the server did, as routerd_tftp_*.
type Metrics struct {
	// Requests by op (read, write, malformed, stray) and result (ok, denied, not-found,
	// error, aborted, busy, internal-error: a recovered panic ended it).
	Requests *prometheus.CounterVec
	// Bytes of file data by direction (sent, received).
	Bytes *prometheus.CounterVec
	// Active transfers.
	Active prometheus.Gauge
}

// NewMetrics registers the collectors with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_tftp_requests_total",
			Help: "TFTP requests by operation and result.",
		}, []string{"op", "result"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "routerd_tftp_bytes_total",
			Help: "TFTP file data bytes by direction.",
		}, []string{"direction"}),
		Active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "routerd_tftp_transfers_active",
			Help: "TFTP transfers in progress.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.Requests, m.Bytes, m.Active)
	}
	return m
}
