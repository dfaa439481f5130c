package dataplane

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"unsafe"
)

// reasmTunnels is a Tunnels with a GRE, an EoIP and an IPsec-protected IPIP tunnel in
// its maps.
func reasmTunnels(t testing.TB) *Tunnels {
	objs := loadOrSkip(t)
	tp := &Tunnels{objs: *objs}
	for i, tn := range []Tunnel{{Kind: GRE, Local: ipA, Remote: ipB}, {Kind: EoIP, Remote: ipB, TunnelID: 1},
		{Kind: IPIP, Local: ipA, Remote: ipB, IPsec: true}} {
		tn.Hidden, tn.VisibleMAC, tn.HiddenMAC = i+1, macA, macB
		if err := tp.Set(tn); err != nil {
			t.Fatal(err)
		}
	}
	return tp
}

// TestDecapReassembled: the Go decapsulator of reassembled outer packets finds the
// tunnel as the eBPF one does and builds the frame its hidden end sends: EoIP's frame as
// carried, GRE's payload behind an Ethernet header to the visible end; cleartext of a
// protected tunnel and packets of no tunnel are refused.
func TestDecapReassembled(t *testing.T) {
	tp := reasmTunnels(t)
	payload := ipv4(17, ipA, ipB, make([]byte, 1800))

	in, err := tp.Decap(ipv4(47, ipB, ipA, gre(0, 0x0800, nil, payload)), false)
	if err != nil || in.Hidden != 1 {
		t.Fatalf("gre: %+v %v", in, err)
	}
	if !bytes.Equal(in.Frame[:6], macA) || !bytes.Equal(in.Frame[6:12], macB) ||
		binary.BigEndian.Uint16(in.Frame[12:]) != 0x0800 || !bytes.Equal(in.Frame[14:], payload) {
		t.Errorf("gre frame % x", in.Frame[:20])
	}

	frame := ether(0x86dd, make([]byte, 1500))
	eoip := gre(0x2001, 0x6400, []byte{byte(len(frame) >> 8), byte(len(frame)), 1, 0}, frame)
	in, err = tp.Decap(ipv4(47, ipB, ipA, eoip), false)
	if err != nil || in.Hidden != 2 || !bytes.Equal(in.Frame, frame) {
		t.Fatalf("eoip: hidden %d, %v, frame %d bytes", in.Hidden, err, len(in.Frame))
	}
	// Another tunnel-id is no tunnel's; a length beyond the packet is malformed.
	other := gre(0x2001, 0x6400, []byte{byte(len(frame) >> 8), byte(len(frame)), 2, 0}, frame)
	if _, err := tp.Decap(ipv4(47, ipB, ipA, other), false); !errors.Is(err, ErrNotTunnel) {
		t.Errorf("tunnel-id 2: %v", err)
	}
	long := gre(0x2001, 0x6400, []byte{0x10, 0, 1, 0}, frame)
	if _, err := tp.Decap(ipv4(47, ipB, ipA, long), false); !errors.Is(err, ErrMalformed) {
		t.Errorf("EoIP length beyond the packet: %v", err)
	}

	// IPsec-protected: only out of the ESP device.
	if in, err := tp.Decap(ipv4(4, ipB, ipA, payload), false); !errors.Is(err, ErrCleartext) || in.Hidden != 3 {
		t.Errorf("ipip in the clear: %+v %v", in, err)
	}
	if in, err := tp.Decap(ipv4(4, ipB, ipA, payload), true); err != nil || !bytes.Equal(in.Frame[14:], payload) {
		t.Errorf("ipip out of ESP: %v", err)
	}
	// A keyed GRE packet and another protocol are not ours.
	if _, err := tp.Decap(ipv4(47, ipB, ipA, gre(0x2000, 0x0800, []byte{0, 0, 0, 1}, payload)), false); !errors.Is(err, ErrNotTunnel) {
		t.Errorf("keyed GRE: %v", err)
	}
	if _, err := tp.Decap(ipv4(17, ipB, ipA, payload), false); !errors.Is(err, ErrNotTunnel) {
		t.Errorf("UDP: %v", err)
	}
}

// FuzzDecapReassembled: any bytes as a reassembled outer packet give a frame that lies
// within the packet (decapsulated in place) or an error, never a panic.
func FuzzDecapReassembled(f *testing.F) {
	tp := reasmTunnels(f)
	f.Add(ipv4(47, ipB, ipA, gre(0, 0x0800, nil, ipv4(1, ipB, ipA, nil))))
	f.Add(ipv4(47, ipB, ipA, gre(0x2001, 0x6400, []byte{0, 14, 1, 0}, make([]byte, 14))))
	f.Add(ipv4(4, ipB, ipA, make([]byte, 40)))
	f.Fuzz(func(t *testing.T, pkt []byte) {
		in, err := tp.Decap(pkt, len(pkt)%2 == 0)
		if err != nil {
			return
		}
		if len(in.Frame) < 14 || len(in.Frame) > len(pkt) {
			t.Fatalf("frame of %d bytes from a %d-byte packet", len(in.Frame), len(pkt))
		}
		// In place: the frame ends within the packet's own bytes.
		end := uintptr(unsafe.Pointer(&in.Frame[len(in.Frame)-1]))
		start := uintptr(unsafe.Pointer(&pkt[0]))
		if end < start || end >= start+uintptr(len(pkt)) {
			t.Fatalf("frame outside the packet")
		}
	})
}
