package engine

import (
	"context"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
)

// TestDetachRefused: a bridge port whose steering cannot be removed when its instance
// stops (the pin or the port's map entry stays, so its PTP is still kept from the
// bridge) fails the pass with the reason and is tried again every pass until it goes
// (issue 10: Detach returned nothing and its errors were dropped). A port steered again
// meanwhile is not detached.
func TestDetachRefused(t *testing.T) {
	r := newPlanRig(t, Options{Clock: ClockSystem})
	r.s.bridged["ether2"] = true
	r.s.detachErr = map[string]error{"ether2": unix.EBUSY}
	controltest.Exec(t, r.ex, "/system/ptp add name=ptp1")
	controltest.Exec(t, r.ex, "/system/ptp/port add interface=ether1 ptp=ptp1")
	controltest.Exec(t, r.ex, "/system/ptp/port add interface=ether2 ptp=ptp1")
	r.pass(t)
	controltest.Exec(t, r.ex, "/system/ptp disable ptp1")
	ctx := context.Background()
	for i := range 2 {
		err := r.e.Reconcile(ctx)
		if err == nil || !strings.Contains(err.Error(), "PTP still kept from the bridge on ether2: device or resource busy") {
			t.Fatalf("pass %d with the detach refused: %v", i, err)
		}
		want := []string{"unsteer ether2"}
		if i == 0 {
			want = []string{"stop ptp1", "unsteer ether2"}
		}
		if got := r.s.take(); !slices.Equal(got, want) {
			t.Errorf("pass %d: %q, want %q", i, got, want)
		}
	}
	r.s.mu.Lock()
	r.s.detachErr = nil
	r.s.mu.Unlock()
	if got, want := r.pass(t), []string{"unsteer ether2"}; !slices.Equal(got, want) {
		t.Errorf("pass with the detach taken: %q, want %q", got, want)
	}
	if got := r.pass(t); len(got) > 0 {
		t.Errorf("pass after: %q", got)
	}
	// Refused again, then the profile comes back: the port is steered, not detached.
	r.s.mu.Lock()
	r.s.detachErr = map[string]error{"ether2": unix.EBUSY}
	r.s.mu.Unlock()
	controltest.Exec(t, r.ex, "/system/ptp enable ptp1")
	r.pass(t)
	controltest.Exec(t, r.ex, "/system/ptp disable ptp1")
	if err := r.e.Reconcile(ctx); err == nil {
		t.Fatal("detach refused: no error")
	}
	r.s.take()
	controltest.Exec(t, r.ex, "/system/ptp enable ptp1")
	if got, want := r.pass(t), []string{"start ptp1 default ports=ether1,ether2 clock=system hw=false", "steer ether2"}; !slices.Equal(got, want) {
		t.Errorf("profile back: %q, want %q", got, want)
	}
}
