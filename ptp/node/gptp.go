package node

import (
	"math"
	"time"

	"github.com/routerd/routerd/ptp/port"
)

// 802.1AS-2011 peer delay parameters.
const (
	// allowedLostResponses (11.5.3): unanswered Pdelay_Req in a row before a port stops
	// being asCapable.
	allowedLostResponses = 3
	// hardwarePropDelayThresh is neighborPropDelayThresh (11.5.4): 800 ns.
	hardwarePropDelayThresh = 800
	// softwarePropDelayThresh replaces it with software timestamps, whose link delays
	// include the kernel's path (tens of µs on a veth); 800 ns would keep every such
	// port from running gPTP.
	softwarePropDelayThresh = 1_000_000
	// maxRateOffset bounds a plausible neighborRateRatio: two clocks within ±100 ppm
	// (802.1AS B.1.1) differ by at most 200 ppm; more is a broken exchange.
	maxRateOffset = 1e-3
)

// capable reports whether a port takes part in the BMCA and time transfer: always,
// except under 802.1AS where the port must be asCapable (10.2.4.1).
func (n *Node) capable(p *portRT) bool { return !n.prof.Gptp || p.asCapable }

func (n *Node) neighborPropDelayThresh() int64 {
	if n.cfg.Hardware {
		return hardwarePropDelayThresh
	}
	return softwarePropDelayThresh
}

// updateRateRatio computes neighborRateRatio from two successive exchanges (11.2.15.2.3):
// the interval between the responder's corrected Pdelay_Resp egress times over the
// interval between our ingress times of them.
func (n *Node) updateRateRatio(p *portRT, t3, t4 int64) {
	if p.pdHavePrev && t4 > p.pdPrevT4 {
		r := float64(t3-p.pdPrevT3) / float64(t4-p.pdPrevT4)
		if math.Abs(r-1) < maxRateOffset {
			p.nrr = r
		}
	}
	p.pdPrevT3, p.pdPrevT4, p.pdHavePrev = t3, t4, true
}

// pdelayLost counts a Pdelay_Req that went unanswered before the next one (11.2.15.2:
// lostResponses); too many in a row and the port is no longer asCapable.
func (n *Node) pdelayLost(p *portRT) {
	if !n.prof.Gptp || !p.pdSent || p.pdDone {
		return
	}
	p.pdLost++
	if p.pdLost > allowedLostResponses {
		p.pdHavePrev, p.nrr = false, 1
		n.setAsCapable(p, false)
	}
}

// setAsCapable changes a port's asCapable and reruns the state decision: a port that
// loses it drops its foreign masters and, if it was the slave port, its master.
func (n *Node) setAsCapable(p *portRT, v bool) {
	if p.asCapable == v {
		return
	}
	p.asCapable = v
	n.cfg.Log.Info("ptp port asCapable", "ptp", n.cfg.Name, "port", p.name, "asCapable", v, "delay", p.delay)
	if !v {
		p.foreign.Clear()
		p.erbest = nil
		p.syncValid = false
		if p.state == port.Slave || p.state == port.Uncalibrated {
			n.srv.Reset()
		}
	}
	n.decide(time.Now())
}

// cumulativeScaledRateOffset is the Follow_Up information TLV's field (11.4.4.3.6):
// (rateRatio - 1) × 2^41, where rateRatio is the grandmaster's frequency over this
// clock's: 1 for a grandmaster, else the ratio the master reported times the slave
// port's neighborRateRatio.
func (n *Node) cumulativeScaledRateOffset() int32 {
	sp := n.slavePort()
	if n.clk.IsGrandmaster() || sp == nil {
		return 0
	}
	v := math.Round((sp.upstreamRate*sp.nrr - 1) * (1 << 41))
	return int32(max(min(v, math.MaxInt32), math.MinInt32))
}
