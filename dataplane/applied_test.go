package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// TestApplied: Applied finds a tunnel Set wrote, and not one that differs or was removed
// behind the writer's back, so a resync writes exactly what differs.
func TestApplied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("applied%d", os.Getpid()))
	PrepareRoot(dir) // a fresh machine may have no bpffs mounted yet
	tn, err := OpenTunnels(dir)
	if err != nil {
		t.Skipf("no bpffs at /sys/fs/bpf: %v", err)
	}
	t.Cleanup(func() { tn.Close(); os.RemoveAll(dir) })
	want := Tunnel{Kind: GRE, Local: netip.MustParseAddr("198.18.0.1"), Remote: netip.MustParseAddr("198.18.0.2"),
		DSCP: DSCPInherit, TTL: 64, ClampMSS: true, MSS4: 1436, MSS6: 1416, Hidden: 4242,
		VisibleMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, HiddenMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	if tn.Applied(want) {
		t.Fatal("applied before Set")
	}
	if err := tn.Set(want); err != nil {
		t.Fatal(err)
	}
	if !tn.Applied(want) {
		t.Fatal("not applied after Set")
	}
	moved := want
	moved.Remote = netip.MustParseAddr("198.18.0.3")
	if tn.Applied(moved) {
		t.Error("a changed remote counts as applied")
	}
	mss := want
	mss.MSS4 = 1400
	if tn.Applied(mss) {
		t.Error("a changed MSS counts as applied")
	}
	if err := tn.Delete(want.Hidden); err != nil {
		t.Fatal(err)
	}
	if tn.Applied(want) {
		t.Error("applied after the entry was removed")
	}
}
