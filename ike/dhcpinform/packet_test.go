package dhcpinform

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
)

// inform builds a client's DHCPINFORM as Windows sends it over the VPN: ciaddr its
// address, option 55 asking for 249 among others.
func inform(ciaddr netip.Addr, xid uint32) []byte {
	b := make([]byte, fixedLen+4)
	b[0], b[1], b[2] = opRequest, 1, 6
	binary.BigEndian.PutUint32(b[4:], xid)
	a := ciaddr.As4()
	copy(b[12:], a[:])
	copy(b[28:], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint32(b[fixedLen:], cookie)
	b = append(b, optMessageType, 1, TypeInform, optPad, optParamRequest, 3, 1, 15, optMSClasslessRoute)
	return append(b, optEnd)
}

func TestAnswer(t *testing.T) {
	client := netip.MustParseAddr("198.19.77.3")
	split := []netip.Prefix{netip.MustParsePrefix("198.19.55.0/24"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("198.19.60.128/25"), netip.MustParsePrefix("0.0.0.0/0")}
	lookup := func(a netip.Addr) (netip.Addr, []netip.Prefix, bool) {
		return netip.MustParseAddr("198.18.50.1"), split, a == client
	}
	reply, to, ok := Answer(inform(client, 0xabcd), netip.AddrPortFrom(client, 68), lookup)
	if !ok || to != netip.AddrPortFrom(client, ClientPort) {
		t.Fatalf("no answer to the client's inform (%v %v)", ok, to)
	}
	if reply[0] != opReply || binary.BigEndian.Uint32(reply[4:]) != 0xabcd || !bytes.Equal(reply[12:16], []byte{198, 19, 77, 3}) {
		t.Fatalf("reply header: % x", reply[:16])
	}
	got, err := Routes(reply)
	if err != nil || !slices.Equal(got, split) {
		t.Fatalf("routes %v (%v), want %v", got, err, split)
	}
	// RFC 3442's own example encodings: 10.0.0.0/8 -> 8 10, 0.0.0.0/0 -> 0, each with router 0.0.0.0.
	if !bytes.Contains(reply, []byte{8, 10, 0, 0, 0, 0, 25}) || !bytes.Contains(reply, []byte{0, 0, 0, 0, 0, optClasslessRoutes}) {
		t.Errorf("encoding: % x", reply[fixedLen:])
	}
	m, err := Parse(inform(client, 1))
	if err != nil || !slices.Contains(m.Params, optMSClasslessRoute) {
		t.Fatalf("parse: %+v %v", m, err)
	}

	// Nobody else gets an answer: another address, ciaddr not the sender, not an inform.
	other := netip.MustParseAddr("198.19.77.4")
	if _, _, ok := Answer(inform(other, 1), netip.AddrPortFrom(other, 68), lookup); ok {
		t.Error("answered an address no mode config gave")
	}
	if _, _, ok := Answer(inform(client, 1), netip.AddrPortFrom(other, 68), lookup); ok {
		t.Error("answered an inform whose ciaddr is not its sender")
	}
	disc := inform(client, 1)
	disc[fixedLen+6] = 1 // DHCPDISCOVER
	if _, _, ok := Answer(disc, netip.AddrPortFrom(client, 68), lookup); ok {
		t.Error("answered a DHCPDISCOVER")
	}
}

// TestAckFits: however many split networks, the answer stays within 576 bytes and each
// option within 255.
func TestAckFits(t *testing.T) {
	var many []netip.Prefix
	for i := range 200 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i), 1, 0}), 24))
	}
	m, _ := Parse(inform(netip.MustParseAddr("198.19.77.3"), 1))
	b, n := m.Ack(netip.MustParseAddr("198.18.50.1"), many)
	got, err := Routes(b)
	if len(b) > maxLen || err != nil || len(got) != n || n == 0 || n == len(many) {
		t.Fatalf("%d bytes, %d of %d routes, read back %d (%v)", len(b), n, len(many), len(got), err)
	}
}

func TestParseRefuses(t *testing.T) {
	good := inform(netip.MustParseAddr("198.19.77.3"), 1)
	for name, b := range map[string][]byte{
		"short":     good[:100],
		"reply":     append([]byte{opReply}, good[1:]...),
		"no cookie": append(append([]byte{}, good[:fixedLen]...), 1, 2, 3, 4, optEnd),
		"overrun":   append(append([]byte{}, good[:fixedLen+4]...), optParamRequest, 200, 1),
		"type len":  append(append([]byte{}, good[:fixedLen+4]...), optMessageType, 2, 8, 8),
	} {
		if _, err := Parse(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(inform(netip.MustParseAddr("198.19.77.3"), 1))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		reply, _ := m.Ack(netip.MustParseAddr("198.18.50.1"), []netip.Prefix{netip.MustParsePrefix("198.19.55.0/24")})
		if len(reply) > maxLen {
			t.Fatalf("answer of %d bytes", len(reply))
		}
		Routes(b)
	})
}
