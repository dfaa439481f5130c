package esp

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// udpDatagram4 is an IPv4 UDP datagram from 198.18.0.1 to 198.18.0.2 with n bytes of
// data, its UDP length and checksum right.
func udpDatagram4(n int, id uint16) []byte {
	p := make([]byte, 28+n)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	binary.BigEndian.PutUint16(p[4:], id)
	p[8], p[9] = 64, 17
	copy(p[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(p[10:], ipChecksum(p[:20]))
	binary.BigEndian.PutUint16(p[20:], 1111)
	binary.BigEndian.PutUint16(p[22:], 2222)
	binary.BigEndian.PutUint16(p[24:], uint16(8+n))
	for i := range n {
		p[28+i] = byte(i * 7)
	}
	fixL4Checksum(p)
	return p
}

// fragment4 cuts an IPv4 datagram into fragments of at most size data bytes (a
// multiple of 8), as the kernel does.
func fragment4(p []byte, size int) [][]byte {
	var out [][]byte
	data := p[20:]
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		f := make([]byte, 20+end-off)
		copy(f, p[:20])
		copy(f[20:], data[off:end])
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		fo := uint16(off / 8)
		if end < len(data) {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(f[6:], fo)
		f[10], f[11] = 0, 0
		binary.BigEndian.PutUint16(f[10:], ipChecksum(f[:20]))
		out = append(out, f)
	}
	return out
}

// fragment6 cuts an IPv6 datagram (40-byte header, no extension header) into fragments
// of at most size data bytes.
func fragment6(p []byte, size int, id uint32) [][]byte {
	var out [][]byte
	data := p[40:]
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		f := make([]byte, 48+end-off)
		copy(f, p[:40])
		f[6] = 44
		binary.BigEndian.PutUint16(f[4:], uint16(8+end-off))
		f[40] = p[6]
		fo := uint16(off)
		if end < len(data) {
			fo |= 1
		}
		binary.BigEndian.PutUint16(f[42:], fo)
		binary.BigEndian.PutUint32(f[44:], id)
		copy(f[48:], data[off:end])
		out = append(out, f)
	}
	return out
}

func addAll(t *testing.T, r *reasm, frags [][]byte, now time.Time) (whole []byte, res reasmResult) {
	t.Helper()
	for i, fb := range frags {
		f, ok := parseFragment(fb)
		if !ok {
			t.Fatalf("fragment %d not taken for one", i)
		}
		var buf []byte
		buf, res, _ = r.add(&f, now)
		if res == reasmWhole {
			if i != len(frags)-1 {
				t.Fatalf("whole after %d of %d fragments", i+1, len(frags))
			}
			whole = buf[headroom:]
		}
	}
	return whole, res
}

func TestReasm(t *testing.T) {
	now := time.Now()
	d := udpDatagram4(4000, 77)
	frags := fragment4(d, 1424)
	var r reasm
	whole, res := addAll(t, &r, frags, now)
	if res != reasmWhole || !bytes.Equal(whole, d) {
		t.Fatalf("in order: %v, %d bytes, equal %v", res, len(whole), bytes.Equal(whole, d))
	}
	if len(r.m) != 0 || r.bytes != 0 {
		t.Fatalf("left %d entries, %d bytes", len(r.m), r.bytes)
	}
	// Out of order, with a copy: the same datagram.
	whole, res = addAll(t, &r, [][]byte{frags[2], frags[0], frags[0], frags[1]}, now)
	if res != reasmWhole || !bytes.Equal(whole, d) {
		t.Fatalf("out of order: %v, equal %v", res, bytes.Equal(whole, d))
	}
	// Overlap: a fragment reaching into another's data ends the datagram.
	f0, _ := parseFragment(frags[0])
	if _, res, _ := r.add(&f0, now); res != reasmHeld {
		t.Fatal(res)
	}
	f1, _ := parseFragment(frags[1])
	f1.off -= 8
	if _, res, _ := r.add(&f1, now); res != reasmBad || len(r.m) != 0 || r.bytes != 0 {
		t.Fatalf("overlap: %v, %d entries, %d bytes", res, len(r.m), r.bytes)
	}
	// A non-last fragment not a multiple of 8, data beyond the end the last one set.
	f1, _ = parseFragment(frags[1])
	f1.data = f1.data[:len(f1.data)-3]
	if _, res, _ := r.add(&f1, now); res != reasmBad {
		t.Fatalf("odd middle fragment: %v", res)
	}
	f2, _ := parseFragment(frags[2])
	r.add(&f2, now)
	f1, _ = parseFragment(frags[1])
	f1.off = f2.off
	if _, res, _ := r.add(&f1, now); res != reasmBad || len(r.m) != 0 {
		t.Fatalf("beyond the end: %v", res)
	}
	// Timeout: an old datagram is given up when a fragment comes late, and counted.
	r.add(&f0, now)
	f1, _ = parseFragment(frags[1])
	if _, res, exp := r.add(&f1, now.Add(reasmTimeout+time.Millisecond)); res != reasmHeld || exp != 1 {
		t.Fatalf("late fragment: %v, %d expired", res, exp)
	}
	r = reasm{}
	// Bounds: entries.
	for i := range reasmMaxEntries + 5 {
		fs := fragment4(udpDatagram4(2000, uint16(i)), 1424)
		f, _ := parseFragment(fs[0])
		_, res, exp := r.add(&f, now)
		if res != reasmHeld || (i < reasmMaxEntries) != (exp == 0) {
			t.Fatalf("datagram %d: %v, %d expired", i, res, exp)
		}
	}
	if len(r.m) != reasmMaxEntries {
		t.Fatalf("%d entries", len(r.m))
	}
	// IPv6.
	d6 := make([]byte, 40+3000)
	d6[0], d6[6], d6[7] = 0x60, 17, 64
	binary.BigEndian.PutUint16(d6[4:], 3000)
	copy(d6[8:], netip.MustParseAddr("2001:db8:ff::1").AsSlice())
	copy(d6[24:], netip.MustParseAddr("2001:db8:ff::2").AsSlice())
	for i := range 3000 {
		d6[40+i] = byte(i)
	}
	r = reasm{}
	whole, res = addAll(t, &r, fragment6(d6, 1232, 9), now)
	if res != reasmWhole || !bytes.Equal(whole, d6) {
		t.Fatalf("IPv6: %v, %d bytes, equal %v", res, len(whole), bytes.Equal(whole, d6))
	}
}

// TestEncapFragments: a transport SA's fragments are held until the datagram is whole,
// which is then encrypted once; the receiving side opens it to the datagram's payload.
// A tunnel SA's fragments are encrypted one by one, as before.
func TestEncapFragments(t *testing.T) {
	for _, mode := range []Mode{ModeTransport, ModeTunnel} {
		u := testUserspace()
		src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
		pols := []Policy{{ID: 1, Src: netip.PrefixFrom(src, 32), Dst: netip.PrefixFrom(dst, 32), Dir: DirOut,
			Action: ActionEncrypt, Mode: mode, ReqID: 3}}
		u.pols.Store(&pols)
		ek, _ := keyFor(t, "aes-128-gcm", "", 1)
		sa := SA{SPI: 0x42, Dir: DirOut, Src: src, Dst: dst, Mode: mode, EncAlg: "aes-128-gcm", EncKey: ek, ReqID: 3}
		if err := u.AddSA(context.Background(), sa); err != nil {
			t.Fatal(err)
		}
		d := udpDatagram4(3000, 5)
		frags := fragment4(d, 1424)
		var pkts []outPkt
		for _, f := range frags {
			buf := make([]byte, headroom+len(f)+256)
			copy(buf[headroom:], f)
			if p, ok := u.encapOne(buf[:headroom+len(f)]); ok {
				pkts = append(pkts, p)
			}
		}
		if st := u.Statistics(); st.OutErrors != 0 || st.OutStateModeErrors != 0 {
			t.Fatalf("%v: %+v", mode, st)
		}
		if mode == ModeTunnel {
			if len(pkts) != len(frags) || u.perf.reasmWhole.Load() != 0 {
				t.Fatalf("tunnel: %d ESP packets for %d fragments", len(pkts), len(frags))
			}
			continue
		}
		if len(pkts) != 1 || u.perf.reasmWhole.Load() != 1 {
			t.Fatalf("transport: %d ESP packets for %d fragments", len(pkts), len(frags))
		}
		tr, _ := newTransform(&sa)
		esp := pkts[0].b[20:]
		payload, nh, err := tr.open(append([]byte(nil), esp...), 1, false)
		if err != nil || nh != 17 || !bytes.Equal(payload, d[20:]) {
			t.Fatalf("opened: %v, next header %d, %d bytes (want %d)", err, nh, len(payload), len(d)-20)
		}
		if tot := binary.BigEndian.Uint16(pkts[0].b[2:]); int(tot) != len(pkts[0].b) {
			t.Fatalf("outer total length %d for %d bytes", tot, len(pkts[0].b))
		}
	}
}

// TestDecapTransportNotWhole: a transport payload that cannot be a whole datagram (what
// a sender that encrypts fragments one by one sends) is counted as in-state-mode-errors
// and not handed to the host; a whole one is.
func TestDecapTransportNotWhole(t *testing.T) {
	u := testUserspace()
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	sa := SA{SPI: 0x79, Dir: DirIn, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		Mode: ModeTransport, EncAlg: "aes-128-gcm", EncKey: ek, ReplayWindow: 64}
	if err := u.AddSA(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	tr, _ := newTransform(&sa)
	seal := func(seq uint64, payload []byte, nh byte) []byte {
		b := make([]byte, tr.sealedLen(len(payload)))
		tr.seal(b, sa.SPI, seq, false, payload, nh)
		return b
	}
	d := udpDatagram4(2000, 1)
	frag := fragment4(d, 1424)[0]
	icmp := make([]byte, 1408) // an echo request's first fragment: its sum is the whole one's
	icmp[0], icmp[2] = 8, 0x12
	for i, c := range []struct {
		payload []byte
		nh      byte
		whole   bool
	}{
		{frag[20:], 17, false},
		{d[20:], 17, true},
		{icmp, 1, false},
		{d[20:40], 6, false}, // a TCP header whose data offset (0) is below its own size
	} {
		before := u.Statistics().InStateModeErrors
		u.decap(seal(uint64(i+1), c.payload, c.nh), sa.Src, sa.Dst, 0, false)
		got := u.Statistics().InStateModeErrors - before
		delivered := len(u.inq)
		for len(u.inq) > 0 {
			<-u.inq
		}
		if c.whole != (delivered == 1) || c.whole != (got == 0) {
			t.Errorf("case %d: delivered %d, in-state-mode-errors +%d", i, delivered, got)
		}
	}
}

// FuzzReasm feeds arbitrary fragment sequences to the reassembly: it must not panic,
// must keep to its bounds, and a datagram it completes must be one parseInner takes, of
// the length its header says.
func FuzzReasm(f *testing.F) {
	seed := []byte{}
	for _, fr := range fragment4(udpDatagram4(3000, 1), 1424) {
		seed = append(seed, byte(len(fr)>>8), byte(len(fr)))
		seed = append(seed, fr...)
	}
	f.Add(seed)
	f.Add([]byte{0, 48, 0x60, 0, 0, 0, 0, 8, 44, 64})
	f.Fuzz(fuzzReasm)
}

func fuzzReasm(t *testing.T, b []byte) {
	base6 := netip.MustParseAddr("2001:db8::1").As16()
	{
		var r reasm
		now := time.Unix(1e9, 0)
		for len(b) >= 2 {
			n := int(binary.BigEndian.Uint16(b))
			b = b[2:]
			if n > len(b) {
				n = len(b)
			}
			pkt := append([]byte(nil), b[:n]...)
			b = b[n:]
			if len(pkt) > 0 && pkt[0]>>4 == 6 && len(pkt) >= 40 {
				copy(pkt[8:], base6[:]) // fewer keys, more collisions
			}
			now = now.Add(time.Duration(n%7) * 100 * time.Millisecond)
			if _, err := parseInner(pkt); err != nil {
				continue
			}
			fr, ok := parseFragment(pkt)
			if !ok {
				continue
			}
			buf, res, _ := r.add(&fr, now)
			held := 0
			for _, e := range r.m {
				held += len(e.buf)
			}
			if held != r.bytes || r.bytes > reasmMaxBytes || len(r.m) > reasmMaxEntries {
				t.Fatalf("bounds: %d entries, %d bytes (%d counted)", len(r.m), held, r.bytes)
			}
			if res != reasmWhole {
				continue
			}
			d := buf[headroom:]
			s, err := parseInner(d)
			if err != nil {
				t.Fatalf("whole datagram unparsable: %v", err)
			}
			if _, frag := parseFragment(d); frag {
				t.Fatal("whole datagram still a fragment")
			}
			n4 := int(binary.BigEndian.Uint16(d[2:]))
			if (d[0]>>4 == 4 && n4 != len(d)) || (d[0]>>4 == 6 && 40+int(binary.BigEndian.Uint16(d[4:])) != len(d)) ||
				s.hdrLen > len(d) || cap(buf)-len(buf) < reasmTail {
				t.Fatalf("whole datagram of %d bytes, header says otherwise or no room behind", len(d))
			}
		}
	}
}
