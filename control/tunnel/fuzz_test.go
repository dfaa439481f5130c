package tunnel

import (
	"bytes"
	"net"
	"strings"
	"testing"
)

// FuzzLoopFrameSource: any bytes from the wire; a frame is taken only when it is a loop
// protect frame, and then its source is the six bytes after the destination.
func FuzzLoopFrameSource(f *testing.F) {
	g := &loopGuard{mac: "FE:01:02:03:04:05"}
	f.Add(g.frame())
	f.Add([]byte{})
	f.Add(make([]byte, 13))
	f.Add(append(make([]byte, 12), 0x08, 0x00))
	f.Fuzz(func(t *testing.T, b []byte) {
		src, ok := loopFrameSource(b)
		want := len(b) >= 14 && b[12] == 0x90 && b[13] == 0x03
		if ok != want {
			t.Fatalf("ok %v for %x", ok, b)
		}
		if ok {
			hw, err := net.ParseMAC(src)
			if err != nil || !bytes.Equal(hw, b[6:12]) || src != strings.ToUpper(src) {
				t.Fatalf("source %q of %x", src, b)
			}
		}
	})
}

// TestLoopFrame: the frame the guard sends is what it recognises, from its MAC, broadcast.
func TestLoopFrame(t *testing.T) {
	g := &loopGuard{mac: "FE:01:02:03:04:05"}
	fr := g.frame()
	if src, ok := loopFrameSource(fr); !ok || src != g.mac {
		t.Fatalf("own frame: %q %v", src, ok)
	}
	if !bytes.Equal(fr[:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) || len(fr) < 60 {
		t.Fatalf("frame %x", fr)
	}
}
