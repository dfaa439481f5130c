package queue

import (
	"encoding/binary"
	"net/netip"
	"os"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/routerd/routerd/control/firewall"
)

// packet is an Ethernet + IPv4 header from src to dst (payload-less; the classifier reads
// only the addresses).
func packet(src, dst string) []byte {
	b := make([]byte, 14+20)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[9] = 0x45, 17
	binary.BigEndian.PutUint16(ip[2:], 20)
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	return b
}

// skbCtx is a struct __sk_buff with mark set (the test run copies it in).
func skbCtx(mark uint32) []byte {
	c := make([]byte, 192)
	binary.LittleEndian.PutUint32(c[skbMark:], mark)
	return c
}

// TestMarkProgram runs the packet-marks classifier with BPF_PROG_RUN: the mark of the
// firewall's mangle name and the addresses decide the match.
func TestMarkProgram(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (BPF)")
	}
	k := netlinkKernel{marks: firewall.NewMarks()}
	voip, bulk, video := k.markOf("voip"), k.markOf("bulk"), k.markOf("video")
	rules := []match{{dst: netip.MustParsePrefix("198.18.1.0/24")}, {src: netip.MustParsePrefix("198.18.7.7/32")}}
	prog, err := markProgram([]uint32{voip, video}, rules)
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	for _, tc := range []struct {
		mark     uint32
		src, dst string
		want     uint32
	}{
		{voip, "198.18.0.2", "198.18.1.2", 0xffffffff},
		{voip | 0x5<<20, "198.18.0.2", "198.18.1.2", 0xffffffff}, // routing mark bits ignored
		{bulk, "198.18.0.2", "198.18.1.2", 0},
		{0, "198.18.0.2", "198.18.1.2", 0},
		{voip, "198.18.0.2", "198.18.2.2", 0},
		{voip, "198.18.7.7", "198.18.2.2", 0xffffffff},
	} {
		ret, err := prog.Run(&ebpf.RunOptions{Data: packet(tc.src, tc.dst), Context: skbCtx(tc.mark)})
		if err != nil {
			t.Fatal(err)
		}
		if ret != tc.want {
			t.Errorf("mark %#x %s>%s: %#x; want %#x", tc.mark, tc.src, tc.dst, ret, tc.want)
		}
	}
	any, err := markProgram([]uint32{bulk}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer any.Close()
	if ret, _ := any.Run(&ebpf.RunOptions{Data: packet("1.1.1.1", "2.2.2.2"), Context: skbCtx(bulk)}); ret != 0xffffffff {
		t.Errorf("mark only: %#x", ret)
	}
}
