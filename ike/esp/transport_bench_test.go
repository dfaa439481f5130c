package esp

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"
)

// BenchmarkTransportPath: one 1400-byte UDP datagram through a transport SA's encapOne
// (policy lookup, fragment check, seal) and decapTo (open, whole-datagram check, header
// rebuild, inbound check), aes-128-gcm, no replay window (the same packet each time).
func BenchmarkTransportPath(b *testing.B) {
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	d := make([]byte, 1428)
	d[0] = 0x45
	binary.BigEndian.PutUint16(d[2:], uint16(len(d)))
	d[8], d[9] = 64, 17
	copy(d[12:], []byte{198, 18, 0, 1, 198, 18, 0, 2})
	binary.BigEndian.PutUint16(d[24:], uint16(len(d)-20))
	ek, _ := keyFor(b, "aes-128-gcm", "", 1)
	u := testUserspace()
	pols := []Policy{{ID: 1, Src: netip.PrefixFrom(src, 32), Dst: netip.PrefixFrom(dst, 32), Dir: DirOut,
		Action: ActionEncrypt, Mode: ModeTransport, ReqID: 3}}
	u.pols.Store(&pols)
	out := SA{SPI: 0x42, Dir: DirOut, Src: src, Dst: dst, Mode: ModeTransport, EncAlg: "aes-128-gcm", EncKey: ek, ReqID: 3}
	in := out
	in.Dir, in.SPI = DirIn, 0x43
	if u.AddSA(context.Background(), out) != nil || u.AddSA(context.Background(), in) != nil {
		b.Fatal("AddSA")
	}
	buf := make([]byte, headroom+len(d)+256)
	b.Run("encap", func(b *testing.B) {
		b.SetBytes(int64(len(d)))
		for b.Loop() {
			copy(buf[headroom:], d)
			if _, ok := u.encapOne(buf[:headroom+len(d)]); !ok {
				b.Fatal("not encrypted")
			}
		}
	})
	tr, _ := newTransform(&in)
	pkt := make([]byte, tr.sealedLen(len(d)-20))
	tr.seal(pkt, 0x43, 1, false, d[20:], 17)
	work := make([]byte, len(pkt))
	w := newTunBatch(64)
	b.Run("decap", func(b *testing.B) {
		b.SetBytes(int64(len(d)))
		for b.Loop() {
			copy(work, pkt)
			u.decapTo(w, nil, work, src, dst, 0, false)
			if w.n != 1 {
				b.Fatal("not delivered")
			}
			w.n = 0
		}
	})
}
