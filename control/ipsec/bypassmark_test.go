package ipsec

import (
	"testing"

	"github.com/routerd/routerd/control/firewall"
	"github.com/routerd/routerd/control/routing"
	"github.com/routerd/routerd/ike/esp"
)

// TestBypassMarkReserved: the ESP path's bypass mark is the routing field's reserved
// value, which no routing table, packet mark or bridge-port class can produce, so a
// firewall mark-packet or the bridge's port class never removes it from (or adds it to)
// a packet.
func TestBypassMarkReserved(t *testing.T) {
	m := esp.DefaultConfig().BypassMark
	if m != routing.ReservedMark {
		t.Fatalf("bypass mark %#x, want routing.ReservedMark %#x", m, routing.ReservedMark)
	}
	if m&(firewall.PacketMarkMask|firewall.BridgePortMarkMask) != 0 {
		t.Fatalf("bypass mark %#x overlaps packet-mark or bridge-port bits", m)
	}
}
