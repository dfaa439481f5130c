package tunnel

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/dataplane"
)

var (
	labels     = []string{"name", "type"}
	descRxPkts = prometheus.NewDesc("routerd_tunnel_rx_packets_total", "Packets decapsulated and delivered on the tunnel interface.", labels, nil)
	descRxByte = prometheus.NewDesc("routerd_tunnel_rx_bytes_total", "Bytes of decapsulated packets (inner frame as delivered).", labels, nil)
	descTxPkts = prometheus.NewDesc("routerd_tunnel_tx_packets_total", "Packets encapsulated and sent to the underlay (a GSO packet counts once).", labels, nil)
	descTxByte = prometheus.NewDesc("routerd_tunnel_tx_bytes_total", "Bytes of payload encapsulated.", labels, nil)
	descKaRx   = prometheus.NewDesc("routerd_tunnel_keepalive_rx_total", "Keepalive answers (GRE, IPIP) or announcements (EoIP) received.", labels, nil)
	descKaRefl = prometheus.NewDesc("routerd_tunnel_keepalive_reflected_total", "Keepalives of the peer sent back to it.", labels, nil)
	descDrops  = prometheus.NewDesc("routerd_tunnel_drops_total", "Packets of the tunnel dropped by the eBPF dataplane, by reason.", append(labels, "reason"), nil)
	descUp     = prometheus.NewDesc("routerd_tunnel_running", "1 while the tunnel has the running flag.", labels, nil)
	descWrites = prometheus.NewDesc("routerd_tunnel_map_writes_total", "Tunnels written to the dataplane's maps by the engine's passes (a pass with nothing changed writes none).", nil, nil)
	descReasmD = prometheus.NewDesc("routerd_tunnel_reassembled_drops_total", "Reassembled outer packets of the tunnel protocols dropped before reaching a tunnel, by reason (not-tunnel: another protocol's or an unknown endpoint's).", []string{"reason"}, nil)
	descKWrite = prometheus.NewDesc("routerd_tunnel_kernel_writes_total", "Netlink, sysctl and ethtool changes the tunnel engine made (a pass with nothing changed makes none).", nil, nil)
)

// Describe implements prometheus.Collector.
func (e *Engine) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRxPkts, descRxByte, descTxPkts, descTxByte, descKaRx, descKaRefl, descDrops, descUp, descWrites, descKWrite, descReasmD} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the per-CPU counters summed.
func (e *Engine) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descWrites, prometheus.CounterValue, float64(e.mapWrites.Load()))
	ch <- prometheus.MustNewConstMetric(descKWrite, prometheus.CounterValue, float64(e.kernelWrites.Load()))
	for i, reason := range reasmDropReasons {
		ch <- prometheus.MustNewConstMetric(descReasmD, prometheus.CounterValue, float64(e.reasmDrops[i].Load()), reason)
	}
	e.mu.Lock()
	type row struct {
		name, typ string
		idx       int
		up        bool
	}
	var rows []row
	for _, t := range e.live {
		rows = append(rows, row{t.name, strings.TrimPrefix(t.path, "/interface/"), t.hiddenIdx, t.running()})
	}
	e.mu.Unlock()
	for _, r := range rows {
		s, err := e.stats(r.idx)
		if err != nil {
			continue
		}
		c := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), r.name, r.typ)
		}
		c(descRxPkts, s.RxPackets)
		c(descRxByte, s.RxBytes)
		c(descTxPkts, s.TxPackets)
		c(descTxByte, s.TxBytes)
		c(descKaRx, s.KeepaliveRx)
		c(descKaRefl, s.KeepaliveReflected)
		for i, reason := range dataplane.DropReasons {
			ch <- prometheus.MustNewConstMetric(descDrops, prometheus.CounterValue, float64(s.Drops[i]), r.name, r.typ, reason)
		}
		up := 0.0
		if r.up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, r.name, r.typ)
	}
}
