package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/routerd/routerd/ptp/bmca"
	"github.com/routerd/routerd/ptp/clock"
	"github.com/routerd/routerd/ptp/msg"
	"github.com/routerd/routerd/ptp/port"
	"github.com/routerd/routerd/ptp/servo"
	"github.com/routerd/routerd/ptp/ts"
)

// ErrNoPorts: an instance needs at least one usable port.
var ErrNoPorts = errors.New("no usable PTP port")

// Config is one clock instance.
type Config struct {
	Name    string
	Profile Profile
	Ports   []string
	// LocalPriority is each port's G.8275.1 localPriority, parallel to Ports; missing
	// entries and zero are the default 128.
	LocalPriority []uint8
	Clock         clock.Clock
	// Hardware: use hardware timestamps (the ports' NIC has a PHC; Clock is it).
	Hardware bool
	// Open makes a port's transport; nil uses ts.Open (tests wrap it to open in a
	// namespace).
	Open func(ts.Options) (ts.Transport, error)
	Log  *slog.Logger
}

// Node runs one instance.
type Node struct {
	cfg   Config
	prof  Profile
	clk   *bmca.Clock
	ports []*portRT
	srv   *servo.PI
	in    chan rx
	upd   chan [2]uint8

	samples uint64

	mu   sync.Mutex
	snap Snapshot
}

type rx struct {
	port int
	pkt  ts.Packet
}

// portRT is one port's runtime state.
type portRT struct {
	name    string
	id      msg.PortIdentity
	tr      ts.Transport
	state   port.State
	foreign bmca.Foreign
	erbest  *msg.Announce

	lastAnnounce time.Time     // announce receipt timer start
	receiptAfter time.Duration // announceReceiptTimeout × the master's announce interval
	qualifyAt    time.Time     // PRE_MASTER until then

	seqAnnounce, seqSync, seqDelay, seqPdelay uint16
	nextDelayReq                              time.Time
	delayReqInterval                          time.Duration
	syncInterval                              time.Duration

	// slave side, two-step Sync awaiting its Follow_Up
	syncSeq   uint16
	syncT2    int64
	syncCorr  int64
	syncValid bool
	// Delay_Req awaiting its Delay_Resp
	delayT3 map[uint16]int64
	delays  []delaySample // recent mean path delay samples, for the median
	delay   int64
	haveDel bool
	// Pdelay_Req awaiting Pdelay_Resp and its Follow_Up
	pdT1, pdT2, pdT4, pdCorr int64
	pdSeq                    uint16
	pdHaveResp               bool
	asymmetry                int64
	localPriority            uint8
	// 802.1AS (clause 11.2.15): the neighbor's rate over ours from successive Pdelay
	// exchanges, the last exchange's corrected responder and ingress times, requests left
	// unanswered in a row, and whether the port may run gPTP at all.
	nrr                float64
	pdPrevT3, pdPrevT4 int64
	pdHavePrev, pdDone bool
	pdSent             bool
	pdLost             int
	asCapable          bool
	upstreamRate       float64 // cumulative rate ratio the master's Follow_Up carried

	// the last completed Sync: t1, t2 and its corrections, for the E2E delay
	t1, t2, corr int64

	// Syncs heard from foreign masters while LISTENING (newest last): when one of them
	// is selected, the servo starts with the frequency estimate they make and the
	// first Delay_Req has a Sync to pair with, instead of waiting for new ones.
	heard []heardSync
}

// heardSync is one Sync from a foreign master; done once t1 is known (its Follow_Up
// arrived, or it was one-step).
type heardSync struct {
	src          msg.PortIdentity
	seq          uint16
	logInterval  int8
	t1, t2, corr int64
	done         bool
}

// maxHeard bounds the Syncs a listening port keeps (the servo's estimate uses 8).
const maxHeard = 8

// Snapshot is what monitor, status and metrics show.
type Snapshot struct {
	Name           string
	ClockID        string
	Priority1      uint8
	Priority2      uint8
	IAmGM          bool
	GMClockID      string
	GMPriority1    uint8
	GMPriority2    uint8
	MasterClockID  string
	SlavePort      string
	FreqDrift      int64 // ppb
	Offset         int64 // ns
	HWOffset       int64 // ns
	SlavePortDelay int64 // ns
	Timestamping   string
	Clock          string
	Servo          string
	Locked         bool
	Ports          []PortSnapshot
	Samples        uint64
}

// PortSnapshot is one row of /system ptp status.
type PortSnapshot struct {
	Interface string
	State     string
	Delay     int64
	// Gptp: the instance runs 802.1AS, and the port has an asCapable and a
	// neighborRateRatio (the neighbor's frequency over ours, from Pdelay exchanges).
	Gptp              bool
	AsCapable         bool
	NeighborRateRatio float64
}

// New opens the ports of an instance.
func New(cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Open == nil {
		cfg.Open = ts.Open
	}
	p := cfg.Profile
	n := &Node{cfg: cfg, prof: p, in: make(chan rx, 256), upd: make(chan [2]uint8, 4)}
	var identity msg.ClockIdentity
	var errs []error
	for i, name := range cfg.Ports {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		tr, err := cfg.Open(ts.Options{Mode: p.Transport, Interface: name, Hardware: cfg.Hardware})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if identity == (msg.ClockIdentity{}) && len(ifi.HardwareAddr) >= 6 {
			identity = msg.IdentityFromMAC(ifi.HardwareAddr)
		}
		lp := uint8(128)
		if i < len(cfg.LocalPriority) && cfg.LocalPriority[i] != 0 {
			lp = cfg.LocalPriority[i]
		}
		n.ports = append(n.ports, &portRT{name: name, tr: tr, state: port.Initializing, delayT3: map[uint16]int64{},
			localPriority: lp, nrr: 1, upstreamRate: 1})
	}
	if len(n.ports) == 0 {
		return nil, fmt.Errorf("%w: %w", ErrNoPorts, errors.Join(errs...))
	}
	for i, pt := range n.ports {
		pt.id = msg.PortIdentity{Clock: identity, Port: uint16(i + 1)}
	}
	n.clk = &bmca.Clock{Default: bmca.DefaultDS{TwoStep: true, Identity: identity, NumberPorts: uint16(len(n.ports)),
		Quality:   msg.ClockQuality{Class: p.ClockClass, Accuracy: 0xFE, Variance: 0xFFFF},
		Priority1: p.Priority1, Priority2: p.Priority2, Domain: p.Domain}, PTPTimescale: cfg.Hardware}
	n.clk.BecomeGrandmaster()
	n.newServo(p.LogSync)
	n.publish()
	return n, nil
}

func (n *Node) newServo(logSync int8) {
	n.srv = servo.New(servo.Config{Interval: math.Pow(2, float64(logSync)), Estimate: 2,
		FirstStep: 20_000, StepThreshold: 1_000_000, MaxFreq: n.cfg.Clock.MaxFreq()}, n.cfg.Clock.Freq())
}

// SetPriorities changes priority1/2 at runtime; the next state decision uses them.
func (n *Node) SetPriorities(p1, p2 uint8) {
	select {
	case n.upd <- [2]uint8{p1, p2}:
	default:
	}
}

// Snapshot returns the current state.
func (n *Node) Snapshot() Snapshot {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.snap
	s.Ports = append([]PortSnapshot(nil), s.Ports...)
	return s
}

func sysNow() int64 { return time.Now().UnixNano() }

func interval(log int8) time.Duration {
	return time.Duration(math.Pow(2, float64(log)) * float64(time.Second))
}

// Run drives the instance until ctx ends; it closes the transports. The engine runs it
// under its host's recovery: a panic in Run (a bug a packet hits) ends the instance, its
// items show why and the engine starts it again.
func (n *Node) Run(ctx context.Context) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		for _, p := range n.ports {
			p.tr.Close()
		}
		wg.Wait()
	}()
	// A panic in a port's forwarder is logged with its stack there and handed to Run,
	// which panics with it on its own goroutine (the one the host recovers), so the
	// instance ends and starts again as for any other fault.
	faults := make(chan string, len(n.ports))
	for i, p := range n.ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if v := recover(); v != nil {
					n.cfg.Log.Error("ptp: internal error in a port's receiver", "instance", n.cfg.Name, "port", p.name,
						"panic", v, "stack", string(debug.Stack()))
					faults <- fmt.Sprintf("port %s receiver: %v", p.name, v)
				}
			}()
			for {
				select {
				case pkt, ok := <-p.tr.Recv():
					if !ok {
						return
					}
					select {
					case n.in <- rx{i, pkt}:
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	now := time.Now()
	for _, p := range n.ports {
		p.state = port.Next(p.state, port.InitComplete, false, false)
		p.lastAnnounce = now
		p.receiptAfter = time.Duration(n.prof.AnnounceReceiptTimeout) * interval(n.prof.LogAnnounce)
		p.delayReqInterval = interval(n.prof.LogMinDelayReq)
		p.syncInterval = interval(n.prof.LogSync)
	}
	announce := time.NewTicker(interval(n.prof.LogAnnounce))
	sync := time.NewTicker(interval(n.prof.LogSync))
	pdelay := time.NewTicker(interval(n.prof.LogMinPdelayReq))
	// The housekeeping tick checks timers at an eighth of the announce interval or 1/16 s.
	house := time.NewTicker(min(interval(n.prof.LogAnnounce)/8, 62500*time.Microsecond))
	defer announce.Stop()
	defer sync.Stop()
	defer pdelay.Stop()
	defer house.Stop()
	n.decide(time.Now())
	n.publish()
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-faults:
			panic(f)
		case r := <-n.in:
			n.receive(n.ports[r.port], r.pkt)
		case pr := <-n.upd:
			n.clk.Default.Priority1, n.clk.Default.Priority2 = pr[0], pr[1]
			if n.clk.IsGrandmaster() {
				n.clk.BecomeGrandmaster()
			}
			n.decide(time.Now())
		case <-announce.C:
			for _, p := range n.ports {
				if p.state == port.Master {
					n.sendAnnounce(p)
				}
			}
		case <-sync.C:
			for _, p := range n.ports {
				if p.state == port.Master {
					n.sendSync(p)
				}
			}
		case <-pdelay.C:
			if n.prof.Delay == P2P {
				for _, p := range n.ports {
					if p.state != port.Disabled && p.state != port.Faulty && p.state != port.Initializing {
						n.sendPdelayReq(p)
					}
				}
			}
		case t := <-house.C:
			n.housekeeping(t)
		}
		n.publish()
	}
}

func (n *Node) housekeeping(now time.Time) {
	decide := false
	for _, p := range n.ports {
		switch p.state {
		case port.Listening, port.Uncalibrated, port.Slave, port.Passive:
			if now.Sub(p.lastAnnounce) > p.receiptAfter {
				n.cfg.Log.Debug("ptp announce receipt timeout", "ptp", n.cfg.Name, "port", p.name, "state", p.state)
				p.foreign.Clear()
				p.erbest = nil
				was := p.state
				p.state = port.Next(p.state, port.AnnounceReceiptTimeout, false, false)
				p.lastAnnounce = now
				if was == port.Slave || was == port.Uncalibrated {
					n.clk.BecomeGrandmaster()
					n.srv.Reset()
				}
				decide = true
			}
		case port.PreMaster:
			if !now.Before(p.qualifyAt) {
				p.state = port.Next(p.state, port.QualificationTimeout, false, false)
			}
		}
		if n.prof.Delay == E2E && (p.state == port.Slave || p.state == port.Uncalibrated) && !now.Before(p.nextDelayReq) {
			n.sendDelayReq(p)
			p.nextDelayReq = now.Add(p.delayReqInterval)
		}
	}
	// The state decision event comes every announce interval (clause 9.2.6.8); checking
	// here is cheaper and sooner.
	if decide || n.qualifiedChanged(now) {
		n.decide(now)
	}
}

// qualifiedChanged refreshes each port's Erbest and reports whether any changed.
func (n *Node) qualifiedChanged(now time.Time) bool {
	changed := false
	for _, p := range n.ports {
		best := n.erbest(p, now)
		if best != p.erbest {
			changed = changed || best == nil || p.erbest == nil || !sameAnnounce(best, p.erbest)
			p.erbest = best
		}
	}
	return changed
}

func sameAnnounce(a, b *msg.Announce) bool {
	return a.SourcePort == b.SourcePort && a.GMIdentity == b.GMIdentity && a.GMPriority1 == b.GMPriority1 &&
		a.GMPriority2 == b.GMPriority2 && a.GMQuality == b.GMQuality && a.StepsRemoved == b.StepsRemoved
}

func (n *Node) erbest(p *portRT, now time.Time) *msg.Announce {
	if !n.capable(p) {
		return nil
	}
	window := bmca.ForeignMasterWindow * interval(n.prof.LogAnnounce)
	qs := n.foreignWindowed(p, now, window)
	var best *msg.Announce
	var bestDS bmca.Dataset
	for _, a := range qs {
		ds := bmca.FromAnnounce(a, p.id, p.localPriority)
		if best == nil || n.prof.Compare(&ds, &bestDS).AWins() {
			best, bestDS = a, ds
		}
	}
	return best
}

func (n *Node) foreignWindowed(p *portRT, now time.Time, window time.Duration) []*msg.Announce {
	parent := msg.PortIdentity{}
	if p.state == port.Slave || p.state == port.Uncalibrated {
		parent = n.clk.Parent.ParentPort
	}
	return p.foreign.Qualified(now, window, parent)
}

// decide runs the state decision algorithm for every port (clause 9.3.3).
func (n *Node) decide(now time.Time) {
	d0 := n.clk.D0()
	for _, p := range n.ports {
		p.erbest = n.erbest(p, now)
	}
	ebestPort := n.ebestPort()
	var ebest *msg.Announce
	var ebestP *bmca.Dataset
	if ebestPort >= 0 {
		p := n.ports[ebestPort]
		ebest = p.erbest
		ds := bmca.FromAnnounce(ebest, p.id, p.localPriority)
		ebestP = &ds
	}
	for i, p := range n.ports {
		if p.state == port.Disabled || p.state == port.Faulty || p.state == port.Initializing {
			continue
		}
		var er *bmca.Dataset
		if p.erbest != nil {
			ds := bmca.FromAnnounce(p.erbest, p.id, p.localPriority)
			er = &ds
		}
		d := bmca.StateDecision(n.prof.Compare, &d0, er, ebestP, i == ebestPort, p.state == port.Listening)
		was := p.state
		switch {
		case d == bmca.M1 || d == bmca.M2:
			n.clk.BecomeGrandmaster()
			p.state = port.Next(p.state, port.RecommendGrandMaster, false, false)
		case d == bmca.M3:
			p.state = port.Next(p.state, port.RecommendMaster, false, false)
			if p.state == port.PreMaster && was != port.PreMaster {
				p.qualifyAt = now.Add(time.Duration(n.clk.Current.StepsRemoved+1) * interval(n.prof.LogAnnounce))
			}
		case d == bmca.P1 || d == bmca.P2:
			p.state = port.Next(p.state, port.RecommendPassive, false, false)
			p.lastAnnounce = now
		case d == bmca.S1:
			newMaster := n.clk.Parent.ParentPort != ebest.SourcePort
			n.clk.FollowMaster(ebest)
			p.state = port.Next(p.state, port.RecommendSlave, newMaster, false)
			if newMaster || was != p.state {
				p.lastAnnounce = now
				p.syncValid, p.haveDel, p.delays = false, false, nil
				n.srv.Reset()
				n.startSlave(p, ebest.SourcePort, now)
			}
		}
		if was != p.state {
			n.cfg.Log.Info("ptp port state", "ptp", n.cfg.Name, "port", p.name, "from", was, "to", p.state, "decision", d)
			if p.state == port.Master {
				// A new master announces at once so that the others settle sooner.
				n.sendAnnounce(p)
			}
		}
	}
	// Only one clock state per instance: a clock with no slave port is its own master.
	if n.slavePort() == nil && !n.clk.IsGrandmaster() {
		n.clk.BecomeGrandmaster()
	}
}

// ebestPort is the port whose Erbest is Ebest (clause 9.3.2.2), -1 for none; each
// port's localPriority enters the comparison (G.8275.1).
func (n *Node) ebestPort() int {
	best := -1
	var bestDS bmca.Dataset
	for i, p := range n.ports {
		if p.erbest == nil {
			continue
		}
		ds := bmca.FromAnnounce(p.erbest, p.id, p.localPriority)
		if best < 0 || n.prof.Compare(&ds, &bestDS).AWins() {
			best, bestDS = i, ds
		}
	}
	return best
}

func (n *Node) slavePort() *portRT {
	for _, p := range n.ports {
		if p.state == port.Slave || p.state == port.Uncalibrated {
			return p
		}
	}
	return nil
}

func (n *Node) header(p *portRT, seq uint16, log int8) msg.Header {
	return msg.Header{TransportSpecific: n.prof.TransportSpecific, Domain: n.clk.Default.Domain,
		SourcePort: p.id, Sequence: seq, LogInterval: log}
}

// stamp converts a transport timestamp to the instance's clock.
func (n *Node) stamp(raw int64) int64 {
	if n.cfg.Hardware {
		return raw
	}
	return n.cfg.Clock.FromSystem(raw)
}

func (n *Node) send(p *portRT, m msg.Message, pdelay bool) (int64, error) {
	ev := m.Head().Type.Event()
	b := msg.Marshal(m)
	t, err := p.tr.Send(b, ev, pdelay)
	if err != nil {
		n.cfg.Log.Debug("ptp send", "ptp", n.cfg.Name, "port", p.name, "type", m.Head().Type, "err", err)
		return 0, err
	}
	if ev {
		return n.stamp(t), nil
	}
	return 0, nil
}

func (n *Node) sendAnnounce(p *portRT) {
	if !n.capable(p) {
		return
	}
	c := n.clk
	h := n.header(p, p.seqAnnounce, n.prof.LogAnnounce)
	p.seqAnnounce++
	h.Flags = c.Time.Flags()
	a := &msg.Announce{Header: h, OriginTimestamp: msg.NewTimestamp(n.cfg.Clock.Now()),
		CurrentUTCOffset: c.Time.CurrentUTCOffset, GMPriority1: c.Parent.GMPriority1, GMQuality: c.Parent.GMQuality,
		GMPriority2: c.Parent.GMPriority2, GMIdentity: c.Parent.GMIdentity, StepsRemoved: c.Current.StepsRemoved,
		TimeSource: c.Time.TimeSource}
	if n.prof.Gptp {
		a.TLVs = []msg.TLV{msg.PathTrace([]msg.ClockIdentity{c.Default.Identity})}
	}
	n.send(p, a, false)
}

func (n *Node) sendSync(p *portRT) {
	if !n.capable(p) {
		return
	}
	h := n.header(p, p.seqSync, n.prof.LogSync)
	p.seqSync++
	h.Flags = msg.FlagTwoStep | n.clk.Time.Flags()&^0xFF00
	t1, err := n.send(p, &msg.Sync{Header: h}, false)
	if err != nil {
		return
	}
	fh := h
	fh.Flags = n.clk.Time.Flags()
	fu := &msg.FollowUp{Header: fh, PreciseOriginTimestamp: msg.NewTimestamp(t1)}
	if n.prof.Gptp {
		fu.TLVs = []msg.TLV{msg.FollowUpInfo{CumulativeScaledRateOffset: n.cumulativeScaledRateOffset()}.TLV()}
	}
	n.send(p, fu, false)
}

func (n *Node) sendDelayReq(p *portRT) {
	h := n.header(p, p.seqDelay, 0x7F)
	p.seqDelay++
	// Clause 11.6.3: the asymmetry is subtracted from the Delay_Req's correction.
	h.Correction = msg.CorrectionFromNanos(-p.asymmetry)
	t3, err := n.send(p, &msg.DelayReq{Header: h, OriginTimestamp: msg.NewTimestamp(n.cfg.Clock.Now())}, false)
	if err != nil {
		return
	}
	if len(p.delayT3) > 16 {
		clear(p.delayT3)
	}
	p.delayT3[h.Sequence] = t3
}

func (n *Node) sendPdelayReq(p *portRT) {
	n.pdelayLost(p)
	h := n.header(p, p.seqPdelay, 0x7F)
	p.seqPdelay++
	t1, err := n.send(p, &msg.PdelayReq{Header: h, OriginTimestamp: msg.NewTimestamp(n.cfg.Clock.Now())}, true)
	if err != nil {
		return
	}
	p.pdSeq, p.pdT1, p.pdHaveResp, p.pdSent, p.pdDone = h.Sequence, t1, false, true, false
}

func (n *Node) receive(p *portRT, pkt ts.Packet) {
	m, err := msg.Parse(pkt.Data)
	if err != nil {
		return
	}
	h := m.Head()
	if h.Domain != n.clk.Default.Domain || h.TransportSpecific != n.prof.TransportSpecific {
		return
	}
	if h.SourcePort.Clock == n.clk.Default.Identity {
		// Our own message looped back, or another port of this boundary clock on the
		// same segment: the BMCA handles the latter through Announce; the rest is noise.
		if _, ok := m.(*msg.Announce); !ok {
			return
		}
	}
	if p.state == port.Disabled || p.state == port.Faulty || p.state == port.Initializing {
		return
	}
	if pkt.TS == 0 && h.Type.Event() {
		// No receive timestamp: the kernel turns software stamping on a moment after
		// the first socket asks for it, and a packet in that moment carries none. A
		// time of zero would be a sample decades off.
		n.cfg.Log.Debug("ptp event message without a receive timestamp", "ptp", n.cfg.Name, "port", p.name, "type", h.Type)
		return
	}
	now := time.Now()
	t := n.stamp(pkt.TS)
	switch m := m.(type) {
	case *msg.Announce:
		n.onAnnounce(p, m, now)
	case *msg.Sync:
		n.onSync(p, m, t)
	case *msg.FollowUp:
		n.onFollowUp(p, m)
	case *msg.DelayReq:
		if p.state == port.Master {
			rh := n.header(p, m.Sequence, n.prof.LogMinDelayReq)
			rh.Correction = m.Correction
			n.send(p, &msg.DelayResp{Header: rh, ReceiveTimestamp: msg.NewTimestamp(t), RequestingPort: m.SourcePort}, false)
		}
	case *msg.DelayResp:
		n.onDelayResp(p, m)
	case *msg.PdelayReq:
		n.onPdelayReq(p, m, t)
	case *msg.PdelayResp:
		if m.RequestingPort == p.id && m.Sequence == p.pdSeq {
			p.pdT2, p.pdT4, p.pdCorr, p.pdHaveResp = m.RequestReceiptTimestamp.Nanos(), t, m.Correction.Nanos(), true
			if m.Flags&msg.FlagTwoStep == 0 {
				// One-step responder: the turnaround time is in the correction.
				p.pdT2 = 0
				n.peerDelay(p, 0, 0)
			}
		}
	case *msg.PdelayRespFollowUp:
		if m.RequestingPort == p.id && m.Sequence == p.pdSeq && p.pdHaveResp {
			n.peerDelay(p, m.ResponseOriginTimestamp.Nanos(), m.Correction.Nanos())
		}
	}
}

func (n *Node) onAnnounce(p *portRT, a *msg.Announce, now time.Time) {
	if !n.capable(p) {
		return // 802.1AS 10.3.10: Announce counts only on an asCapable port
	}
	if !bmca.Acceptable(a, n.clk.Default.Identity, n.clk.Default.Domain) {
		return
	}
	if n.prof.Gptp {
		// 802.1AS 10.3.10.2: an Announce whose path already holds this clock is a loop.
		if t, ok := msg.Find(a.TLVs, msg.TLVPathTrace); ok {
			if ids, err := msg.ParsePathTrace(t); err == nil {
				for _, id := range ids {
					if id == n.clk.Default.Identity {
						return
					}
				}
			}
		}
	}
	window := bmca.ForeignMasterWindow * interval(a.LogInterval)
	p.foreign.Add(a, now, window)
	slave := p.state == port.Slave || p.state == port.Uncalibrated
	if !slave || a.SourcePort == n.clk.Parent.ParentPort {
		p.lastAnnounce = now
		p.receiptAfter = time.Duration(n.prof.AnnounceReceiptTimeout) * interval(a.LogInterval)
	}
	if slave && a.SourcePort == n.clk.Parent.ParentPort {
		// The parent's data sets follow its Announce (clause 9.3.5 Table 16).
		n.clk.FollowMaster(a)
	}
	best := n.erbest(p, now)
	if best != nil && (p.erbest == nil || !sameAnnounce(best, p.erbest) || best.SourcePort != p.erbest.SourcePort) {
		n.decide(now)
	}
}

func (n *Node) onSync(p *portRT, m *msg.Sync, t2 int64) {
	if !n.capable(p) {
		return
	}
	if p.state == port.Listening {
		h := heardSync{src: m.SourcePort, seq: m.Sequence, logInterval: m.LogInterval, t2: t2, corr: m.Correction.Nanos() + p.asymmetry}
		if m.Flags&msg.FlagTwoStep == 0 {
			h.t1, h.done = m.OriginTimestamp.Nanos(), true
		}
		p.heard = append(p.heard, h)
		if len(p.heard) > maxHeard {
			p.heard = p.heard[1:]
		}
		return
	}
	if (p.state != port.Slave && p.state != port.Uncalibrated) || m.SourcePort != n.clk.Parent.ParentPort {
		return
	}
	if m.LogInterval != 0x7F {
		if iv := interval(m.LogInterval); iv != p.syncInterval && iv > 0 {
			p.syncInterval = iv
			n.newServo(m.LogInterval)
		}
	}
	// Clause 11.6.2: the asymmetry is added to the Sync's correction.
	corr := m.Correction.Nanos() + p.asymmetry
	if m.Flags&msg.FlagTwoStep == 0 {
		n.offset(p, t2, m.OriginTimestamp.Nanos(), corr)
		return
	}
	p.syncSeq, p.syncT2, p.syncCorr, p.syncValid = m.Sequence, t2, corr, true
}

func (n *Node) onFollowUp(p *portRT, m *msg.FollowUp) {
	if p.state == port.Listening {
		for i := len(p.heard) - 1; i >= 0; i-- {
			if h := &p.heard[i]; h.src == m.SourcePort && h.seq == m.Sequence && !h.done {
				h.t1, h.corr, h.done = m.PreciseOriginTimestamp.Nanos(), h.corr+m.Correction.Nanos(), true
				break
			}
		}
		return
	}
	if !p.syncValid || m.Sequence != p.syncSeq || m.SourcePort != n.clk.Parent.ParentPort {
		return
	}
	p.syncValid = false
	if n.prof.Gptp {
		p.upstreamRate = 1
		if t, ok := msg.Find(m.TLVs, msg.TLVOrganizationExtension); ok {
			if fi, err := msg.ParseFollowUpInfo(t); err == nil {
				p.upstreamRate = 1 + float64(fi.CumulativeScaledRateOffset)/(1<<41)
			}
		}
	}
	n.offset(p, p.syncT2, m.PreciseOriginTimestamp.Nanos(), p.syncCorr+m.Correction.Nanos())
}

func (n *Node) onDelayResp(p *portRT, m *msg.DelayResp) {
	if m.RequestingPort != p.id || m.SourcePort != n.clk.Parent.ParentPort {
		return
	}
	t3, ok := p.delayT3[m.Sequence]
	if !ok {
		return
	}
	delete(p.delayT3, m.Sequence)
	if m.LogInterval != 0x7F {
		p.delayReqInterval = interval(m.LogInterval)
	}
	if p.t1 == 0 {
		return
	}
	// Clause 11.3.2: [(t2 - t1) + (t4 - t3) - corrections] / 2.
	t4 := m.ReceiveTimestamp.Nanos()
	d := ((p.t2 - p.t1) + (t4 - t3) - p.corr - m.Correction.Nanos()) / 2
	n.addDelay(p, d, p.t2-t3)
	n.lockNow(p)
}

func (n *Node) onPdelayReq(p *portRT, m *msg.PdelayReq, t2 int64) {
	h := n.header(p, m.Sequence, 0x7F)
	h.Flags = msg.FlagTwoStep
	t3, err := n.send(p, &msg.PdelayResp{Header: h, RequestReceiptTimestamp: msg.NewTimestamp(t2), RequestingPort: m.SourcePort}, true)
	if err != nil {
		return
	}
	fh := n.header(p, m.Sequence, 0x7F)
	fh.Correction = m.Correction
	n.send(p, &msg.PdelayRespFollowUp{Header: fh, ResponseOriginTimestamp: msg.NewTimestamp(t3), RequestingPort: m.SourcePort}, true)
}

// peerDelay completes a peer delay measurement (clause 11.4.3). Under 802.1AS the
// neighbor's rate ratio scales the local interval t4 - t1 into the responder's time base
// (802.1AS-2011 11.2.15.2.4), which already removes what a frequency error adds to the
// delay, so such samples carry no span for the servo to correct.
func (n *Node) peerDelay(p *portRT, t3, fuCorr int64) {
	p.pdHaveResp, p.pdDone, p.pdLost = false, true, 0
	var d int64
	span := p.pdT4 - p.pdT1
	if p.pdT2 == 0 && t3 == 0 {
		d = (p.pdT4 - p.pdT1 - p.pdCorr) / 2
	} else if n.prof.Gptp {
		n.updateRateRatio(p, t3+fuCorr, p.pdT4)
		d = int64(math.Round((p.nrr*float64(p.pdT4-p.pdT1) - float64(t3-p.pdT2) - float64(p.pdCorr+fuCorr)) / 2))
		span = 0
	} else {
		d = ((p.pdT4 - p.pdT1) - (t3 - p.pdT2) - p.pdCorr - fuCorr) / 2
	}
	n.addDelay(p, d, span)
	if n.prof.Gptp {
		n.setAsCapable(p, p.haveDel && p.delay <= n.neighborPropDelayThresh())
	}
}

// delaySample is one mean path delay measurement and span, the local-clock interval it
// adds (t2 - t3 for E2E, t4 - t1 for P2P): a local clock off frequency by r ppb adds
// r*span/2 to the delay, up to 50 us at 100 ppm for a Delay_Req sent a second after
// its Sync.
type delaySample struct{ d, span int64 }

func (n *Node) addDelay(p *portRT, d, span int64) {
	if d < 0 && -d > 1_000_000_000 || d > 1_000_000_000 {
		return // a mismatched pair, not a path
	}
	p.delays = append(p.delays, delaySample{d, span})
	if len(p.delays) > 9 {
		p.delays = p.delays[len(p.delays)-9:]
	}
	p.filterDelay()
	n.clk.Current.MeanPathDelay = p.delay
}

// filterDelay sets the port's delay to the median of its recent measurements.
func (p *portRT) filterDelay() {
	s := make([]int64, len(p.delays))
	for i, e := range p.delays {
		s[i] = e.d
	}
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	p.delay, p.haveDel = s[len(s)/2], true
}

// servoDelay is the delay the servo asks for (servo.DelayFunc): when the servo locks it
// reports the frequency error the clock ran with so far, and the measurements taken
// with it lose what that error added to them (each once: its span is then spent).
func (p *portRT) servoDelay(rate float64) (int64, bool) {
	if !p.haveDel {
		return 0, false
	}
	if rate != 0 {
		for i, e := range p.delays {
			p.delays[i] = delaySample{e.d - int64(math.Round(rate*1e-9*float64(e.span)/2)), 0}
		}
		p.filterDelay()
	}
	if p.upstreamRate != 1 {
		// 802.1AS 11.2.14: the link delay in the grandmaster's time base is
		// neighborPropDelay × rateRatio / neighborRateRatio, the upstream ratio.
		return int64(math.Round(float64(p.delay) * p.upstreamRate)), true
	}
	return p.delay, true
}

// startSlave runs when a port starts to follow master src (UNCALIBRATED): the Syncs it
// heard from src while listening go to the servo, which can then lock as soon as the
// path delay is known, and under E2E the first Delay_Req goes out now rather than a
// Delay_Req interval later (it pairs with the newest heard Sync).
func (n *Node) startSlave(p *portRT, src msg.PortIdentity, now time.Time) {
	heard := p.heard
	p.heard = nil
	p.t1 = 0
	noDelay := func(float64) (int64, bool) { return 0, false }
	for _, h := range heard {
		if !h.done || h.src != src {
			continue
		}
		if h.logInterval != 0x7F {
			if iv := interval(h.logInterval); iv != p.syncInterval && iv > 0 {
				p.syncInterval = iv
				n.newServo(h.logInterval)
			}
		}
		n.srv.Sample(h.t2-h.t1-h.corr, h.t2, noDelay)
		p.t1, p.t2, p.corr = h.t1, h.t2, h.corr
	}
	if n.prof.Delay == E2E && p.t1 != 0 {
		n.sendDelayReq(p)
		p.nextDelayReq = now.Add(p.delayReqInterval)
	}
}

// lockNow locks the servo on the Syncs it has as soon as the first delay is known,
// instead of at the next Sync.
func (n *Node) lockNow(p *portRT) {
	if n.slavePort() != p || n.srv.State() != servo.Unlocked {
		return
	}
	res, ok := n.srv.LockNow(n.cfg.Clock.Now(), p.servoDelay)
	if !ok {
		return
	}
	n.apply(p, res)
}
