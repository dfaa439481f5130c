package esp

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

var allAlgs = [][2]string{
	{"aes-128-gcm", ""}, {"aes-192-gcm", ""}, {"aes-256-gcm", ""}, {"chacha20poly1305", ""},
	{"aes-128-cbc", "sha1"}, {"aes-192-cbc", "sha256"}, {"aes-256-cbc", "sha384"},
	{"aes-128-ctr", "sha512"}, {"aes-192-ctr", "md5"}, {"aes-256-ctr", "sha256"},
	{"3des", "sha1"}, {"null", "sha256"}, {"aes-128-cbc", "null"},
}

func testTransform(t testing.TB, enc, auth string) *transform {
	ek, ak := keyFor(t, enc, auth, 3)
	tr, err := newTransform(&SA{EncAlg: enc, EncKey: ek, AuthAlg: auth, AuthKey: ak})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func TestTransformRoundTrip(t *testing.T) {
	for _, a := range allAlgs {
		tr := testTransform(t, a[0], a[1])
		for _, esn := range []bool{false, true} {
			for n := 0; n < 70; n += 7 {
				payload := bytes.Repeat([]byte{byte(n)}, n)
				seq := uint64(5)<<32 | 77
				buf := make([]byte, tr.sealedLen(n))
				if got := tr.seal(buf, 0xabcd, seq, esn, payload, 4); got != len(buf) {
					t.Fatalf("%v: sealed %d, want %d", a, got, len(buf))
				}
				if (len(buf)-8-tr.ivLen-tr.icvLen)%4 != 0 {
					t.Fatalf("%v: ESP body not 4-byte aligned", a)
				}
				out, nh, err := tr.open(append([]byte(nil), buf...), seq, esn)
				if err != nil || nh != 4 || !bytes.Equal(out, payload) {
					t.Fatalf("%v esn=%v n=%d: open: %v nh=%d eq=%v", a, esn, n, err, nh, bytes.Equal(out, payload))
				}
				if tr.icvLen > 0 {
					bad := append([]byte(nil), buf...)
					bad[len(bad)-1] ^= 1
					if _, _, err := tr.open(bad, seq, esn); !errors.Is(err, errAuth) {
						t.Fatalf("%v: flipped ICV accepted: %v", a, err)
					}
					if esn {
						if _, _, err := tr.open(append([]byte(nil), buf...), seq+1<<32, esn); !errors.Is(err, errAuth) {
							t.Fatalf("%v: wrong ESN high bits accepted", a)
						}
					}
				}
			}
		}
	}
}

func TestBadKeysAndNames(t *testing.T) {
	for _, sa := range []SA{
		{EncAlg: "aes-128-gcm", EncKey: make([]byte, 16)},
		{EncAlg: "blowfish", EncKey: make([]byte, 16)},
		{EncAlg: "aes-128-cbc", EncKey: make([]byte, 16), AuthAlg: "sha1", AuthKey: make([]byte, 16)},
		{EncAlg: "aes-128-cbc", EncKey: make([]byte, 16), AuthAlg: "whirlpool", AuthKey: make([]byte, 16)},
		{EncAlg: "null", AuthAlg: "null"},
	} {
		if _, err := newTransform(&sa); !errors.Is(err, ErrBadKey) && !errors.Is(err, ErrUnknownAlgorithm) {
			t.Errorf("%s/%s accepted: %v", sa.EncAlg, sa.AuthAlg, err)
		}
	}
}

// GCM against a hand-built RFC 4106 packet: nonce = salt||IV, AAD = SPI||seq.
func TestGCMWireFormat(t *testing.T) {
	ek, _ := keyFor(t, "aes-128-gcm", "", 9)
	tr, _ := newTransform(&SA{EncAlg: "aes-128-gcm", EncKey: ek})
	payload := []byte("0123456789abcdefXYZ")
	buf := make([]byte, tr.sealedLen(len(payload)))
	tr.seal(buf, 0x01020304, 42, false, payload, 17)
	b, _ := aes.NewCipher(ek[:16])
	g, _ := cipher.NewGCM(b)
	nonce := append(append([]byte{}, ek[16:]...), buf[8:16]...)
	pt, err := g.Open(nil, nonce, buf[16:], buf[:8])
	if err != nil {
		t.Fatal(err)
	}
	// payload, padding 1,2,..., pad length, next header
	body := len(payload) + 2
	pad := (4 - body%4) % 4
	want := append(append([]byte{}, payload...), []byte{1, 2, 3}[:pad]...)
	want = append(want, byte(pad), 17)
	if !bytes.Equal(pt, want) || binary.BigEndian.Uint32(buf[4:]) != 42 {
		t.Fatalf("plaintext %x want %x", pt, want)
	}
}

func TestReplayWindow(t *testing.T) {
	w := newReplayWindow(64)
	for _, s := range []uint64{1, 2, 3, 10, 5} {
		if !w.check(s) || !w.update(s) {
			t.Fatalf("fresh %d refused", s)
		}
	}
	for _, s := range []uint64{1, 3, 10, 0} {
		if w.check(s) {
			t.Fatalf("replay %d accepted", s)
		}
	}
	if !w.check(4) || !w.update(200) || w.check(136) || !w.check(137) || w.check(200) {
		t.Fatal("window did not slide")
	}
	// A jump of more than the bitmap clears it.
	w.update(100000)
	if !w.check(99999) || w.check(100000-64) {
		t.Fatal("window after a big jump")
	}
	// ESN inference around a 2^32 wrap (RFC 4303 A.2).
	e := newReplayWindow(128)
	e.update(1<<32 - 10)
	if got := e.infer(5, true); got != 1<<32+5 {
		t.Fatalf("infer after wrap: %x", got)
	}
	if got := e.infer(0xffffff80, true); got != 0xffffff80 {
		t.Fatalf("infer before wrap: %x", got)
	}
	e.update(1<<32 + 5)
	if got := e.infer(0xfffffff0, true); got != 0xfffffff0 {
		t.Fatalf("infer late packet below wrap: %x", got)
	}
}

// testUserspace is a userspace datapath without devices: decap output lands in inq.
func testUserspace() *userspace {
	return &userspace{sas: map[Key]*saState{}, inSPI: map[uint32]*saState{}, outReq: map[uint32]*saState{},
		acqLast: map[uint32]time.Time{}, events: make(chan Event, 64), inq: make(chan *pbuf, 64), done: make(chan struct{}), bypass4: -1, bypass6: -1}
}

func sealPacket(t testing.TB, tr *transform, spi uint32, seq uint64, inner []byte) []byte {
	nh := byte(4)
	if inner[0]>>4 == 6 {
		nh = 41
	}
	buf := make([]byte, tr.sealedLen(len(inner)))
	tr.seal(buf, spi, seq, false, inner, nh)
	return buf
}

func innerPacket() []byte {
	p := make([]byte, 48)
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], 48)
	p[8], p[9] = 64, 17
	copy(p[12:], []byte{198, 19, 1, 1, 198, 19, 2, 1})
	binary.BigEndian.PutUint16(p[20:], 1111)
	binary.BigEndian.PutUint16(p[22:], 2222)
	return p
}

func TestDecapCounters(t *testing.T) {
	u := testUserspace()
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	sa := SA{SPI: 0x77, Dir: DirIn, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		Mode: ModeTunnel, EncAlg: "aes-128-gcm", EncKey: ek, ReplayWindow: 32, ReqID: 1}
	if err := u.AddSA(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	tr, _ := newTransform(&sa)
	src, dst := sa.Src, sa.Dst
	in := func(b []byte) { u.decap(append([]byte(nil), b...), src, dst, 0, false) }
	p1 := sealPacket(t, tr, 0x77, 1, innerPacket())
	in(p1)
	if len(u.inq) != 1 {
		t.Fatal("valid packet not delivered")
	}
	if got := <-u.inq; !bytes.Equal(got.b[:got.n], innerPacket()) {
		t.Fatal("inner packet differs")
	}
	in(p1) // replay
	bad := sealPacket(t, tr, 0x77, 2, innerPacket())
	bad[20] ^= 0x40
	in(bad)                                       // wrong ICV
	in(p1[:11])                                   // truncated
	in(sealPacket(t, tr, 0x78, 3, innerPacket())) // unknown SPI
	in(sealPacket(t, tr, 0x77, 2, innerPacket())) // seq 2 still fresh after the bad one
	for _, s := range []uint64{100, 60} {         // 60 is left of the 32-packet window after 100
		in(sealPacket(t, tr, 0x77, s, innerPacket()))
	}
	st := u.Statistics()
	c, _ := u.Counters(Key{0x77, dst})
	if len(u.inq) != 2 || st.InStateSequenceErrors != 2 || st.InStateProtocolErrors != 1 || st.InHeaderErrors != 1 || st.InNoStates != 1 {
		t.Fatalf("delivered %d, stats %+v", len(u.inq), st)
	}
	if c.ReplayErrors != 2 || c.AuthErrors != 1 || c.Packets != 3 {
		t.Fatalf("SA counters %+v", c)
	}
	// Raw ESP on an SA that expects UDP encapsulation is a state mismatch.
	u.mu.Lock()
	u.inSPI[0x77].ep.Store(&endpoint{src: src, dst: dst, encap: &Encap{4500, 4500}})
	u.mu.Unlock()
	in(sealPacket(t, tr, 0x77, 101, innerPacket()))
	if u.Statistics().InStateMismatches != 1 {
		t.Fatal("encapsulation mismatch not counted")
	}
}

func TestLifetimeEvents(t *testing.T) {
	u := testUserspace()
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	sa := SA{SPI: 0x99, Dir: DirIn, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		EncAlg: "aes-128-gcm", EncKey: ek, ReplayWindow: 64, ReqID: 5,
		Lifetime: Lifetime{SoftBytes: 100, HardBytes: 200}}
	u.AddSA(context.Background(), sa)
	tr, _ := newTransform(&sa)
	for s := uint64(1); s <= 5; s++ {
		u.decap(sealPacket(t, tr, 0x99, s, innerPacket()), sa.Src, sa.Dst, 0, false)
	}
	u.expire(u.sas[Key{0x99, sa.Dst}].added)
	var kinds []EventKind
	for len(u.events) > 0 {
		e := <-u.events
		if e.SA.SPI != 0x99 || e.ReqID != 5 || !e.ByBytes {
			t.Fatalf("event %+v", e)
		}
		kinds = append(kinds, e.Kind)
	}
	if len(kinds) != 2 || kinds[0] != EventSoftExpire || kinds[1] != EventHardExpire {
		t.Fatalf("events %v", kinds)
	}
	if _, err := u.Counters(Key{0x99, sa.Dst}); !errors.Is(err, ErrNoSA) {
		t.Fatal("hard-expired SA still installed")
	}
	// Time lifetimes.
	sa.SPI, sa.Lifetime = 0x9a, Lifetime{SoftTime: 1, HardTime: 2}
	u.AddSA(context.Background(), sa)
	u.expire(u.sas[Key{0x9a, sa.Dst}].added.Add(3))
	if len(u.events) != 2 {
		t.Fatalf("%d time events", len(u.events))
	}
}

func TestAcquire(t *testing.T) {
	u := testUserspace()
	pols := []Policy{{ID: 9, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"),
		Dir: DirOut, Action: ActionEncrypt, ReqID: 3}}
	u.pols.Store(&pols)
	buf := make([]byte, headroom+100)
	copy(buf[headroom:], innerPacket())
	for i := 0; i < 3; i++ {
		if _, ok := u.encapOne(buf[:headroom+48]); ok {
			t.Fatal("encrypted without an SA")
		}
	}
	if u.Statistics().OutNoStates != 3 || len(u.events) != 1 {
		t.Fatalf("out-no-states %d, %d events (want 3, 1: acquires are rate-limited)", u.Statistics().OutNoStates, len(u.events))
	}
	e := <-u.events
	if e.Kind != EventAcquire || e.PolicyID != 9 || e.SrcPort != 1111 || e.DstPort != 2222 || e.Protocol != 17 {
		t.Fatalf("acquire %+v", e)
	}
}

func FuzzDecap(f *testing.F) {
	ek, _ := keyFor(f, "aes-128-gcm", "", 1)
	sa := SA{SPI: 0x77, Dir: DirIn, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		EncAlg: "aes-128-gcm", EncKey: ek, ReplayWindow: 64}
	ekc, akc := keyFor(f, "aes-128-cbc", "sha1", 2)
	sb := SA{SPI: 0x78, Dir: DirIn, Src: sa.Src, Dst: sa.Dst, Mode: ModeTransport,
		EncAlg: "aes-128-cbc", EncKey: ekc, AuthAlg: "sha1", AuthKey: akc, ReplayWindow: 64}
	tra, _ := newTransform(&sa)
	trb, _ := newTransform(&sb)
	f.Add(sealPacket(f, tra, 0x77, 1, innerPacket()))
	f.Add(sealPacket(f, trb, 0x78, 1, innerPacket()[20:]))
	f.Add([]byte{0, 0, 0, 0x77, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		u := testUserspace()
		u.AddSA(context.Background(), sa)
		u.AddSA(context.Background(), sb)
		u.decap(b, sa.Src, sa.Dst, 0, false)
		for len(u.inq) > 0 {
			p := <-u.inq
			if _, err := parseInner(p.b[:p.n]); err != nil {
				t.Fatal("delivered an unparsable inner packet")
			}
		}
		// Null integrity: the decryption and trailer checks see attacker bytes directly.
		tr := testTransform(t, "aes-128-cbc", "null")
		tr.open(append([]byte(nil), b...), 1, false)
	})
}

func FuzzParseInner(f *testing.F) {
	f.Add(innerPacket())
	v6 := make([]byte, 60)
	v6[0], v6[6] = 0x60, 44
	f.Add(v6)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseInner(b)
		if err == nil && (s.hdrLen > len(b) || !s.src.IsValid()) {
			t.Fatalf("bad selector %+v for %d bytes", s, len(b))
		}
	})
}

func TestLevelUseAndSequenceLimit(t *testing.T) {
	u := testUserspace()
	pols := []Policy{{ID: 4, Src: netip.MustParsePrefix("198.19.1.0/24"), Dst: netip.MustParsePrefix("198.19.2.0/24"),
		Dir: DirOut, Action: ActionEncrypt, Level: LevelUse, ReqID: 3}}
	u.pols.Store(&pols)
	buf := make([]byte, headroom+100)
	copy(buf[headroom:], innerPacket())
	if _, ok := u.encapOne(buf[:headroom+48]); ok || u.Statistics().OutNoStates != 0 || len(u.events) != 1 {
		t.Fatalf("level=use without SA: out-no-states %d, %d events", u.Statistics().OutNoStates, len(u.events))
	}
	<-u.events
	ek, _ := keyFor(t, "aes-128-gcm", "", 1)
	sa := SA{SPI: 0x42, Dir: DirOut, Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.2"),
		EncAlg: "aes-128-gcm", EncKey: ek, ReqID: 3}
	if err := u.AddSA(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	s := u.outReq[3]
	s.seq.Store(seqSoftLimit - 1)
	if _, ok := u.encapOne(buf[:headroom+48]); !ok {
		t.Fatal("not encrypted")
	}
	if e := <-u.events; e.Kind != EventSoftExpire || e.SA.SPI != 0x42 {
		t.Fatalf("event %+v", e)
	}
	s.seq.Store(0xffffffff)
	copy(buf[headroom:], innerPacket())
	if _, ok := u.encapOne(buf[:headroom+48]); ok || u.Statistics().OutStateSequenceErrors != 1 {
		t.Fatal("sequence number cycled")
	}
}
