package steer

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

const (
	tcOK   = 0
	tcShot = 2
)

func loadOrSkip(t testing.TB) *Steer {
	t.Helper()
	s, err := load()
	if errors.Is(err, ErrNotSupported) {
		t.Skipf("no eBPF here (needs root): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// enabledOnLo loads the program with port ifindex 1 (lo) enabled: BPF_PROG_RUN without a
// context runs the skb on the loopback device.
func enabledOnLo(t testing.TB) *Steer {
	s := loadOrSkip(t)
	if err := s.Enable(1); err != nil {
		t.Fatal(err)
	}
	return s
}

// Packet builders.

func ptpMsg(typ byte) []byte {
	b := make([]byte, 44)
	b[0] = typ
	b[1] = 2 // versionPTP
	binary.BigEndian.PutUint16(b[2:], 44)
	return b
}

func ether(typ uint16, payload []byte) []byte {
	b := []byte{0x01, 0x1b, 0x19, 0, 0, 0, 2, 0, 0, 0, 0, 0xa, byte(typ >> 8), byte(typ)}
	return append(b, payload...)
}

// tag inserts an 802.1Q tag (vid) after the MAC addresses of frame.
func tag(tpid uint16, vid uint16, frame []byte) []byte {
	out := append([]byte{}, frame[:12]...)
	out = append(out, byte(tpid>>8), byte(tpid), byte(vid>>8), byte(vid))
	return append(out, frame[12:]...)
}

func udp4(dst [4]byte, dport uint16, payload []byte) []byte {
	ip := make([]byte, 28, 28+len(payload))
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(28+len(payload)))
	ip[8] = 1
	ip[9] = 17
	copy(ip[12:], []byte{198, 18, 0, 1})
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[20:], dport)
	binary.BigEndian.PutUint16(ip[22:], dport)
	binary.BigEndian.PutUint16(ip[24:], uint16(8+len(payload)))
	return ether(0x0800, append(ip, payload...))
}

var (
	primary = [4]byte{224, 0, 1, 129}
	pdelay  = [4]byte{224, 0, 0, 107}
)

func run(t testing.TB, p *ebpf.Program, pkt []byte) uint32 {
	t.Helper()
	ret, err := p.Run(&ebpf.RunOptions{Data: pkt})
	if err != nil {
		t.Fatal(err)
	}
	return ret
}

func TestVerdicts(t *testing.T) {
	s := enabledOnLo(t)
	sync, announce, followUp, pdreq := ptpMsg(0x0), ptpMsg(0xB), ptpMsg(0x8), ptpMsg(0x2)
	frag := udp4(primary, 319, sync)
	frag[14+6] = 0x20 // MF
	cases := []struct {
		name string
		pkt  []byte
		want uint32
		// expected counter increments
		event, general, tagged, udp uint64
	}{
		{"l2 sync", ether(0x88F7, sync), tcShot, 1, 0, 0, 0},
		{"l2 announce", ether(0x88F7, announce), tcShot, 0, 1, 0, 0},
		{"l2 pdelay_req", ether(0x88F7, pdreq), tcShot, 1, 0, 0, 0},
		{"udp4 sync", udp4(primary, 319, sync), tcShot, 1, 0, 0, 1},
		{"udp4 follow_up", udp4(primary, 320, followUp), tcShot, 0, 1, 0, 1},
		{"udp4 pdelay", udp4(pdelay, 319, pdreq), tcShot, 1, 0, 0, 1},
		{"802.1Q l2 sync", tag(0x8100, 10, ether(0x88F7, sync)), tcShot, 1, 0, 1, 0},
		{"802.1ad udp4 announce", tag(0x88A8, 20, udp4(primary, 320, announce)), tcShot, 0, 1, 1, 1},
		{"udp4 319 unicast", udp4([4]byte{198, 18, 0, 2}, 319, sync), tcOK, 0, 0, 0, 0},
		{"udp4 other port", udp4(primary, 1234, sync), tcOK, 0, 0, 0, 0},
		{"udp4 fragment", frag, tcOK, 0, 0, 0, 0},
		{"arp", ether(0x0806, make([]byte, 28)), tcOK, 0, 0, 0, 0},
		{"ipv6", ether(0x86DD, make([]byte, 60)), tcOK, 0, 0, 0, 0},
		{"two tags", tag(0x88A8, 1, tag(0x8100, 2, ether(0x88F7, sync))), tcOK, 0, 0, 0, 0},
		{"truncated ptp", ether(0x88F7, nil), tcOK, 0, 0, 0, 0},
		{"truncated udp", udp4(primary, 319, nil)[:14+24], tcOK, 0, 0, 0, 0},
	}
	for _, c := range cases {
		before, err := s.Stats(1)
		if err != nil {
			t.Fatal(err)
		}
		if got := run(t, s.Program(), c.pkt); got != c.want {
			t.Errorf("%s: verdict %d, want %d", c.name, got, c.want)
		}
		after, _ := s.Stats(1)
		d := Stats{after.Event - before.Event, after.General - before.General, after.Tagged - before.Tagged, after.UDP - before.UDP}
		if d != (Stats{c.event, c.general, c.tagged, c.udp}) {
			t.Errorf("%s: counters moved by %+v", c.name, d)
		}
	}
}

func TestPortNotEnabledPasses(t *testing.T) {
	s := loadOrSkip(t)
	if got := run(t, s.Program(), ether(0x88F7, ptpMsg(0))); got != tcOK {
		t.Fatalf("verdict %d on a port without an entry", got)
	}
	if _, err := s.Stats(1); err == nil {
		t.Fatal("counters for a port that was never enabled")
	}
}

// isPTP is the reference classifier the fuzz target holds the program to.
func isPTP(f []byte) bool {
	if len(f) < 14 {
		return false
	}
	typ, off := binary.BigEndian.Uint16(f[12:]), 14
	if typ == 0x8100 || typ == 0x88A8 {
		if len(f) < 18 {
			return false
		}
		typ, off = binary.BigEndian.Uint16(f[16:]), 18
	}
	switch typ {
	case 0x88F7:
		return len(f) > off
	case 0x0800:
		ip := f[off:]
		if len(ip) < 20 || ip[0]>>4 != 4 || ip[0]&0xF < 5 || ip[9] != 17 {
			return false
		}
		if d := [4]byte(ip[16:20]); d != primary && d != pdelay {
			return false
		}
		if binary.BigEndian.Uint16(ip[6:])&0x3FFF != 0 {
			return false
		}
		if len(ip) < int(ip[0]&0xF)*4 {
			return false
		}
		u := ip[int(ip[0]&0xF)*4:]
		if len(u) < 9 {
			return false
		}
		p := binary.BigEndian.Uint16(u[2:])
		return p == 319 || p == 320
	}
	return false
}

func FuzzSteer(f *testing.F) {
	s := enabledOnLo(f)
	for _, seed := range [][]byte{ether(0x88F7, ptpMsg(0)), udp4(primary, 319, ptpMsg(0)), tag(0x8100, 1, udp4(pdelay, 320, ptpMsg(0xB))),
		udp4(primary, 53, nil), ether(0x0806, make([]byte, 28))} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) < 14 {
			return // BPF_PROG_RUN refuses runts
		}
		want := uint32(tcOK)
		if isPTP(pkt) {
			want = tcShot
		}
		got, err := s.Program().Run(&ebpf.RunOptions{Data: pkt})
		if errors.Is(err, unix.EINVAL) {
			return // BPF_PROG_RUN refuses an IPv4/IPv6 frame too short for its header
		}
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("verdict %d, reference %d for % x", got, want, pkt)
		}
	})
}

// BenchmarkSteer is the cost a bridged frame pays: a non-PTP frame on a steered port,
// beside the early exit on a port without an entry (the baseline) and a PTP frame.
func BenchmarkSteer(b *testing.B) {
	s := enabledOnLo(b)
	other := loadOrSkip(b)
	for _, c := range []struct {
		name string
		s    *Steer
		pkt  []byte
	}{
		{"port-not-steered", other, udp4(primary, 319, ptpMsg(0))},
		{"non-ptp", s, udp4([4]byte{198, 18, 0, 2}, 5000, make([]byte, 64))},
		{"ptp-udp4", s, udp4(primary, 319, ptpMsg(0))},
		{"ptp-l2-tagged", s, tag(0x8100, 10, ether(0x88F7, ptpMsg(0)))},
	} {
		b.Run(c.name, func(b *testing.B) {
			// The kernel times the repeats itself: ns/pkt is the program's cost per frame.
			const repeat = 10000
			var total time.Duration
			for b.Loop() {
				_, d, err := c.s.Program().Benchmark(c.pkt, repeat, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += d
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/pkt")
		})
	}
}
