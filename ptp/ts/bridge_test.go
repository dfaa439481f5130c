package ts

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
)

func TestUDPFrameRoundTrip(t *testing.T) {
	msg := []byte("a ptp message of some length....")
	src := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	f := udpFrame(src, [4]byte{198, 18, 0, 1}, [4]byte(PdelayIPv4), 7, EventPort, msg)
	if !bytes.Equal(f[:6], []byte{0x01, 0x00, 0x5e, 0x00, 0x00, 0x6b}) {
		t.Fatalf("destination MAC % x", f[:6])
	}
	var sum uint32
	for i := 14; i < 34; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(f[i:]))
	}
	for sum > 0xFFFF {
		sum = sum&0xFFFF + sum>>16
	}
	if sum != 0xFFFF {
		t.Fatalf("IPv4 header checksum does not verify: %#x", sum)
	}
	if got := tapPayload(UDPv4, f); !bytes.Equal(got, msg) {
		t.Fatalf("payload %q", got)
	}
	if got := tapPayload(L2Forwardable, f); got != nil {
		t.Fatalf("an L2 port took a UDP frame: %q", got)
	}
	l2 := append([]byte{1, 0x1b, 0x19, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 10, 0x88, 0xF7}, msg...)
	if got := tapPayload(L2NonForwarding, l2); !bytes.Equal(got, msg) {
		t.Fatalf("tagged L2 payload %q", got)
	}
	other := udpFrame(src, [4]byte{}, [4]byte{198, 18, 0, 2}, 1, EventPort, msg)
	if got := tapPayload(UDPv4, other); got != nil {
		t.Fatal("took UDP 319 to a unicast address")
	}
}

func FuzzTapPayload(f *testing.F) {
	f.Add(udpFrame(net.HardwareAddr{2, 0, 0, 0, 0, 1}, [4]byte{}, [4]byte(PrimaryIPv4), 1, GeneralPort, []byte("x")))
	f.Add(append([]byte{1, 0x1b, 0x19, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0x88, 0xF7}, 0, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, m := range []Mode{UDPv4, L2Forwardable} {
			if p := tapPayload(m, b); p != nil && len(p) > len(b) {
				t.Fatal("payload beyond the frame")
			}
		}
	})
}
