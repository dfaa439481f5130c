package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"golang.zx2c4.com/wireguard/tun"
)

// sum16 is the Internet checksum's one's-complement sum, 16 bits at a time (the
// straightforward RFC 1071 loop, independent of csumAdd).
func sum16(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return sum
}

func v4hdr(proto byte, src, dst [4]byte, id uint16, payload []byte) []byte {
	b := make([]byte, 20, 20+len(payload))
	b[0], b[8], b[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(b[2:], uint16(min(20+len(payload), 0xffff)))
	binary.BigEndian.PutUint16(b[4:], id)
	b[6] = 0x40
	copy(b[12:], src[:])
	copy(b[16:], dst[:])
	binary.BigEndian.PutUint16(b[10:], ^uint16(sum16(0, b)))
	return append(b, payload...)
}

func v6hdr(nh byte, payload []byte) []byte {
	b := make([]byte, 40, 40+len(payload))
	b[0], b[6], b[7] = 0x60, nh, 64
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	copy(b[8:], []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	copy(b[24:], []byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2})
	return append(b, payload...)
}

// tcpSeg is a TCP header (PSH|ACK|FIN as given, a timestamp option) and payload.
func tcpSeg(seq uint32, flags byte, payload []byte) []byte {
	b := make([]byte, 32, 32+len(payload))
	binary.BigEndian.PutUint16(b[0:], 40000)
	binary.BigEndian.PutUint16(b[2:], 5201)
	binary.BigEndian.PutUint32(b[4:], seq)
	b[12], b[13] = 8<<4, flags
	binary.BigEndian.PutUint16(b[14:], 512)
	copy(b[20:], []byte{1, 1, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8})
	return append(b, payload...)
}

func udpSeg(payload []byte) []byte {
	b := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(b[0:], 4500)
	binary.BigEndian.PutUint16(b[2:], 4501)
	return append(b, payload...)
}

func vnet(typ byte, gsoSize, csumStart, csumOff int, pkt []byte) []byte {
	h := make([]byte, vnetHdrLen)
	h[0], h[1] = vnetNeedsCsum, typ
	binary.NativeEndian.PutUint16(h[4:], uint16(gsoSize))
	binary.NativeEndian.PutUint16(h[6:], uint16(csumStart))
	binary.NativeEndian.PutUint16(h[8:], uint16(csumOff))
	return append(h, pkt...)
}

func payloadOf(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>8)
	}
	return p
}

func splitBufs(n int) ([][]byte, []int) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, headroom+maxTunMTU+256)
	}
	return bufs, make([]int, n)
}

// checkSegments verifies every segment as a receiver would: each IP header's length
// (and IPv4 checksum) against the segment, the transport checksum over the innermost
// pseudo-header, and returns the transport payloads in order and the TCP flags.
func checkSegments(t testing.TB, segs [][]byte) (payload []byte, flags []byte, seqs []uint32) {
	t.Helper()
	for i, s := range segs {
		h, err := parseGSOHeaders(s)
		if err != nil {
			t.Fatalf("segment %d: %v (% x)", i, err, s[:min(len(s), 80)])
		}
		for j := 0; j < h.n; j++ {
			o := h.ip[j]
			if h.v6[j] {
				if got := int(binary.BigEndian.Uint16(s[o+4:])); got != len(s)-o-40 {
					t.Errorf("segment %d header %d: IPv6 payload length %d, want %d", i, j, got, len(s)-o-40)
				}
				continue
			}
			if got := int(binary.BigEndian.Uint16(s[o+2:])); got != len(s)-o {
				t.Errorf("segment %d header %d: IPv4 total length %d, want %d", i, j, got, len(s)-o)
			}
			if sum16(0, s[o:o+20]) != 0xffff {
				t.Errorf("segment %d header %d: IPv4 header checksum wrong", i, j)
			}
		}
		in := s[h.ip[h.n-1]:]
		l4 := s[h.l4:]
		var ps uint32
		if h.v6[h.n-1] {
			ps = sum16(0, in[8:40])
		} else {
			ps = sum16(0, in[12:20])
		}
		ps = sum16(ps+uint32(h.proto)+uint32(len(l4)), nil)
		if sum16(ps, l4) != 0xffff {
			t.Errorf("segment %d: transport checksum wrong", i)
		}
		if h.proto == 6 {
			thl := int(l4[12]>>4) * 4
			payload = append(payload, l4[thl:]...)
			flags = append(flags, l4[13])
			seqs = append(seqs, binary.BigEndian.Uint32(l4[4:]))
		} else {
			if int(binary.BigEndian.Uint16(l4[4:])) != len(l4) {
				t.Errorf("segment %d: UDP length %d, want %d", i, binary.BigEndian.Uint16(l4[4:]), len(l4))
			}
			payload = append(payload, l4[8:]...)
		}
	}
	return payload, flags, seqs
}

// TestSplitVirtio: what the TUN gives is split into the packets the kernel's GSO would
// have made: plain TCP over IPv4 and IPv6 (as the library split them, which this
// replaces), a protected GRE tunnel's whole packet (outer IPv4 and GRE in front of inner
// IPv4 or IPv6: the case the library's split gets wrong), IP-in-IP, UDP GSO, and
// unsegmented packets, whose partial checksum is completed.
func TestSplitVirtio(t *testing.T) {
	a, b := [4]byte{198, 18, 63, 1}, [4]byte{198, 18, 63, 2}
	la, lb := [4]byte{198, 19, 221, 1}, [4]byte{198, 19, 221, 2}
	const mss = 1388
	data := payloadOf(45*mss + 123)
	tcp := tcpSeg(1000, 0x18|0x01, data) // PSH|ACK|FIN
	for _, tc := range []struct {
		name string
		typ  byte
		pkt  []byte
	}{
		{"tcp4", vnetGSOTCPv4, v4hdr(6, la, lb, 7, tcp)},
		{"tcp6", vnetGSOTCPv6, v6hdr(6, tcp)},
		{"gre tcp4", vnetGSOTCPv4, v4hdr(47, a, b, 0, append([]byte{0, 0, 8, 0}, v4hdr(6, la, lb, 300, tcp)...))},
		{"gre tcp6", vnetGSOTCPv6, v4hdr(47, a, b, 0, append([]byte{0, 0, 0x86, 0xdd}, v6hdr(6, tcp)...))},
		{"ipip tcp4", vnetGSOTCPv4, v4hdr(4, a, b, 9, v4hdr(6, la, lb, 65530, tcp))},
		{"6to4 tcp6", vnetGSOTCPv6, v4hdr(41, a, b, 9, v6hdr(6, tcp))},
		{"udp4", vnetGSOUDPL4, v4hdr(17, la, lb, 1, udpSeg(data))},
		{"gre udp4", vnetGSOUDPL4, v4hdr(47, a, b, 0, append([]byte{0, 0, 8, 0}, v4hdr(17, la, lb, 1, udpSeg(data))...))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := parseGSOHeaders(tc.pkt)
			if err != nil {
				t.Fatal(err)
			}
			off := 16 // TCP checksum
			if h.proto == 17 {
				off = 6
			}
			in := vnet(tc.typ, mss, h.l4, off, tc.pkt)
			bufs, sizes := splitBufs(128)
			n, err := splitVirtio(in, bufs, sizes, headroom)
			if err != nil {
				t.Fatal(err)
			}
			if want := (len(data) + mss - 1) / mss; n != want {
				t.Fatalf("%d segments, want %d", n, want)
			}
			segs := make([][]byte, n)
			for i := range segs {
				segs[i] = bufs[i][headroom : headroom+sizes[i]]
			}
			got, flags, seqs := checkSegments(t, segs)
			if !bytes.Equal(got, data) {
				t.Errorf("payloads joined differ from the original (%d bytes, want %d)", len(got), len(data))
			}
			for i := range flags {
				last := i == len(flags)-1
				if (flags[i]&0x09 != 0) != last || flags[i]&0x10 == 0 {
					t.Errorf("segment %d flags %#x", i, flags[i])
				}
				if seqs[i] != 1000+uint32(i*mss) {
					t.Errorf("segment %d seq %d, want %d", i, seqs[i], 1000+i*mss)
				}
			}
			// IPv4 IDs: one more per segment in every IPv4 header, as the kernel's GSO.
			for j := 0; j < h.n; j++ {
				if h.v6[j] {
					continue
				}
				id0 := binary.BigEndian.Uint16(tc.pkt[h.ip[j]+4:])
				for i, s := range segs {
					if id := binary.BigEndian.Uint16(s[h.ip[j]+4:]); id != id0+uint16(i) {
						t.Errorf("segment %d header %d: id %d, want %d", i, j, id, id0+uint16(i))
					}
				}
			}
		})
	}

	t.Run("no gso, partial checksum", func(t *testing.T) {
		pkt := v4hdr(47, a, b, 0, append([]byte{0, 0, 8, 0}, v4hdr(6, la, lb, 3, tcpSeg(5, 0x10, payloadOf(100)))...))
		h, _ := parseGSOHeaders(pkt)
		inner := pkt[h.ip[1]:]
		l4len := len(pkt) - h.l4
		ps := sum16(sum16(0, inner[12:20])+6+uint32(l4len), nil)
		binary.BigEndian.PutUint16(pkt[h.l4+16:], uint16(ps)) // what the kernel leaves there
		in := vnet(vnetGSONone, 0, h.l4, 16, pkt)
		bufs, sizes := splitBufs(4)
		n, err := splitVirtio(in, bufs, sizes, headroom)
		if err != nil || n != 1 {
			t.Fatalf("%d, %v", n, err)
		}
		checkSegments(t, [][]byte{bufs[0][headroom : headroom+sizes[0]]})
	})

	t.Run("refused", func(t *testing.T) {
		gre := func(flags uint16) []byte {
			return v4hdr(47, a, b, 0, append([]byte{byte(flags >> 8), byte(flags), 8, 0}, v4hdr(6, la, lb, 0, tcp)...))
		}
		good := gre(0)
		for _, tc := range []struct {
			name string
			in   []byte
			want error
		}{
			{"gre with key", vnet(vnetGSOTCPv4, mss, 44, 16, gre(0x2000)), errVirtio},
			{"checksum start elsewhere", vnet(vnetGSOTCPv4, mss, 20, 16, good), errVirtio},
			{"udp type on tcp", vnet(vnetGSOUDPL4, mss, 44, 16, good), errVirtio},
			{"ecn", vnet(vnetGSOTCPv4|0x80, mss, 44, 16, good), errVirtio},
			{"gso size 0", vnet(vnetGSOTCPv4, 0, 44, 16, good), errVirtio},
			{"truncated", vnet(vnetGSOTCPv4, mss, 44, 16, good[:50]), errVirtio},
			{"too many segments", vnet(vnetGSOTCPv4, 100, 44, 16, good), tun.ErrTooManySegments},
		} {
			bufs, sizes := splitBufs(128)
			if _, err := splitVirtio(tc.in, bufs, sizes, headroom); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
	})
}

// FuzzSplitVirtio: any read from the TUN (virtio-net header and packet) splits without
// a panic, and whatever it returns are packets whose IP lengths, IPv4 header checksums
// and transport checksum verify.
func FuzzSplitVirtio(f *testing.F) {
	a, b := [4]byte{198, 18, 63, 1}, [4]byte{198, 18, 63, 2}
	tcp := tcpSeg(1, 0x18, payloadOf(3000))
	f.Add(vnet(vnetGSOTCPv4, 1000, 44, 16, v4hdr(47, a, b, 0, append([]byte{0, 0, 8, 0}, v4hdr(6, a, b, 0, tcp)...))))
	f.Add(vnet(vnetGSOTCPv6, 1000, 40, 16, v6hdr(6, tcp)))
	f.Add(vnet(vnetGSOUDPL4, 700, 20, 6, v4hdr(17, a, b, 0, udpSeg(payloadOf(2000)))))
	f.Add(vnet(vnetGSOTCPv4, 1000, 40, 16, v4hdr(4, a, b, 0, v4hdr(6, a, b, 0, tcp))))
	f.Add(vnet(vnetGSONone, 0, 20, 16, v4hdr(6, a, b, 0, tcp)))
	bufs, sizes := splitBufs(64) // each worker runs its inputs one at a time
	f.Fuzz(func(t *testing.T, in []byte) {
		n, err := splitVirtio(in, bufs, sizes, headroom)
		if err != nil || len(in) < vnetHdrLen || in[1] == vnetGSONone {
			return
		}
		segs := make([][]byte, n)
		for i := range segs {
			segs[i] = bufs[i][headroom : headroom+sizes[i]]
		}
		checkSegments(t, segs)
	})
}

// BenchmarkSplitVirtio: one 64 KB protected-GRE read split into 1388-byte segments.
func BenchmarkSplitVirtio(b *testing.B) {
	a, c := [4]byte{198, 18, 63, 1}, [4]byte{198, 18, 63, 2}
	tcp := tcpSeg(1, 0x18, payloadOf(46*1388))
	in := vnet(vnetGSOTCPv4, 1388, 44, 16, v4hdr(47, a, c, 0, append([]byte{0, 0, 8, 0}, v4hdr(6, a, c, 0, tcp)...)))
	bufs, sizes := splitBufs(128)
	b.SetBytes(int64(len(in)))
	for i := 0; i < b.N; i++ {
		if _, err := splitVirtio(in, bufs, sizes, headroom); err != nil {
			b.Fatal(fmt.Sprint(err))
		}
	}
}
