package queue

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/routerd/routerd/control/controltest"
)

// TestProbeDeviceRefused: the sfq probe's throwaway IFB that the kernel refuses to
// remove is the pass's error and is not forgotten (issue 10: was a deferred LinkDel
// whose error was dropped, the answer kept, and the device left for good); sfq queue
// types stay applied, since the kernel did answer. The next pass removes the leftover
// before probing again, so the sfq it carries does not read as "no sfq" (EEXIST), and
// once the device is gone the answer is kept: a third pass probes nothing.
func TestProbeDeviceRefused(t *testing.T) {
	k := newFakeKernel()
	e, ex, h, ctx := onFakeKernel(t, k)
	k.Fail = map[string]error{"del rq-probe": unix.EBUSY}
	if err := e.Start(ctx, h); err != nil && !strings.Contains(err.Error(), "rq-probe") {
		t.Fatal(err)
	}
	controltest.Exec(t, ex, "/queue/type add name=sfq-x kind=sfq")
	k.Take()
	err := e.Reconcile(ctx)
	if err == nil || !strings.Contains(err.Error(), "removing the sfq probe device rq-probe: device or resource busy") {
		t.Fatalf("pass with the probe device refused: %v", err)
	}
	if got := k.Take(); !slices.Equal(got, replace(probe, "del rq-probe", "del rq-probe (failed)")) {
		t.Errorf("probe wrote %q", got)
	}
	controltest.WantStates(t, ex, TypePath, "name", map[string]string{"sfq-x": ""})
	k.Fail = nil
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := k.Take(), slices.Concat([]string{"del rq-probe"}, probe); !slices.Equal(got, want) {
		t.Errorf("second pass wrote %q, want %q", got, want)
	}
	controltest.WantStates(t, ex, TypePath, "name", map[string]string{"sfq-x": ""})
	if _, err := k.LinkByName("rq-probe"); err == nil {
		t.Error("rq-probe left behind")
	}
	if err := e.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got := k.Take(); len(got) > 0 {
		t.Errorf("third pass wrote %q", got)
	}
}
