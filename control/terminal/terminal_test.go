package terminal

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

func TestPrompt(t *testing.T) {
	if got := Prompt("admin", "", ""); got != "[admin@MikroTik] > " {
		t.Fatalf("%q", got)
	}
	if got := Prompt("ops", "r1", "/ip/service"); got != "[ops@r1] /ip/service> " {
		t.Fatalf("%q", got)
	}
}

// FuzzValidUTF8 checks the input filter: its output is valid UTF-8, keeps every valid
// sequence and does not depend on where the stream is split.
func FuzzValidUTF8(f *testing.F) {
	f.Add([]byte("héllo\xff\x80wörld"), 2)
	f.Add([]byte("\xe2\x82"), 1)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		var p1, p2 []byte
		whole := validUTF8(&p1, in)
		parts := append(validUTF8(&p2, in[:split]), validUTF8(&p2, in[split:])...)
		if !bytes.Equal(whole, parts) || !bytes.Equal(p1, p2) {
			t.Fatalf("split at %d: %q+%q vs %q+%q", split, whole, p1, parts, p2)
		}
		if !utf8.Valid(whole) || len(p1) > utf8.UTFMax {
			t.Fatalf("output %q, pending %q", whole, p1)
		}
		if utf8.Valid(in) && !bytes.Equal(append(whole, p1...), in) {
			t.Fatalf("valid input %q changed to %q", in, whole)
		}
	})
}
