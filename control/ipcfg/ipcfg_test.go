package ipcfg

import (
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func TestParseRanges(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Range
		bad  bool
	}{
		{in: "192.168.77.2-192.168.77.254", want: []Range{{netip.MustParseAddr("192.168.77.2"), netip.MustParseAddr("192.168.77.254")}}},
		{in: "198.18.0.0/30,198.18.1.1", want: []Range{
			{netip.MustParseAddr("198.18.0.0"), netip.MustParseAddr("198.18.0.3")},
			{netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.1")}}},
		{in: "198.18.0.9-198.18.0.1", bad: true},
		{in: "198.18.0.1-2001:db8::1", bad: true},
		{in: "x", bad: true},
	} {
		got, err := ParseRanges(tc.in)
		if tc.bad != (err != nil) {
			t.Errorf("%s: err %v", tc.in, err)
			continue
		}
		if !tc.bad && len(got) != len(tc.want) {
			t.Errorf("%s: %v", tc.in, got)
		}
		for i := range tc.want {
			if !tc.bad && got[i] != tc.want[i] {
				t.Errorf("%s: %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}

func TestParseGateway(t *testing.T) {
	for in, want := range map[string]gateway{
		"172.16.1.2":         {ip: netip.MustParseAddr("172.16.1.2")},
		"6to4-tunnel1":       {iface: "6to4-tunnel1"},
		"fe80::1%ether1":     {ip: netip.MustParseAddr("fe80::1"), iface: "ether1"},
		"2001:470:27:37e::1": {ip: netip.MustParseAddr("2001:470:27:37e::1")},
	} {
		if got, err := parseGateway(in); err != nil || got != want {
			t.Errorf("%s: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"1.2.3.4%", "a b", "10.0.0.0/8"} {
		if _, err := parseGateway(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestEUI64(t *testing.T) {
	p, ok := eui64(netip.MustParsePrefix("2001:db8::/64"), []byte{0x02, 0x11, 0x22, 0x33, 0x44, 0x55})
	if !ok || p.String() != "2001:db8::11:22ff:fe33:4455/64" {
		t.Errorf("%v %v", p, ok)
	}
}

func addrMsg(ip []byte, plen uint8, proto byte) []byte {
	fam := unix.AF_INET
	if len(ip) == 16 {
		fam = unix.AF_INET6
	}
	m := nl.NewIfAddrmsg(fam)
	m.Prefixlen, m.Index = plen, 3
	b := m.Serialize()
	b = append(b, nl.NewRtAttr(unix.IFA_LOCAL, ip).Serialize()...)
	return append(b, nl.NewRtAttr(ifaProto, []byte{proto}).Serialize()...)
}

func TestParseAddrMsg(t *testing.T) {
	k, ok := parseAddrMsg(addrMsg([]byte{198, 18, 0, 1}, 24, Proto))
	if !ok || k.prefix.String() != "198.18.0.1/24" || k.proto != Proto || k.index != 3 {
		t.Errorf("%+v %v", k, ok)
	}
	if _, ok := parseAddrMsg(addrMsg([]byte{198, 18, 0, 1}, 40, 0)); ok {
		t.Error("prefix length 40 accepted for IPv4")
	}
}

// FuzzParseAddrMsg: address messages are kernel bytes; no input may panic.
func FuzzParseAddrMsg(f *testing.F) {
	f.Add(addrMsg([]byte{198, 18, 0, 1}, 24, Proto))
	f.Add(addrMsg(netip.MustParseAddr("2001:db8::1").AsSlice(), 64, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, ok := parseAddrMsg(b); ok && !k.prefix.IsValid() {
			t.Fatalf("invalid prefix accepted: %+v", k)
		}
	})
}
