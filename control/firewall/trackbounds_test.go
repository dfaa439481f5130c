package firewall

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/routerd/routerd/control/store"
)

// TestTrackingTimeoutBounds: connection tracking timeouts take 1s up to what the kernel
// takes, and the refusal says so in RouterOS's notation. Before, 0s was accepted and
// written (every NATed TCP connection died at once), and the range read
// "0s..1w6d44m59s906ms842us624ns". A 0s stored before is not written to the kernel.
func TestTrackingTimeoutBounds(t *testing.T) {
	tp := newTopo(t)
	r := newRig(t, tp)
	for _, bad := range []string{"tcp-established-timeout=0s", "udp-timeout=500ms", "icmp-timeout=4w"} {
		_, err := r.try(`/ip firewall connection tracking set ` + bad)
		name, _, _ := strings.Cut(bad, "=")
		want := "value of " + name + " out of range (1s..3w3d20h31m23s)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("set %s: %v, want %q", bad, err, want)
		}
	}
	r.run(t, `/ip firewall connection tracking set udp-timeout=1s tcp-established-timeout=3w3d20h31m23s icmp-timeout=7s`)
	dir := t.TempDir()
	if err := r.e.applyTracking(dir); err != nil {
		t.Fatal(err)
	}
	if items, _ := r.ex.Items(TrackingPath); len(items) > 0 {
		if st, _ := r.ex.State.Get(TrackingPath, items[0].ID); st.Invalid {
			t.Errorf("tracking item applied: %+v", st)
		}
	}
	// icmp-timeout governs ICMPv6 too (RouterOS has no IPv6 tracking menu of its own).
	for k, want := range map[string]string{"nf_conntrack_udp_timeout": "1", "nf_conntrack_tcp_timeout_established": "2147483",
		"nf_conntrack_icmp_timeout": "7", "nf_conntrack_icmpv6_timeout": "7"} {
		if b, _ := os.ReadFile(filepath.Join(dir, k)); string(b) != want {
			t.Errorf("%s = %s, want %s", k, b, want)
		}
	}
	// A value stored before the bounds: not written, said, the others still written.
	err := r.ex.Store.Update(func(tx *store.Tx) error {
		items, err := tx.List(TrackingPath)
		if err != nil || len(items) == 0 {
			t.Fatalf("tracking item: %v %v", items, err)
		}
		it := items[0]
		it.Props["tcp-established-timeout"] = "0s"
		it.Props["udp-timeout"] = "7s"
		return tx.Put(TrackingPath, it, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = r.e.applyTracking(dir)
	if err == nil || !strings.Contains(err.Error(), "tcp-established-timeout=0s out of range") {
		t.Errorf("a stored 0s: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "nf_conntrack_tcp_timeout_established")); string(b) != "2147483" {
		t.Errorf("a stored 0s was written: %s", b)
	}
	// The settings' item says so (issue 10: the pass only logged it).
	items, _ := r.ex.Items(TrackingPath)
	if st, _ := r.ex.State.Get(TrackingPath, items[0].ID); !st.Invalid || !strings.Contains(st.Status, "tcp-established-timeout=0s out of range") {
		t.Errorf("tracking item with a stored 0s: %+v", st)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "nf_conntrack_udp_timeout")); string(b) != "7" {
		t.Errorf("udp-timeout beside a stored 0s = %s, want 7", b)
	}
}
