package terminal

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/script"
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

// TestQuestionMarkHelp: `?` prints help for what is typed and keeps the line; inside
// quotes it is a character.
func TestQuestionMarkHelp(t *testing.T) {
	ex := controltest.NewIn(t, t.TempDir())
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	kr, kw := io.Pipe()
	var out syncBuf
	term := New(kr, &out)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- term.Run(ctx, Shell{Interp: in, Sess: &control.Session{User: "admin"}}) }()
	kw.Write([]byte("/system ?"))
	waitFor(t, &out, "script/")
	kw.Write([]byte("identity set name=\"a?b\"\r"))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m, _ := ex.Tree.Get("/system/identity")
		if rows, _ := ex.Rows(ctx, nil, m, false); len(rows) == 1 && rows[0].Props["name"] == "a?b" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity not set with the quoted ?:\n%q", out.String())
		}
	}
	if !strings.Contains(out.String(), "/system ?\r\n") && !strings.Contains(out.String(), "/system ?\n") {
		t.Errorf("the typed line was not echoed before the help:\n%q", out.String())
	}
	kw.Close()
	<-done
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, b *syncBuf, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(b.String(), want); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %q in:\n%q", want, b.String())
		}
	}
}

// panicReader panics on its first read, as a bug in the stream below would.
type panicReader struct{}

func (panicReader) Read([]byte) (int, error) { panic("injected") }

// A panic in the input's reader goroutine ends the input as a read error does (the
// session ends), not the daemon.
func TestInputPanicEndsInput(t *testing.T) {
	in := newInput(panicReader{})
	_, err := in.Read(make([]byte, 16))
	if err == nil || !strings.Contains(err.Error(), "internal error: injected") {
		t.Fatalf("read after the panic: %v", err)
	}
}
