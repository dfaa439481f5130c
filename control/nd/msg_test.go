package nd

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestParseRS(t *testing.T) {
	ll := netip.MustParseAddr("fe80::1")
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	ok := append([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 1}, mac...)
	rs, err := ParseRS(ok, ll)
	if err != nil || !bytes.Equal(rs.SLLA, mac) {
		t.Fatalf("%v %v", rs, err)
	}
	for _, tc := range []struct {
		b    []byte
		src  netip.Addr
		want error
	}{
		{ok[:7], ll, ErrShort},
		{append([]byte{134}, ok[1:]...), ll, ErrNotRS},
		{append([]byte{133, 1}, ok[2:]...), ll, ErrNotRS},
		{append(append([]byte{}, ok[:8]...), 1, 0, 0, 0, 0, 0, 0, 0), ll, ErrBadOpt},
		{append(append([]byte{}, ok[:8]...), 1, 2, 0, 0, 0, 0, 0, 0), ll, ErrBadOpt},
		{append(append([]byte{}, ok[:8]...), 1), ll, ErrBadOpt},
		{ok, netip.IPv6Unspecified(), ErrSLLAFrom},
	} {
		if _, err := ParseRS(tc.b, tc.src); err != tc.want {
			t.Errorf("% x: %v; want %v", tc.b, err, tc.want)
		}
	}
}

func TestMarshalRA(t *testing.T) {
	ra := RA{HopLimit: 64, Managed: true, Preference: "high", Lifetime: 30 * time.Minute,
		Reachable: 5 * time.Second, SLLA: net.HardwareAddr{2, 0, 0, 0, 0, 1}, MTU: 1400,
		Prefixes: []Prefix{{Prefix: netip.MustParsePrefix("2001:2:0:1::/64"), OnLink: true, Autonomous: true, Valid: -1, Preferred: time.Hour},
			{Prefix: netip.MustParsePrefix("2001:2:0:2::/64"), PDPreferred: true}},
		DNS:         []netip.Addr{netip.MustParseAddr("2001:2::53")},
		DNSLifetime: 30 * time.Minute}
	b := ra.Marshal()
	if b[0] != 134 || b[4] != 64 || b[5] != 0x80|0x08 || binary.BigEndian.Uint16(b[6:]) != 1800 ||
		binary.BigEndian.Uint32(b[8:]) != 5000 {
		t.Fatalf("header % x", b[:16])
	}
	o := b[16:]
	want := []byte{1, 5, 3, 3, 25}
	pio := 0
	for i := 0; len(o) > 0; i++ {
		if i >= len(want) || o[0] != want[i] {
			t.Fatalf("option %d: type %d", i, o[0])
		}
		switch o[0] {
		case 3:
			// L and A; then RFC 9762's P flag (dhcp6-pd-preferred) alone.
			if pio == 0 && (o[2] != 64 || o[3] != 0xc0 || binary.BigEndian.Uint32(o[4:]) != 0xffffffff || binary.BigEndian.Uint32(o[8:]) != 3600) ||
				pio == 1 && o[3] != 0x10 {
				t.Errorf("prefix option %d % x", pio, o[:32])
			}
			pio++
		case 25:
			if o[1] != 3 || netip.AddrFrom16([16]byte(o[8:24])).String() != "2001:2::53" {
				t.Errorf("RDNSS % x", o)
			}
		}
		o = o[int(o[1])*8:]
	}
}

// FuzzParseRS: no input panics, and a solicitation that parses has options that tile the
// message exactly.
func FuzzParseRS(f *testing.F) {
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1}, true)
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, unspecified bool) {
		src := netip.MustParseAddr("fe80::1")
		if unspecified {
			src = netip.IPv6Unspecified()
		}
		rs, err := ParseRS(b, src)
		if err != nil {
			return
		}
		if rs.SLLA != nil && unspecified {
			t.Fatal("SLLA accepted from ::")
		}
		n := 8
		for n < len(b) {
			n += int(b[n+1]) * 8
		}
		if n != len(b) {
			t.Fatalf("options do not tile %d bytes", len(b))
		}
	})
}
