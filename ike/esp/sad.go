package esp

import (
	"net/netip"
	"reflect"
	"sync/atomic"
	"time"
)

// endpoint is the part of an SA UpdateSA may change (NAT-T float, MOBIKE).
type endpoint struct {
	src, dst netip.Addr
	encap    *Encap
	life     Lifetime
}

// saState is one installed SA of the userspace path.
type saState struct {
	sa    SA                  // immutable after add (keys, algorithms, mode, reqid)
	key   atomic.Pointer[Key] // changes when MoveSA moves an outbound SA to a new peer address
	t     *transform
	ep    atomic.Pointer[endpoint]
	win   *replayWindow
	seq   atomic.Uint64 // last sequence number sent
	added time.Time

	bytes, packets       atomic.Uint64
	replayErrs, authErrs atomic.Uint64
	softFired, dead      atomic.Bool
	// mapped is the last peer endpoint an EventMapping was raised for, so that a moved
	// peer raises one event, not one per packet.
	mapped      atomic.Pointer[netip.AddrPort]
	hardByBytes atomic.Bool
	// pmtu is the MTU of the path an outbound SA's ESP packets take (the underlay's, or
	// the route's learnt PMTU), 0 while unknown: the sender lets the kernel fragment an
	// ESP packet above it (outSender.send) instead of handing it to a call that would
	// refuse it.
	pmtu atomic.Int32
	// steered: the port program has this inbound SA in its map (steerSA).
	steered atomic.Bool
}

func newSAState(sa SA) (*saState, error) {
	t, err := newTransform(&sa)
	if err != nil {
		return nil, err
	}
	s := &saState{sa: sa, t: t, added: time.Now()}
	s.key.Store(&Key{SPI: sa.SPI, Dst: sa.Dst})
	s.sa.EncKey = append([]byte(nil), sa.EncKey...)
	s.sa.AuthKey = append([]byte(nil), sa.AuthKey...)
	if sa.Dir != DirOut {
		s.win = newReplayWindow(sa.ReplayWindow)
	}
	s.ep.Store(&endpoint{src: sa.Src, dst: sa.Dst, encap: cloneEncap(sa.Encap), life: sa.Lifetime})
	return s, nil
}

// k is the SA's key in the SAD.
func (s *saState) k() Key { return *s.key.Load() }

func cloneEncap(e *Encap) *Encap {
	if e == nil {
		return nil
	}
	c := *e
	return &c
}

func (s *saState) counters() SACounters {
	c := SACounters{
		Bytes: s.bytes.Load(), Packets: s.packets.Load(),
		ReplayErrors: s.replayErrs.Load(), AuthErrors: s.authErrs.Load(),
		AddTime: s.added, State: "mature", ReplayWindow: s.sa.ReplayWindow,
		SeqOut: s.seq.Load(), SeqInHighest: s.win.highest(),
	}
	if s.softFired.Load() {
		c.State = "dying"
	}
	if s.dead.Load() {
		c.State = "dead"
	}
	return c
}

// stat indexes statCounters in Statistics' field order.
type stat int

const (
	stInErrors stat = iota
	stInBufferErrors
	stInHeaderErrors
	stInNoStates
	stInStateProtocolErrors
	stInStateModeErrors
	stInStateSequenceErrors
	stInStateExpired
	stInStateMismatches
	stInStateInvalid
	stInTemplateMismatches
	stInNoPolicies
	stInPolicyBlocked
	stInPolicyErrors
	stOutErrors
	stOutBundleErrors
	stOutBundleCheckErrors
	stOutNoStates
	stOutStateProtocolErrors
	stOutStateModeErrors
	stOutStateSequenceErrors
	stOutStateExpired
	stOutPolicyBlocked
	stOutPolicyDead
	stOutPolicyErrors
	stCount
)

type statCounters [stCount]atomic.Uint64

func (c *statCounters) inc(s stat) { c[s].Add(1) }

func (c *statCounters) snapshot() Statistics {
	var st Statistics
	v := reflect.ValueOf(&st).Elem()
	for i := 0; i < int(stCount) && i < v.NumField(); i++ {
		v.Field(i).SetUint(c[i].Load())
	}
	return st
}

// StatisticsFields lists the counters as (reference name, value) in the reference's order,
// for /ip ipsec statistics print and the metrics exporter.
func StatisticsFields(st Statistics) [][2]any {
	v := reflect.ValueOf(st)
	ty := v.Type()
	out := make([][2]any, 0, ty.NumField())
	for i := 0; i < ty.NumField(); i++ {
		out = append(out, [2]any{ty.Field(i).Tag.Get("ros"), v.Field(i).Uint()})
	}
	return out
}
