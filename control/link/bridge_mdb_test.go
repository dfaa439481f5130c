package link

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// attr encodes one netlink attribute, padded.
func attr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// mdbMsg builds an RTM_GETMDB dump message as the kernel does: br_port_msg, then
// MDBA_MDB { MDBA_MDB_ENTRY { MDBA_MDB_ENTRY_INFO { br_mdb_entry, attributes } } }.
func mdbMsg(bridge int, es ...mdbEntry) []byte {
	b := make([]byte, portMsgLen)
	b[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(b[4:8], uint32(bridge))
	var entries []byte
	for _, e := range es {
		info := append(encodeMdbEntry(e), attr(mdbaEattrRtprot, []byte{e.Proto})...)
		entries = append(entries, attr(mdbaMdbEntry|unix.NLA_F_NESTED, attr(mdbaMdbEntryInfo|unix.NLA_F_NESTED, info))...)
	}
	return append(b, attr(mdbaMdb|unix.NLA_F_NESTED, entries)...)
}

func TestMdbRoundTrip(t *testing.T) {
	in := []mdbEntry{
		{Bridge: 7, Port: 9, State: mdbPermanent, Vid: 10, Group: netip.MustParseAddr("224.0.1.129"), Proto: mdbProto},
		{Bridge: 7, Port: 7, State: mdbTemporary, Group: netip.MustParseAddr("ff0e::181"), Proto: 4},
	}
	got, err := parseMdbMsg(mdbMsg(7, in...))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(in) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(in), got)
	}
	for i := range in {
		if got[i] != in[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, got[i], in[i])
		}
	}
	// struct br_mdb_entry is 28 bytes with the address at 8 and the protocol at 24.
	b := encodeMdbEntry(in[0])
	if len(b) != 28 || b[8] != 224 || b[11] != 129 || binary.BigEndian.Uint16(b[24:26]) != unix.ETH_P_IP {
		t.Errorf("layout: % x", b)
	}
}

func TestMdbParseTruncated(t *testing.T) {
	msg := mdbMsg(3, mdbEntry{Bridge: 3, Port: 4, Group: netip.MustParseAddr("239.1.1.1")})
	for n := 0; n < len(msg); n++ {
		if es, err := parseMdbMsg(msg[:n]); err == nil && len(es) > 0 {
			t.Errorf("truncated to %d bytes: entries %+v without error", n, es)
		}
	}
}

func TestCheckMdbGroup(t *testing.T) {
	for v, ok := range map[string]bool{"224.0.1.129": true, "ff0e::181": true, "198.18.0.1": false, "2001:db8::1": false} {
		if err := checkMdbGroup(controlArg("group", v)); (err == nil) != ok {
			t.Errorf("%s: %v", v, err)
		}
	}
}

func FuzzParseMdb(f *testing.F) {
	f.Add(mdbMsg(7, mdbEntry{Bridge: 7, Port: 9, State: 1, Group: netip.MustParseAddr("224.0.1.129"), Proto: mdbProto}))
	f.Add(mdbMsg(2, mdbEntry{Bridge: 2, Port: 2, Group: netip.MustParseAddr("ff02::6a")}, mdbEntry{Bridge: 2, Port: 5}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		es, err := parseMdbMsg(b)
		if err != nil {
			return
		}
		for _, e := range es {
			if e.Group.IsValid() && !e.Group.Is4() && !e.Group.Is6() {
				t.Errorf("bad group %v", e.Group)
			}
		}
	})
}
