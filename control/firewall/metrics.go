package firewall

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/control/menu"
)

var (
	descPackets = prometheus.NewDesc("routerd_firewall_rule_packets_total",
		"Packets matched by a firewall rule.", []string{"family", "table", "chain", "rule", "comment"}, nil)
	descBytes = prometheus.NewDesc("routerd_firewall_rule_bytes_total",
		"Bytes matched by a firewall rule.", []string{"family", "table", "chain", "rule", "comment"}, nil)
)

var (
	descCtEntries = prometheus.NewDesc("routerd_conntrack_entries", "Connections tracked now.", nil, nil)
	descCtMax     = prometheus.NewDesc("routerd_conntrack_max_entries", "Largest number of tracked connections.", nil, nil)
)

// collector reads the rules' kernel counters at scrape time.
type collector struct{ e *Engine }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPackets
	ch <- descBytes
	ch <- descCtEntries
	ch <- descCtMax
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if n, max, err := c.e.k.conntrackTotals(); err == nil {
		ch <- prometheus.MustNewConstMetric(descCtEntries, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(descCtMax, prometheus.GaugeValue, float64(max))
	}
	for _, v6 := range []bool{false, true} {
		fam := "ip"
		if v6 {
			fam = "ipv6"
		}
		cs, err := c.e.k.Counters(v6, false)
		if err != nil {
			continue
		}
		for _, t := range menu.FirewallTables {
			items, err := c.e.ex.Items(rulePath(v6, t))
			if err != nil {
				continue
			}
			for _, it := range items {
				cnt, ok := cs[CounterName(RuleKey{t, it.ID})]
				if !ok {
					continue
				}
				lv := []string{fam, t, it.Props["chain"], "*" + formatHex(it.ID), it.Props["comment"]}
				ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(cnt.Packets), lv...)
				ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(cnt.Bytes), lv...)
			}
			// Dynamic rules (other engines', the fasttrack counter row) by their comment.
			for _, it := range c.e.dynamicRules(v6, t) {
				cnt, ok := cs[CounterName(RuleKey{t, it.ID})]
				if it.counters != nil {
					cnt, ok = it.counters(), true
				}
				if !ok {
					continue
				}
				lv := []string{fam, t, it.Props["chain"], "*" + formatHex(it.ID), it.Props["comment"]}
				ch <- prometheus.MustNewConstMetric(descPackets, prometheus.CounterValue, float64(cnt.Packets), lv...)
				ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(cnt.Bytes), lv...)
			}
		}
	}
}

func formatHex(id uint64) string {
	const digits = "0123456789ABCDEF"
	if id == 0 {
		return "0"
	}
	var b []byte
	for ; id > 0; id >>= 4 {
		b = append([]byte{digits[id&15]}, b...)
	}
	return string(b)
}
