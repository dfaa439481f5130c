package clock

import (
	"testing"
	"time"
)

func TestVirtual(t *testing.T) {
	sys := int64(1_000_000_000_000)
	v := &Virtual{sys: func() int64 { return sys }, drift: 100_000} // 100 ppm fast
	v.baseSys, v.baseV = sys, sys+37_000_000
	if got := v.Offset(); got != 37_000_000 {
		t.Fatalf("initial offset %d", got)
	}
	sys += 1e9
	if got := v.Offset(); got != 37_000_000+100_000 {
		t.Fatalf("after 1 s at 100 ppm: %d", got)
	}
	v.AdjFreq(-100_000)
	sys += 1e9
	if got := v.Offset(); got != 37_100_000 {
		t.Fatalf("corrected frequency must hold the offset: %d", got)
	}
	v.Step(-37_100_000)
	if got := v.Offset(); got != 0 {
		t.Fatalf("after step: %d", got)
	}
	if got := v.FromSystem(sys + 1000); got != sys+1000 {
		t.Fatalf("FromSystem: %d", got)
	}
	if v.Freq() != -100_000 {
		t.Fatal("freq")
	}
}

func TestVirtualRealtime(t *testing.T) {
	v := NewVirtual(-5*time.Millisecond, 0)
	d := v.Now() - time.Now().UnixNano()
	if d > -4_000_000 || d < -6_000_000 {
		t.Fatalf("offset %d", d)
	}
}

func TestOpenPHC(t *testing.T) {
	// No PTP hardware clock here is the common case: the error says so.
	if _, err := OpenPHC(999); err == nil {
		t.Fatal("opened /dev/ptp999")
	}
}
