package engine

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routerd/routerd/ptp/port"
)

var (
	descOffset = prometheus.NewDesc("routerd_ptp_offset_seconds",
		"Offset from master of the clock (local minus master), as monitor's offset.", []string{"ptp"}, nil)
	descDelay = prometheus.NewDesc("routerd_ptp_path_delay_seconds",
		"Mean path delay on the slave port (monitor's slave-port-delay).", []string{"ptp"}, nil)
	descFreq = prometheus.NewDesc("routerd_ptp_frequency_adjustment_ppb",
		"Frequency correction applied to the clock (monitor's freq-drift), parts per billion.", []string{"ptp"}, nil)
	descHW = prometheus.NewDesc("routerd_ptp_hw_offset_seconds",
		"Steered clock minus the system clock (monitor's hw-offset).", []string{"ptp"}, nil)
	descGM = prometheus.NewDesc("routerd_ptp_grandmaster",
		"1 when this clock is the grandmaster (monitor's i-am-gm).", []string{"ptp", "gm_clock_id"}, nil)
	descLocked = prometheus.NewDesc("routerd_ptp_locked",
		"1 when a slave port is in SLAVE state with the servo locked.", []string{"ptp"}, nil)
	descSamples = prometheus.NewDesc("routerd_ptp_offset_samples_total",
		"Offset measurements fed to the servo.", []string{"ptp"}, nil)
	descPort = prometheus.NewDesc("routerd_ptp_port_state",
		"1 for the port's current state (initializing ... slave), 0 for the others.", []string{"ptp", "interface", "state"}, nil)
	descPortDelay = prometheus.NewDesc("routerd_ptp_port_delay_seconds",
		"Measured path delay of a port (slave ports; every port under P2P).", []string{"ptp", "interface"}, nil)
	descAsCapable = prometheus.NewDesc("routerd_ptp_port_as_capable",
		"802.1AS: 1 when the port is asCapable (status as-capable).", []string{"ptp", "interface"}, nil)
	descNRR = prometheus.NewDesc("routerd_ptp_port_neighbor_rate_ratio",
		"802.1AS: the neighbor's frequency over this clock's, from Pdelay exchanges (status neighbor-rate-ratio).", []string{"ptp", "interface"}, nil)
	descSteered = prometheus.NewDesc("routerd_ptp_steered_messages_total",
		"PTP messages the TC program on a bridge port kept from the bridge, by class (event, general).", []string{"ptp", "interface", "class"}, nil)
)

type collector struct{ e *Engine }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descOffset, descDelay, descFreq, descHW, descGM, descLocked, descSamples, descPort, descPortDelay, descAsCapable, descNRR, descSteered} {
		ch <- d
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	snaps := c.e.snapshots()
	for id, ports := range c.e.steerStats() {
		for name, st := range ports {
			ch <- prometheus.MustNewConstMetric(descSteered, prometheus.CounterValue, float64(st.Event), snaps[id].Name, name, "event")
			ch <- prometheus.MustNewConstMetric(descSteered, prometheus.CounterValue, float64(st.General), snaps[id].Name, name, "general")
		}
	}
	for _, s := range snaps {
		g := func(d *prometheus.Desc, v float64, l ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{s.Name}, l...)...)
		}
		g(descOffset, float64(s.Offset)*1e-9)
		g(descDelay, float64(s.SlavePortDelay)*1e-9)
		g(descFreq, float64(s.FreqDrift))
		g(descHW, float64(s.HWOffset)*1e-9)
		g(descGM, b2f(s.IAmGM), s.GMClockID)
		g(descLocked, b2f(s.Locked))
		ch <- prometheus.MustNewConstMetric(descSamples, prometheus.CounterValue, float64(s.Samples), s.Name)
		for _, p := range s.Ports {
			for st := port.Initializing; st <= port.Slave; st++ {
				g(descPort, b2f(p.State == st.String()), p.Interface, st.String())
			}
			g(descPortDelay, float64(p.Delay)*1e-9, p.Interface)
			if p.Gptp {
				g(descAsCapable, b2f(p.AsCapable), p.Interface)
				g(descNRR, p.NeighborRateRatio, p.Interface)
			}
		}
	}
}
