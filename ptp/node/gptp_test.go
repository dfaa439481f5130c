package node

import (
	"io"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/routerd/routerd/ptp/bmca"
	"github.com/routerd/routerd/ptp/msg"
	"github.com/routerd/routerd/ptp/port"
)

// offline builds a node whose ports have no transport: enough for the BMCA and the
// peer delay arithmetic, which send nothing while the ports stay LISTENING.
func offline(t *testing.T, profile string, ports ...*portRT) *Node {
	t.Helper()
	prof, err := Resolve(Settings{Profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	self := msg.ClockIdentity{0xAA, 1, 2, 3, 4, 5, 6, 7}
	n := &Node{prof: prof, cfg: Config{Name: "t", Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		clk: &bmca.Clock{Default: bmca.DefaultDS{Identity: self, Quality: msg.ClockQuality{Class: prof.ClockClass, Accuracy: 0xFE, Variance: 0xFFFF},
			Priority1: prof.Priority1, Priority2: prof.Priority2, Domain: prof.Domain}}, ports: ports}
	for i, p := range ports {
		p.id = msg.PortIdentity{Clock: self, Port: uint16(i + 1)}
		p.state = port.Listening
		p.delayT3 = map[uint16]int64{}
		if p.nrr == 0 {
			p.nrr, p.upstreamRate = 1, 1
		}
	}
	n.clk.BecomeGrandmaster()
	return n
}

func announceFrom(gm byte, prof Profile) *msg.Announce {
	id := msg.ClockIdentity{gm, 0, 0, 0, 0, 0, 0, 1}
	return &msg.Announce{Header: msg.Header{Domain: prof.Domain, SourcePort: msg.PortIdentity{Clock: id, Port: 1}, LogInterval: 0},
		GMPriority1: 128, GMPriority2: 128, GMQuality: msg.ClockQuality{Class: 248, Accuracy: 0x21, Variance: 0x4000},
		GMIdentity: id}
}

// qualify records an Announce twice, as FOREIGN_MASTER_THRESHOLD asks.
func qualify(n *Node, p *portRT, a *msg.Announce, now time.Time) {
	window := bmca.ForeignMasterWindow * interval(a.LogInterval)
	p.foreign.Add(a, now.Add(-time.Millisecond), window)
	p.foreign.Add(a, now, window)
}

func TestLocalPriorityRanksMasters(t *testing.T) {
	for _, c := range []struct {
		lp1, lp2 uint8
		want     int
	}{
		{128, 128, 0}, // equal: the lower grandmaster identity (port 1's) wins
		{200, 100, 1}, // port 2's localPriority overrides the identity
		{100, 200, 0},
		{1, 255, 0},
	} {
		p1, p2 := &portRT{name: "a", localPriority: c.lp1}, &portRT{name: "b", localPriority: c.lp2}
		n := offline(t, "g8275.1", p1, p2)
		now := time.Now()
		// Two masters equal in every attribute but their identity, one per port.
		qualify(n, p1, announceFrom(0x10, n.prof), now)
		qualify(n, p2, announceFrom(0x20, n.prof), now)
		for _, p := range n.ports {
			p.erbest = n.erbest(p, now)
			if p.erbest == nil {
				t.Fatalf("%+v: port %s has no Erbest", c, p.name)
			}
		}
		if got := n.ebestPort(); got != c.want {
			t.Errorf("local-priority %d/%d: Ebest on port %d, want %d", c.lp1, c.lp2, got+1, c.want+1)
		}
	}
	// Under the default BMCA localPriority takes no part.
	p1, p2 := &portRT{name: "a", localPriority: 200}, &portRT{name: "b", localPriority: 1}
	n := offline(t, "default", p1, p2)
	now := time.Now()
	qualify(n, p1, announceFrom(0x10, n.prof), now)
	qualify(n, p2, announceFrom(0x20, n.prof), now)
	for _, p := range n.ports {
		p.erbest = n.erbest(p, now)
	}
	if got := n.ebestPort(); got != 0 {
		t.Errorf("default profile: Ebest on port %d, want 1", got+1)
	}
}

// exchange runs one synthetic Pdelay exchange at local time t1 against a responder
// whose clock is resp(x) = off + x·(1+eps), over a link of delay d (local time) with the
// given turnaround (responder time).
func exchange(n *Node, p *portRT, t1 int64, eps float64, d, turnaround int64) {
	const off = 5_000_000_000
	resp := func(x int64) int64 { return off + int64(math.Round(float64(x)*(1+eps))) }
	local := func(r int64) int64 { return int64(math.Round(float64(r-off) / (1 + eps))) }
	t2 := resp(t1 + d)
	t3 := t2 + turnaround
	t4 := local(t3) + d
	p.pdSent, p.pdDone = true, false
	p.pdT1, p.pdT2, p.pdT4, p.pdCorr, p.pdHaveResp = t1, t2, t4, 0, true
	n.peerDelay(p, t3, 0)
}

func TestNeighborRateRatio(t *testing.T) {
	const (
		eps        = 100e-6 // the neighbor runs 100 ppm fast
		d          = 20_000
		turnaround = 10_000_000 // a slow responder: 10 ms
	)
	p := &portRT{name: "a"}
	n := offline(t, "802.1as", p)
	if n.capable(p) {
		t.Fatal("asCapable before any Pdelay exchange")
	}
	for k := int64(1); k <= 5; k++ {
		exchange(n, p, k*1_000_000_000, eps, d, turnaround)
	}
	if math.Abs(p.nrr-(1+eps)) > 1e-9 {
		t.Fatalf("neighborRateRatio %.12f, want %.12f", p.nrr, 1+eps)
	}
	// The delay in the responder's time base, d·(1+eps); without the ratio the
	// turnaround would add eps·turnaround/2 = 500 ns.
	want := float64(d) * (1 + eps)
	if math.Abs(float64(p.delay)-want) > 2 {
		t.Fatalf("delay %d ns, want %.0f", p.delay, want)
	}
	if !p.asCapable || !n.capable(p) {
		t.Fatal("not asCapable after exchanges below the threshold")
	}

	// A grandmaster's Follow_Up says rateRatio 1; a slave passes on upstream × nrr.
	if v := n.cumulativeScaledRateOffset(); v != 0 {
		t.Fatalf("grandmaster cumulativeScaledRateOffset %d", v)
	}
	n.clk.Parent.GMIdentity = msg.ClockIdentity{0x10}
	p.state = port.Slave
	p.upstreamRate = 1 + 20e-6
	wantCSRO := ((1+20e-6)*(1+eps) - 1) * (1 << 41)
	got := n.cumulativeScaledRateOffset()
	if math.Abs(float64(got)-wantCSRO) > 1e-9*(1<<41) {
		t.Fatalf("cumulativeScaledRateOffset %d, want %.0f", got, wantCSRO)
	}
	fi, err := msg.ParseFollowUpInfo(msg.FollowUpInfo{CumulativeScaledRateOffset: got}.TLV())
	if err != nil || fi.CumulativeScaledRateOffset != got {
		t.Fatalf("TLV round trip: %+v %v", fi, err)
	}
	p.state = port.Listening

	// Responses stop: after allowedLostResponses the port is no longer asCapable.
	for range allowedLostResponses + 1 {
		p.pdSent, p.pdDone = true, false // a Pdelay_Req went out, nothing came back
		n.pdelayLost(p)
	}
	if p.asCapable {
		t.Fatal("still asCapable after lost responses")
	}
}

func TestAsCapableThreshold(t *testing.T) {
	p := &portRT{name: "a"}
	n := offline(t, "802.1as", p)
	// Links slower than neighborPropDelayThresh never make the port asCapable.
	for k := int64(1); k <= 3; k++ {
		exchange(n, p, k*1_000_000_000, 0, 2*softwarePropDelayThresh, 1000)
	}
	if p.asCapable {
		t.Fatalf("asCapable with delay %d ns", p.delay)
	}
	// A port that is not asCapable takes no part in the BMCA.
	now := time.Now()
	a := announceFrom(0x10, n.prof)
	qualify(n, p, a, now)
	if e := n.erbest(p, now); e != nil {
		t.Fatal("Erbest on a port that is not asCapable")
	}
	p.asCapable = true
	qualify(n, p, a, now)
	if e := n.erbest(p, now); e == nil {
		t.Fatal("no Erbest on an asCapable port")
	}
}
