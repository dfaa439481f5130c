package node

import (
	"math"

	"github.com/routerd/routerd/ptp/port"
	"github.com/routerd/routerd/ptp/servo"
)

// offset handles one completed Sync: offsetFromMaster = t2 - t1 - meanPathDelay -
// corrections (clause 11.2), then the servo. The servo gets t2 - t1 - corrections and
// asks for the delay itself: its frequency estimate needs no delay, so Syncs before the
// first Delay_Resp count, and when it locks the delays measured so far are corrected
// for the frequency error they were measured with.
func (n *Node) offset(p *portRT, t2, t1, corr int64) {
	p.t1, p.t2, p.corr = t1, t2, corr
	res := n.srv.Sample(t2-t1-corr, t2, p.servoDelay)
	if !res.HaveOffset {
		// No path delay yet: an offset without it would be off by the delay.
		if err := n.cfg.Clock.AdjFreq(res.Freq); err != nil {
			n.cfg.Log.Warn("ptp clock frequency", "ptp", n.cfg.Name, "err", err)
		}
		return
	}
	n.apply(p, res)
}

// apply carries out a servo result that has an offset: step, frequency, the port's
// UNCALIBRATED/SLAVE state.
func (n *Node) apply(p *portRT, res servo.Result) {
	n.clk.Current.OffsetFromMaster = res.Offset
	n.clk.Current.MeanPathDelay = p.delay
	n.samples++
	if res.Stepped {
		if err := n.cfg.Clock.Step(res.Step); err != nil {
			n.cfg.Log.Warn("ptp clock step", "ptp", n.cfg.Name, "err", err)
		}
		// Timestamps taken before the step are on the old timescale.
		p.syncValid = false
		clear(p.delayT3)
		p.t1 = 0
		for _, q := range n.ports {
			q.heard = nil
		}
	}
	if err := n.cfg.Clock.AdjFreq(res.Freq); err != nil {
		n.cfg.Log.Warn("ptp clock frequency", "ptp", n.cfg.Name, "err", err)
	}
	// One line per sample, as ptp4l -m prints (the side-by-side benchmark reads them).
	n.cfg.Log.Debug("ptp sample", "ptp", n.cfg.Name, "port", p.name, "offset", res.Offset, "servo", n.srv.State(),
		"freq", int64(math.Round(res.Freq)), "delay", p.delay, "stepped", res.Stepped, "hw-offset", n.hwOffset())
	// As linuxptp: the port is synchronised (UNCALIBRATED -> SLAVE) once the servo is
	// Locked (s2), i.e. on the first sample after the step.
	switch {
	case n.srv.State() == servo.Locked && p.state == port.Uncalibrated:
		p.state = port.Next(p.state, port.MasterClockSelected, false, false)
		n.cfg.Log.Info("ptp port state", "ptp", n.cfg.Name, "port", p.name, "from", port.Uncalibrated, "to", p.state)
	case n.srv.State() != servo.Locked && p.state == port.Slave:
		p.state = port.Next(p.state, port.SynchronizationFault, false, false)
	}
}

// hwOffset is the steered clock minus the system clock: what the clock holds apart from
// CLOCK_REALTIME (a PHC's or virtual clock's offset; 0 for the system clock).
func (n *Node) hwOffset() int64 {
	c := n.cfg.Clock
	if c.Name() == "system" {
		return 0
	}
	return c.Now() - sysNow()
}

func (n *Node) publish() {
	c := n.clk
	s := Snapshot{
		Name: n.cfg.Name, ClockID: c.Default.Identity.String(), Priority1: c.Default.Priority1, Priority2: c.Default.Priority2,
		IAmGM: c.IsGrandmaster(), GMClockID: c.Parent.GMIdentity.String(), GMPriority1: c.Parent.GMPriority1,
		GMPriority2: c.Parent.GMPriority2, MasterClockID: c.Parent.ParentPort.Clock.String(),
		FreqDrift: int64(math.Round(n.cfg.Clock.Freq())), HWOffset: n.hwOffset(),
		Timestamping: "software", Clock: n.cfg.Clock.Name(), Servo: n.srv.State().String(), Samples: n.samples,
	}
	if n.cfg.Hardware {
		s.Timestamping = "hardware"
	}
	if sp := n.slavePort(); sp != nil {
		s.SlavePort = sp.name
		s.Offset = c.Current.OffsetFromMaster
		s.SlavePortDelay = sp.delay
		s.Locked = sp.state == port.Slave
	}
	for _, p := range n.ports {
		ps := PortSnapshot{Interface: p.name, State: p.state.String(), Gptp: n.prof.Gptp, AsCapable: p.asCapable, NeighborRateRatio: p.nrr}
		if p.haveDel && (p.state == port.Slave || p.state == port.Uncalibrated || n.prof.Delay == P2P) {
			ps.Delay = p.delay
		}
		s.Ports = append(s.Ports, ps)
	}
	n.mu.Lock()
	n.snap = s
	n.mu.Unlock()
}
