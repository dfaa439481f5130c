package fastpath

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/dataplane"
)

var (
	labels      = []string{"interface"}
	descPackets = prometheus.NewDesc("routerd_fastpath_packets_total", "Packets received on the port and forwarded by the fast path, by family.", append(labels, "family"), nil)
	descBytes   = prometheus.NewDesc("routerd_fastpath_bytes_total", "Bytes (IP packets) received on the port and forwarded by the fast path, by family.", append(labels, "family"), nil)
	descPass    = prometheus.NewDesc("routerd_fastpath_pass_total", "Packets received on the port that the fast path left to the kernel, by reason.", append(labels, "reason"), nil)
	descActive  = prometheus.NewDesc("routerd_fastpath_active", "1 while the family may take the fast path (allowed, nothing configured that would see its packets).", []string{"family"}, nil)
)

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPackets, descBytes, descPass, descActive} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the per-CPU counters of each port summed.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	ports := map[string]int{}
	for n, p := range e.ports {
		ports[n] = p.index
	}
	on := map[string]bool{"ipv4": e.on4, "ipv6": e.on6}
	e.mu.Unlock()
	for fam, v := range on {
		g := 0.0
		if v {
			g = 1
		}
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, g, fam)
	}
	for name, idx := range ports {
		s, err := e.dp.FastPortStats(idx)
		if err != nil {
			continue
		}
		c := func(d *prometheus.Desc, v uint64, l string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name, l)
		}
		c(descPackets, s.Packets4, "ipv4")
		c(descPackets, s.Packets6, "ipv6")
		c(descBytes, s.Bytes4, "ipv4")
		c(descBytes, s.Bytes6, "ipv6")
		for i, r := range dataplane.PassReasons {
			c(descPass, s.Pass[i], r)
		}
	}
}
