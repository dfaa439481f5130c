package telnet

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/user"
)

const adminPW = "telnet-admin-pw"

func startServer(t *testing.T) (string, *control.Executor) {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	user.Register(ex, dir)
	for _, u := range [][3]string{{"admin", "full", adminPW}, {"viewer", "read", adminPW}} {
		if err := user.Put(context.Background(), ex, u[0], u[1], u[2]); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Interp: &script.Interp{Ex: ex, Globals: &script.Globals{}}, Auth: user.NewAuth(ex, nil)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String(), ex
}

// client is a telnet client: it answers the server's negotiation as a terminal would
// and collects the data it receives.
type client struct {
	t   *testing.T
	c   net.Conn
	dec Decoder
	out bytes.Buffer
}

func dial(t *testing.T, addr string) *client {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c}
	// Agree to the server's echo and go-ahead suppression, offer the window size.
	cl.send([]byte{cmdIAC, cmdDO, optEcho, cmdIAC, cmdDO, optSGA, cmdIAC, cmdWILL, optSGA, cmdIAC, cmdWILL, optNAWS,
		cmdIAC, cmdSB, optNAWS, 0, 100, 0, 30, cmdIAC, cmdSE})
	return cl
}

func (cl *client) send(b []byte) {
	if _, err := cl.c.Write(b); err != nil {
		cl.t.Fatal(err)
	}
}

// expect reads until the data received contains want; it returns what came before it
// and keeps the rest. The deadline only bounds a failing test.
func (cl *client) expect(want string) string {
	cl.t.Helper()
	cl.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	buf := make([]byte, 4096)
	for {
		if i := strings.Index(cl.out.String(), want); i >= 0 {
			s := cl.out.String()
			cl.out.Reset()
			cl.out.WriteString(s[i+len(want):])
			return s[:i]
		}
		n, err := cl.c.Read(buf)
		data, _, _ := cl.dec.Decode(buf[:n])
		cl.out.Write(data)
		if err != nil {
			cl.t.Fatalf("waiting for %q: %v; got %q", want, err, cl.out.String())
		}
	}
}

func TestConsole(t *testing.T) {
	addr, ex := startServer(t)

	bad := dial(t, addr)
	bad.expect("Login: ")
	bad.send([]byte("admin\r\n"))
	bad.expect("Password: ")
	bad.send([]byte("wrong\r\x00"))
	bad.expect("Login failed")
	bad.expect("Login: ")

	cl := dial(t, addr)
	cl.expect("Login: ")
	cl.send([]byte("admin\r\x00"))
	cl.expect("Password: ")
	cl.send([]byte(adminPW + "\r\n"))
	cl.expect("[admin@MikroTik] > ")
	cl.send([]byte("/ip service print count-only\r\n"))
	if got := cl.expect("[admin@MikroTik] > "); !strings.Contains(got, "\r8\r") {
		t.Fatalf("count-only: %q", got)
	}
	// Tab completes, echoed by the server (character mode).
	cl.send([]byte("/system ide\t"))
	cl.expect("/system identity ")
	cl.send([]byte("set name=tel\xff\xffn\xc3\xa9t\r\n"))
	cl.expect("] > ")
	m, _ := ex.Tree.Get("/system/identity")
	rows, _ := ex.Rows(context.Background(), nil, m, false)
	if rows[0].Props["name"] != "telnét" {
		t.Fatalf("identity %q", rows[0].Props["name"])
	}
	// An error is shown and the console goes on.
	cl.send([]byte("/ip service set www port=0\r\n"))
	cl.expect("out of range")
	cl.send([]byte("/quit\r\n"))
	cl.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadAll(cl.c); err != nil {
		t.Fatalf("after quit: %v", err)
	}

	// A read-only user cannot change the configuration.
	v := dial(t, addr)
	v.expect("Login: ")
	v.send([]byte("viewer\r\n"))
	v.expect("Password: ")
	v.send([]byte(adminPW + "\r\n"))
	v.expect("] > ")
	v.send([]byte("/system identity set name=nope\r\n"))
	v.expect("not enough permissions")
}

func TestDecoder(t *testing.T) {
	var d Decoder
	start := d.Start()
	if !bytes.Equal(start, []byte{cmdIAC, cmdWILL, optEcho, cmdIAC, cmdWILL, optSGA, cmdIAC, cmdDO, optSGA, cmdIAC, cmdDO, optNAWS}) {
		t.Fatalf("start %v", start)
	}
	for _, c := range []struct {
		name        string
		in          []byte
		data, reply []byte
		sizes       []Size
	}{
		{"answers to our requests need no reply", []byte{cmdIAC, cmdDO, optEcho, cmdIAC, cmdWILL, optNAWS, cmdIAC, cmdDO, optSGA, cmdIAC, cmdWILL, optSGA}, nil, nil, nil},
		{"repeated DO is not answered", []byte{cmdIAC, cmdDO, optEcho}, nil, nil, nil},
		{"unknown option refused", []byte{cmdIAC, cmdDO, 24, cmdIAC, cmdWILL, 24}, nil, []byte{cmdIAC, cmdWONT, 24, cmdIAC, cmdDONT, 24}, nil},
		{"NAWS", []byte{'a', cmdIAC, cmdSB, optNAWS, 0, 132, 0, 50, cmdIAC, cmdSE, 'b'}, []byte("ab"), nil, []Size{{132, 50}}},
		{"NAWS with escaped 255", []byte{cmdIAC, cmdSB, optNAWS, 0, cmdIAC, cmdIAC, 0, 40, cmdIAC, cmdSE}, nil, nil, []Size{{255, 40}}},
		{"CR NUL and CR LF", []byte("a\r\x00b\r\nc"), []byte("a\rb\rc"), nil, nil},
		{"escaped IAC", []byte{'x', cmdIAC, cmdIAC, 'y'}, []byte{'x', cmdIAC, 'y'}, nil, nil},
		{"interrupt process", []byte{cmdIAC, cmdIP}, []byte{3}, nil, nil},
		{"DONT ECHO turns echo off", []byte{cmdIAC, cmdDONT, optEcho}, nil, []byte{cmdIAC, cmdWONT, optEcho}, nil},
		{"DO ECHO again turns it on", []byte{cmdIAC, cmdDO, optEcho}, nil, []byte{cmdIAC, cmdWILL, optEcho}, nil},
		{"command inside SB", []byte{cmdIAC, cmdSB, optNAWS, 1, cmdIAC, cmdDO, 99}, nil, []byte{cmdIAC, cmdWONT, 99}, nil},
	} {
		data, reply, sizes := d.Decode(c.in)
		if !bytes.Equal(data, c.data) || !bytes.Equal(reply, c.reply) || len(sizes) != len(c.sizes) {
			t.Errorf("%s: data %q reply %v sizes %v", c.name, data, reply, sizes)
			continue
		}
		for i := range sizes {
			if sizes[i] != c.sizes[i] {
				t.Errorf("%s: sizes %v", c.name, sizes)
			}
		}
	}
	if got := Escape([]byte{1, cmdIAC, 2}); !bytes.Equal(got, []byte{1, cmdIAC, cmdIAC, 2}) {
		t.Fatalf("escape %v", got)
	}
}

// FuzzDecoder feeds arbitrary client bytes, split at an arbitrary point: the decoder
// must not panic, must give the same result however the stream is split, must answer
// only with well-formed negotiation, and must not answer the same thing twice in a row
// (the loop RFC 854 forbids).
func FuzzDecoder(f *testing.F) {
	f.Add([]byte{cmdIAC, cmdDO, optEcho, 'a', cmdIAC, cmdSB, optNAWS, 0, 80, 0, 24, cmdIAC, cmdSE}, 3)
	f.Add([]byte("abc\r\n\r\x00"), 1)
	f.Add([]byte{cmdIAC, cmdWILL, 5, cmdIAC, cmdWILL, 5, cmdIAC, cmdIAC}, 2)
	f.Fuzz(func(t *testing.T, in []byte, split int) {
		var whole, parts Decoder
		whole.Start()
		parts.Start()
		d1, r1, s1 := whole.Decode(in)
		if split < 0 || split > len(in) {
			split = len(in) / 2
		}
		d2a, r2a, s2a := parts.Decode(in[:split])
		d2b, r2b, s2b := parts.Decode(in[split:])
		if !bytes.Equal(d1, append(d2a, d2b...)) || !bytes.Equal(r1, append(r2a, r2b...)) || len(s1) != len(s2a)+len(s2b) {
			t.Fatalf("split at %d changes the result", split)
		}
		if len(d1) > len(in) {
			t.Fatalf("%d data bytes from %d input bytes", len(d1), len(in))
		}
		if len(r1)%3 != 0 {
			t.Fatalf("reply %v is not made of 3-byte commands", r1)
		}
		for i := 0; i < len(r1); i += 3 {
			if r1[i] != cmdIAC || r1[i+1] < cmdWILL || r1[i+1] > cmdDONT {
				t.Fatalf("malformed reply %v", r1)
			}
		}
		for _, s := range s1 {
			if s.Width <= 0 || s.Width > 65535 || s.Height < 0 || s.Height > 65535 {
				t.Fatalf("size %v", s)
			}
		}
	})
}
