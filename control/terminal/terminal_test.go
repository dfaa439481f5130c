package terminal

import (
	"bytes"
	"context"
	"testing"
	"unicode/utf8"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
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

// TestLoginNote: the note shows after login while show-at-login is yes.
func TestLoginNote(t *testing.T) {
	ex := controltest.NewIn(t, t.TempDir())
	ctx := context.Background()
	if got := LoginNote(ctx, ex); got != "" {
		t.Fatalf("no note set: %q", got)
	}
	set := func(args ...control.Arg) {
		t.Helper()
		if _, err := ex.Exec(ctx, nil, &control.Sentence{Path: "/system/note", Cmd: "set", Args: args}); err != nil {
			t.Fatal(err)
		}
	}
	set(control.Arg{Name: "note", Value: "Authorised use only.\nCall ops on 123."})
	if got := LoginNote(ctx, ex); got != "Authorised use only.\nCall ops on 123." {
		t.Fatalf("note: %q", got)
	}
	set(control.Arg{Name: "show-at-login", Value: "no"})
	if got := LoginNote(ctx, ex); got != "" {
		t.Fatalf("show-at-login=no: %q", got)
	}
}
