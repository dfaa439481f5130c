package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/routerd/routerd/dataplane"
)

// XDP verdicts.
const (
	kaXDPDrop = 1
	kaXDPTX   = 3
)

// kaEnd is one end of a tunnel as its own routerd's dataplane sees it.
func kaEnd(t *testing.T, name string, tn dataplane.Tunnel) *dataplane.Tunnels {
	t.Helper()
	dir := filepath.Join("/sys/fs/bpf", fmt.Sprintf("tunka%d-%s", os.Getpid(), name))
	dataplane.PrepareRoot(dir) // a fresh machine may have no bpffs mounted yet
	t.Cleanup(func() { os.RemoveAll(dir) })
	tp, err := dataplane.OpenTunnels(dir)
	if errors.Is(err, dataplane.ErrNotSupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tp.Close() })
	tn.Hidden = 1
	tn.VisibleMAC, tn.HiddenMAC = []byte{2, 0, 0, 0, 1, 1}, []byte{2, 0, 0, 0, 1, 2}
	if err := tp.Set(tn); err != nil {
		t.Fatal(err)
	}
	return tp
}

func kaRun(t *testing.T, tp *dataplane.Tunnels, ipPkt []byte) (uint32, []byte) {
	t.Helper()
	_, decap, _ := tp.Programs()
	frame := append([]byte{2, 0, 0, 0, 0, 0xa, 2, 0, 0, 0, 0, 0xb, 0x08, 0x00}, ipPkt...)
	out := make([]byte, len(frame)+64)
	ret, err := decap.Run(&ebpf.RunOptions{Data: frame, DataOut: out})
	if err != nil {
		t.Fatal(err)
	}
	return ret, out
}

// TestKeepaliveRoundTrip: the keepalive one end sends (keepalivePacket) is turned around
// by the other end's decapsulator and counted as an answer by the sender's, for every
// tunnel type that reflects; EoIP's announcement is counted by the receiver.
func TestKeepaliveRoundTrip(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to load BPF programs")
	}
	a, b := netip.MustParseAddr("198.18.5.1"), netip.MustParseAddr("198.18.5.2")
	for _, tc := range []struct {
		name string
		kind dataplane.Kind
	}{{"gre", dataplane.GRE}, {"ipip", dataplane.IPIP}, {"6to4", dataplane.SixToFour}, {"eoip", dataplane.EoIP}} {
		kind := tc.kind
		t.Run(tc.name, func(t *testing.T) {
			ea := kaEnd(t, fmt.Sprintf("a%d", kind), dataplane.Tunnel{Kind: kind, Local: a, Remote: b, TunnelID: 9})
			eb := kaEnd(t, fmt.Sprintf("b%d", kind), dataplane.Tunnel{Kind: kind, Local: b, Remote: a, TunnelID: 9})
			pkt := keepalivePacket(kind, a, b, 9)
			if pkt == nil {
				t.Fatal("no keepalive")
			}
			if ipChecksum(pkt[:20]) != 0 {
				t.Errorf("outer IPv4 checksum wrong")
			}
			ret, out := kaRun(t, eb, pkt)
			if kind == dataplane.EoIP {
				if st, _ := eb.Stats(1); ret != kaXDPDrop || st.KeepaliveRx != 1 {
					t.Fatalf("EoIP keepalive at the peer: verdict %d, stats %+v", ret, st)
				}
				return
			}
			if st, _ := eb.Stats(1); ret != kaXDPTX || st.KeepaliveReflected != 1 {
				t.Fatalf("at the peer: verdict %d (want XDP_TX), stats %+v", ret, st)
			}
			// What the peer sent back arrives at the sender.
			back := out[14:]
			tot := int(back[2])<<8 | int(back[3])
			if ret, _ := kaRun(t, ea, back[:tot]); ret != kaXDPDrop {
				t.Fatalf("answer at the sender: verdict %d, want drop", ret)
			}
			if st, _ := ea.Stats(1); st.KeepaliveRx != 1 {
				t.Errorf("answer not counted: %+v", st)
			}
		})
	}
}
