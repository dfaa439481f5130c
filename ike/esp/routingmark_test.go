package esp

import (
	"strconv"
	"strings"
	"testing"
)

// TestRoutingMarkKeepsOuterOut: the operator's firewall gives every packet the router
// sends a routing mark (a mangle output mark-routing, as the reference's "Using
// different routing table" example does for IKE and ESP), which replaces the bypass mark
// the outer sockets set. Raw ESP and ESP-in-UDP must still never be routed into the ESP
// device (in transport mode table 220 routes the peer itself there: they looped at tens
// of thousands of packets a second), but follow the mark's table: the ping across the
// transport SA works and the device carries only the pings.
func TestRoutingMarkKeepsOuterOut(t *testing.T) {
	for _, udp := range []bool{false, true} {
		r := newRig(t)
		a, b := startNode(t, r.a), startNode(t, r.b)
		install(t, a, b, pairOpts{enc: "aes-128-gcm", mode: ModeTransport, udp: udp})
		for _, ns := range []string{r.a, r.b} {
			// Routing field 0x001 (a /routing table's mark) on everything sent, and that
			// table (10001) with the route to the peer, as control/routing sets them up.
			run(t, "ip", "netns", "exec", ns, "nft", "add table ip mk")
			run(t, "ip", "netns", "exec", ns, "nft", "add chain ip mk out { type route hook output priority -150 ; }")
			run(t, "ip", "netns", "exec", ns, "nft", "add rule ip mk out meta mark set meta mark and 0x000fffff or 0x00100000")
			run(t, "ip", "-n", ns, "rule", "add", "prio", "2000", "fwmark", "0x100000/0xfff00000", "lookup", "10001")
			run(t, "ip", "-n", ns, "route", "add", "198.18.0.0/24", "dev", "eth0", "table", "10001")
		}
		pingOK(t, r.a, "198.18.0.2")
		out := run(t, "ip", "-n", r.a, "-s", "-o", "link", "show", "ipsec0")
		if tx := txPackets(out); tx > 20 {
			t.Fatalf("udp=%v: %d packets into the ESP device for 3 pings: outer packets loop\n%s", udp, tx, out)
		}
	}
}

// txPackets reads the TX packet count of `ip -s -o link show`.
func txPackets(out string) int {
	_, after, ok := strings.Cut(out, "TX:")
	if !ok {
		return -1
	}
	// "TX:  bytes packets errors ...\    <bytes> <packets> ..."
	_, nums, _ := strings.Cut(after, "\\")
	fs := strings.Fields(nums)
	if len(fs) < 2 {
		return -1
	}
	n, _ := strconv.Atoi(fs[1])
	return n
}
