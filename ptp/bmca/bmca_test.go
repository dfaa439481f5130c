package bmca

import (
	"testing"
	"time"

	"github.com/routerd/routerd/ptp/msg"
)

func id(b byte) msg.ClockIdentity           { return msg.ClockIdentity{0, 0, 0, 0xFF, 0xFE, 0, 0, b} }
func pid(b byte, p uint16) msg.PortIdentity { return msg.PortIdentity{Clock: id(b), Port: p} }

func ds(p1 uint8, class uint8, p2 uint8, gm byte) Dataset {
	return Dataset{GMPriority1: p1, GMIdentity: id(gm), GMQuality: msg.ClockQuality{Class: class, Accuracy: 0xFE, Variance: 0xFFFF},
		GMPriority2: p2, Sender: pid(gm, 1), Receiver: pid(9, 1), LocalPriority: 128}
}

// TestCompare walks Figure 27: each attribute decides only when those before it tie.
func TestCompare(t *testing.T) {
	base := ds(128, 248, 128, 5)
	with := func(f func(*Dataset)) Dataset { d := base; d.GMIdentity = id(6); d.Sender = pid(6, 1); f(&d); return d }
	cases := []struct {
		name string
		b    Dataset
		want Result
	}{
		{"priority1 lower wins", with(func(d *Dataset) { d.GMPriority1 = 100 }), BBetter},
		{"priority1 beats class", with(func(d *Dataset) { d.GMPriority1 = 100; d.GMQuality.Class = 255 }), BBetter},
		{"class", with(func(d *Dataset) { d.GMQuality.Class = 6 }), BBetter},
		{"class beats accuracy", with(func(d *Dataset) { d.GMQuality.Class = 6; d.GMQuality.Accuracy = 0xFF }), BBetter},
		{"accuracy", with(func(d *Dataset) { d.GMQuality.Accuracy = 0x20 }), BBetter},
		{"variance", with(func(d *Dataset) { d.GMQuality.Variance = 0x4000 }), BBetter},
		{"priority2", with(func(d *Dataset) { d.GMPriority2 = 127 }), BBetter},
		{"priority2 worse", with(func(d *Dataset) { d.GMPriority2 = 129 }), ABetter},
		{"identity tie-break", with(func(d *Dataset) {}), ABetter},
		{"identity lower wins", with(func(d *Dataset) { d.GMIdentity = id(4) }), BBetter},
	}
	for _, c := range cases {
		if got := Compare(&base, &c.b); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
		// Swapping A and B swaps the verdict.
		want := map[Result]Result{ABetter: BBetter, BBetter: ABetter}[c.want]
		if got := Compare(&c.b, &base); got != want {
			t.Errorf("%s swapped: got %v, want %v", c.name, got, want)
		}
	}
}

// TestTopology walks Figure 28: the same grandmaster over two paths.
func TestTopology(t *testing.T) {
	gm := ds(128, 248, 128, 1)
	mk := func(steps uint16, sender, receiver msg.PortIdentity) Dataset {
		d := gm
		d.StepsRemoved, d.Sender, d.Receiver = steps, sender, receiver
		return d
	}
	cases := []struct {
		name string
		a, b Dataset
		want Result
	}{
		{"A two more steps", mk(3, pid(2, 1), pid(9, 1)), mk(1, pid(3, 1), pid(9, 2)), BBetter},
		{"B two more steps", mk(1, pid(2, 1), pid(9, 1)), mk(3, pid(3, 1), pid(9, 2)), ABetter},
		{"A one more, receiver < sender", mk(2, pid(5, 1), pid(4, 1)), mk(1, pid(3, 1), pid(4, 2)), BBetter},
		{"A one more, receiver > sender", mk(2, pid(3, 1), pid(4, 1)), mk(1, pid(5, 1), pid(4, 2)), BBetterByTopology},
		{"A one more, own message", mk(2, pid(4, 3), pid(4, 1)), mk(1, pid(5, 1), pid(4, 2)), Error1},
		{"B one more, receiver < sender", mk(1, pid(3, 1), pid(4, 1)), mk(2, pid(5, 1), pid(4, 2)), ABetter},
		{"B one more, receiver > sender", mk(1, pid(5, 1), pid(4, 1)), mk(2, pid(3, 1), pid(4, 2)), ABetterByTopology},
		{"B one more, own message", mk(1, pid(5, 1), pid(4, 1)), mk(2, pid(4, 7), pid(4, 2)), Error1},
		{"equal steps, sender decides", mk(1, pid(2, 1), pid(9, 1)), mk(1, pid(3, 1), pid(9, 2)), ABetterByTopology},
		{"equal steps, sender port decides", mk(1, pid(2, 2), pid(9, 1)), mk(1, pid(2, 1), pid(9, 2)), BBetterByTopology},
		{"same sender, receiver port decides", mk(1, pid(2, 1), pid(9, 1)), mk(1, pid(2, 1), pid(9, 2)), ABetterByTopology},
		{"same sender, receiver port decides B", mk(1, pid(2, 1), pid(9, 3)), mk(1, pid(2, 1), pid(9, 2)), BBetterByTopology},
		{"identical", mk(1, pid(2, 1), pid(9, 1)), mk(1, pid(2, 1), pid(9, 1)), Error2},
	}
	for _, c := range cases {
		if got := Compare(&c.a, &c.b); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCompareG82751(t *testing.T) {
	a, b := ds(128, 165, 128, 5), ds(1, 248, 128, 6)
	if got := CompareG82751(&a, &b); got != ABetter {
		t.Errorf("priority1 must not count, class first: %v", got)
	}
	a, b = ds(128, 165, 128, 5), ds(128, 165, 128, 6)
	b.LocalPriority = 100
	if got := CompareG82751(&a, &b); got != BBetter {
		t.Errorf("localPriority before identity: %v", got)
	}
	// Two grandmaster-capable clocks (class <= 127) of equal quality: topology decides,
	// not the identity.
	a, b = ds(128, 6, 128, 5), ds(128, 6, 128, 6)
	a.StepsRemoved, b.StepsRemoved = 3, 0
	if got := CompareG82751(&a, &b); got != BBetter {
		t.Errorf("class 6 ties go by steps removed: %v", got)
	}
	if got := Compare(&a, &b); got != ABetter {
		t.Errorf("default BMCA uses the identity: %v", got)
	}
}

func TestCompare8021AS(t *testing.T) {
	a, b := ds(246, 248, 248, 1), ds(246, 248, 248, 1)
	a.StepsRemoved, b.StepsRemoved = 1, 2
	a.Sender, b.Sender = pid(7, 1), pid(3, 1)
	if got := Compare8021AS(&a, &b); got != ABetterByTopology {
		t.Errorf("steps removed first: %v", got)
	}
	b.StepsRemoved = 1
	if got := Compare8021AS(&a, &b); got != BBetterByTopology {
		t.Errorf("then source port identity: %v", got)
	}
}

// TestStateDecision walks Figure 26.
func TestStateDecision(t *testing.T) {
	gmCapable := ds(128, 6, 128, 1)  // class 6: M1/P1 branch
	ordinary := ds(128, 248, 128, 7) // class 248
	better := ds(100, 248, 128, 8)   // beats ordinary
	worse := ds(200, 248, 128, 9)    // loses to ordinary
	betterTopo := better             // same GM, one step closer on another port
	betterTopo.StepsRemoved = 0
	betterTopo.Sender = pid(8, 1)
	viaHere := better
	viaHere.StepsRemoved, viaHere.Sender, viaHere.Receiver = 1, pid(3, 1), pid(7, 2)
	cases := []struct {
		name            string
		d0              Dataset
		erbest, ebest   *Dataset
		here, listening bool
		want            Decision
	}{
		{"listening, nothing heard", ordinary, nil, nil, false, true, None},
		{"class 6, nothing heard", gmCapable, nil, nil, false, false, M1},
		{"class 6 beats foreign", gmCapable, &worse, &worse, true, false, M1},
		{"class 6 loses", func() Dataset { d := gmCapable; d.GMPriority1 = 250; return d }(), &better, &better, true, false, P1},
		{"best clock", ordinary, &worse, &worse, true, false, M2},
		{"no foreign master at all", ordinary, nil, nil, false, false, M2},
		{"best is on this port", ordinary, &better, &better, true, false, S1},
		{"best elsewhere, this port hears it by a worse path", ordinary, &viaHere, &betterTopo, false, false, P2},
		{"best elsewhere, this port hears worse", ordinary, &worse, &better, false, false, M3},
		{"best elsewhere, this port hears nothing", ordinary, nil, &better, false, false, M3},
	}
	for _, c := range cases {
		if got := StateDecision(Compare, &c.d0, c.erbest, c.ebest, c.here, c.listening); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestForeignQualification(t *testing.T) {
	var f Foreign
	now := time.Unix(1000, 0)
	win := 4 * time.Second
	a := &msg.Announce{Header: msg.Header{SourcePort: pid(2, 1)}}
	f.Add(a, now, win)
	if q := f.Qualified(now, win, msg.PortIdentity{}); len(q) != 0 {
		t.Fatal("one Announce must not qualify (threshold 2)")
	}
	if q := f.Qualified(now, win, a.SourcePort); len(q) != 1 {
		t.Fatal("the current parent qualifies on its latest Announce")
	}
	f.Add(a, now.Add(time.Second), win)
	if q := f.Qualified(now.Add(time.Second), win, msg.PortIdentity{}); len(q) != 1 {
		t.Fatal("two in the window qualify")
	}
	if q := f.Qualified(now.Add(4500*time.Millisecond), win, msg.PortIdentity{}); len(q) != 0 {
		t.Fatal("the first fell out of the window: one left, not qualified")
	}
	if q := f.Qualified(now.Add(10*time.Second), win, msg.PortIdentity{}); len(q) != 0 || f.Len() != 0 {
		t.Fatal("stale records are dropped")
	}
	self := id(2)
	if Acceptable(a, self, 0) {
		t.Fatal("an Announce from this clock is not qualified")
	}
	a.StepsRemoved = 255
	if Acceptable(a, id(3), 0) {
		t.Fatal("stepsRemoved 255 is not qualified")
	}
	a.StepsRemoved, a.Domain = 0, 4
	if Acceptable(a, id(3), 0) || !Acceptable(a, id(3), 4) {
		t.Fatal("domain")
	}
}

func TestBest(t *testing.T) {
	list := []Dataset{ds(128, 248, 128, 5), ds(100, 248, 128, 9), ds(128, 248, 128, 2)}
	if got := Best(Compare, list); got != 1 {
		t.Fatalf("best: %d", got)
	}
	if Best(Compare, nil) != -1 {
		t.Fatal("empty")
	}
}
