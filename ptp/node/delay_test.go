package node

import (
	"math"
	"testing"

	"github.com/routerd/routerd/ptp/msg"
)

// TestE2EDelayUnderDrift: E2E exchanges measured by a local clock 37 ms off and 100 ppm
// fast read the delay short by the frequency error over each Sync-to-Delay_Req span
// (100 ppm × 0.4 s / 2 = 20 us); the servo reports that error when it locks and the
// delay it is then given is the true one. A correction with the wrong sign or ratio
// (or none) is off by tens of microseconds.
func TestE2EDelayUnderDrift(t *testing.T) {
	const (
		offset = 37_000_000
		rate   = 100e-6 // the local clock's frequency error
		d      = 1_500
		span   = 400_000_000 // Delay_Req 0.4 s after its Sync
	)
	p := &portRT{name: "a"}
	n := offline(t, "default", p)
	parent := msg.PortIdentity{Clock: msg.ClockIdentity{0x10, 1}, Port: 1}
	n.clk.Parent.ParentPort = parent
	const s0 = 1_800_000_000_000_000_000
	local := func(real int64) int64 { return real + offset + int64(rate*float64(real-s0)) }
	for k := range int64(9) {
		s := s0 + k*1_000_000_000
		p.t1, p.t2, p.corr = s, local(s+d), 0
		seq := uint16(k)
		p.delayT3[seq] = local(s + span)
		n.onDelayResp(p, &msg.DelayResp{Header: msg.Header{SourcePort: parent, Sequence: seq, LogInterval: 0x7F},
			ReceiveTimestamp: msg.NewTimestamp(s + span + d), RequestingPort: p.id})
	}
	if want := int64(math.Round(d - rate*(span-d)/2)); absNS(p.delay-want) > 2 {
		t.Fatalf("raw delay %d ns, want %d (short by the drift over the span)", p.delay, want)
	}
	got, ok := p.servoDelay(rate * 1e9)
	if !ok || absNS(got-d) > 5 {
		t.Fatalf("delay after the servo's frequency correction %d ns (ok %v), want %d", got, ok, d)
	}
	// The correction is spent: asking again changes nothing.
	if again, _ := p.servoDelay(rate * 1e9); again != got {
		t.Fatalf("corrected twice: %d then %d", got, again)
	}
}

func absNS(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}
