package esp

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestChecksumsAgainstRFC1071: ipChecksum, fixL4Checksum (IPv4 and IPv6) and
// wholeInner's ICMPv6 check, which share csumAdd and fold (gso.go), agree with the plain
// 16-bit loop (sum16) for every length from 0 to 99, odd ones included, and random bytes.
func TestChecksumsAgainstRFC1071(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	src, dst := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	for n := range 100 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := ipChecksum(b), ^uint16(sum16(0, b)); got != want {
			t.Fatalf("ipChecksum of %d bytes: %#04x, want %#04x", n, got, want)
		}
		for _, proto := range []byte{6, 17} {
			if (proto == 6 && n < 20) || (proto == 17 && n < 8) {
				continue
			}
			ip := v4hdr(proto, [4]byte{198, 18, 0, 1}, [4]byte{198, 18, 0, 2}, 7, b)
			fixL4Checksum(ip)
			l4 := ip[20:]
			ps := sum16(sum16(0, ip[12:20])+uint32(proto)+uint32(len(l4)), nil)
			if s := sum16(ps, l4); s != 0xffff && !(proto == 17 && binary.BigEndian.Uint16(l4[6:]) == 0) {
				t.Fatalf("fixL4Checksum, protocol %d, %d bytes: the sum is %#04x, want 0xffff", proto, n, s)
			}
		}
		for _, proto := range []byte{6, 17, 58} {
			if (proto == 6 && n < 20) || n < 8 {
				continue
			}
			ip := v6hdr(proto, append([]byte(nil), b...))
			fixL4Checksum(ip)
			l4 := ip[40:]
			ps := sum16(sum16(0, ip[8:40])+uint32(proto)+uint32(len(l4)), nil)
			if s := sum16(ps, l4); s != 0xffff {
				t.Fatalf("fixL4Checksum, IPv6, next header %d, %d bytes: the sum is %#04x, want 0xffff", proto, n, s)
			}
			if proto == 58 && !wholeInner(58, l4, src, dst, false) {
				t.Fatalf("ICMPv6 of %d bytes after fixL4Checksum not taken", n)
			}
		}
		if n < 8 {
			continue
		}
		// ICMPv6 with its checksum right, then wrong.
		p := append([]byte(nil), b...)
		p[2], p[3] = 0, 0
		s16, d16 := src.As16(), dst.As16()
		ps := sum16(sum16(sum16(0, s16[:]), d16[:])+58+uint32(len(p)), nil)
		binary.BigEndian.PutUint16(p[2:], ^uint16(sum16(ps, p)))
		if !wholeInner(58, p, src, dst, false) {
			t.Fatalf("ICMPv6 of %d bytes with a right checksum not taken", n)
		}
		p[n-1] ^= 0x40
		if wholeInner(58, p, src, dst, false) {
			t.Fatalf("ICMPv6 of %d bytes with a wrong checksum taken", n)
		}
	}
}
