package console

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/menu"
	"github.com/routerd/routerd/control/script"
	"github.com/routerd/routerd/control/store"
)

type server struct {
	sock string
	in   *script.Interp
	stop func()
}

func startServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "routerd.db"))
	if err != nil {
		t.Fatal(err)
	}
	ex := control.New(menu.Default(), st)
	if err := ex.Seed(); err != nil {
		t.Fatal(err)
	}
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	sock := filepath.Join(dir, "routerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, in, func() string { return "r1" }) }()
	s := &server{sock: sock, in: in}
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Serve did not return")
			}
			st.Close()
		})
	}
	t.Cleanup(s.stop)
	return s
}

func (s *server) dial(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(s.sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestIdentity(t *testing.T) {
	c := startServer(t).dial(t)
	id, err := c.Identity()
	if err != nil || id != "r1" {
		t.Fatalf("Identity = %q, %v", id, err)
	}
}

func TestRunRoundTrip(t *testing.T) {
	c := startServer(t).dial(t)
	tests := []struct {
		path, src, wantOut, wantPath, wantErr string
	}{
		{src: `:put hello`, wantOut: "hello\n"},
		{src: `/interface gre add name=g1 remote-address=10.0.0.1`},
		{src: `/interface gre`, wantPath: "/interface/gre"},
		{path: "/interface/gre", src: `:put [get g1 remote-address]`, wantOut: "10.0.0.1\n", wantPath: "/interface/gre"},
		{path: "/interface/gre", src: `..`, wantPath: "/interface"},
		{path: "/no/such/menu", src: `:put x`, wantOut: "x\n"},
		{src: `/nonsense command`, wantErr: "bad command name nonsense (line 1 column 2)"},
		{path: "/interface/gre", src: `set nosuch mtu=1400`, wantErr: "no such item", wantPath: "/interface/gre"},
		{src: ":for i from=1 to=3 do={ :put $i }", wantOut: "1\n2\n3\n"},
	}
	for _, tt := range tests {
		var out strings.Builder
		path, err := c.Run(tt.path, tt.src, false, 80, &out)
		if tt.wantErr != "" {
			var ce *Error
			if !errors.As(err, &ce) || ce.Msg != tt.wantErr {
				t.Errorf("%s: err = %v, want %q", tt.src, err, tt.wantErr)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tt.src, err)
		}
		if out.String() != tt.wantOut || path != tt.wantPath {
			t.Errorf("%s: out %q path %q, want %q %q", tt.src, out.String(), path, tt.wantOut, tt.wantPath)
		}
	}
}

// Bytes that are not UTF-8 reach the client as they are (:put of a Latin-1 comment, as
// RouterOS sends it to a terminal), and print shows them as export writes them (\E9),
// never as U+FFFD.
func TestRawBytes(t *testing.T) {
	c := startServer(t).dial(t)
	for _, tt := range []struct{ src, want string }{
		{`/system script add name=s1 comment="Caf\E9 \C7a"`, ""},
		{`:put [/system script get s1 comment]`, "Caf\xe9 \xc7a\n"},
		{`:put "\C3\A9t\C3\A9"`, "\u00e9t\u00e9\n"},
	} {
		var out strings.Builder
		if _, err := c.Run("", tt.src, false, 80, &out); err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if out.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.src, out.String(), tt.want)
		}
	}
	var out strings.Builder
	if _, err := c.Run("", "/system script print", false, 80, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `;;; Caf\E9 \C7a`) || strings.ContainsRune(out.String(), '\uFFFD') {
		t.Errorf("print:\n%s", out.String())
	}
}

// Print numbers belong to the connection's session: they persist between commands of one
// routerctl and are not seen by another.
func TestSessionPerConnection(t *testing.T) {
	s := startServer(t)
	a, b := s.dial(t), s.dial(t)
	for _, src := range []string{
		`/interface gre add name=g1 remote-address=10.0.0.1`,
		`/interface gre add name=g2 remote-address=10.0.0.2`,
	} {
		_, err := a.Run("", src, false, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Run("", `/interface gre print where name=g2`, false, 0, nil); err != nil {
		t.Fatal(err)
	}
	// For a, 0 is now g2; for b, which printed nothing, 0 is the first item.
	var out strings.Builder
	if _, err := a.Run("", `:put [/interface gre get 0 name]`, false, 0, &out); err != nil || out.String() != "g2\n" {
		t.Errorf("a: %q, %v", out.String(), err)
	}
	out.Reset()
	if _, err := b.Run("", `:put [/interface gre get 0 name]`, false, 0, &out); err != nil || out.String() != "g1\n" {
		t.Errorf("b: %q, %v", out.String(), err)
	}
}

func TestComplete(t *testing.T) {
	c := startServer(t).dial(t)
	words, err := c.Complete("", "/interface gr")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, w := range words {
		found = found || strings.HasPrefix(w, "gre")
	}
	if !found {
		t.Errorf("Complete = %q", words)
	}
}

// raw speaks the protocol by hand.
type raw struct {
	c  net.Conn
	sc *bufio.Scanner
}

func dialRaw(t *testing.T, sock string) *raw {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc := bufio.NewScanner(c)
	sc.Buffer(nil, 1<<20)
	return &raw{c: c, sc: sc}
}

func (r *raw) write(t *testing.T, s string) {
	t.Helper()
	if _, err := r.c.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func (r *raw) done(t *testing.T) response {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for r.sc.Scan() {
		var resp response
		if err := json.Unmarshal(r.sc.Bytes(), &resp); err != nil {
			t.Fatalf("server sent %q: %v", r.sc.Text(), err)
		}
		if resp.Done {
			return resp
		}
	}
	t.Fatalf("no done message: %v", r.sc.Err())
	return response{}
}

func TestMalformedInput(t *testing.T) {
	s := startServer(t)
	r := dialRaw(t, s.sock)
	for _, in := range []string{
		"not json\n",
		"{\n",
		"[1,2,3]\n",
		`{"op":"run","src":17}` + "\n",
		`{"op":"launch-missiles"}` + "\n",
		"\x00\xff\xfe\n",
		`{"op":"run","path":"/../..","src":"\u0000{[(\"\\"}` + "\n",
		`{"op":"complete","path":"\u0000","line":"/interface \"unterminated [ ( {"}` + "\n",
		"\n",
	} {
		r.write(t, in)
		resp := r.done(t)
		if strings.HasPrefix(in, `{"op":"complete"`) {
			continue // completion of nonsense may well be empty and no error
		}
		if resp.Error == "" {
			t.Errorf("%q: no error", in)
		}
	}
	// The connection still works after all that, and so does the server.
	r.write(t, `{"op":"identity"}`+"\n")
	if resp := r.done(t); resp.Identity != "r1" {
		t.Errorf("identity after garbage: %+v", resp)
	}
	if id, err := s.dial(t).Identity(); err != nil || id != "r1" {
		t.Errorf("new connection: %q %v", id, err)
	}
}

func TestTooLongRequest(t *testing.T) {
	s := startServer(t)
	r := dialRaw(t, s.sock)
	go func() {
		// The server stops reading after the limit and hangs up, so this write fails
		// part way; that is the point.
		buf := make([]byte, 1<<20)
		for i := range buf {
			buf[i] = 'x'
		}
		for n := 0; n <= maxRequest; n += len(buf) {
			if _, err := r.c.Write(buf); err != nil {
				return
			}
		}
	}()
	if resp := r.done(t); !strings.Contains(resp.Error, "longer than the limit") {
		t.Errorf("got %+v", resp)
	}
	if id, err := s.dial(t).Identity(); err != nil || id != "r1" {
		t.Errorf("server after a long line: %q %v", id, err)
	}
}

// A client that goes away mid-command interrupts the command, and the server goes on.
func TestDisconnectMidCommand(t *testing.T) {
	s := startServer(t)
	c := s.dial(t)
	if _, err := c.Run("", `:put ok`, false, 0, nil); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, s.sock)
	r.write(t, `{"op":"run","src":":delay 30s; /system identity set name=late"}`+"\n")
	time.Sleep(100 * time.Millisecond)
	r.c.Close()
	// A chatty command whose client disappears is interrupted by the failed write too.
	r2 := dialRaw(t, s.sock)
	r2.write(t, `{"op":"run","src":":for i from=1 to=100000000 do={ :put $i }"}`+"\n")
	time.Sleep(100 * time.Millisecond)
	r2.c.Close()

	c2 := s.dial(t)
	if id, err := c2.Identity(); err != nil || id != "r1" {
		t.Fatalf("after disconnect: %q %v", id, err)
	}
	// Shutdown must not wait for the abandoned commands: they were interrupted.
	start := time.Now()
	s.stop()
	if d := time.Since(start); d > drainTimeout {
		t.Errorf("shutdown took %v", d)
	}
	var out strings.Builder
	if _, err := c.Run("", ":put x", false, 0, &out); err == nil {
		t.Error("client still served after shutdown")
	}
}

func TestCancel(t *testing.T) {
	c := startServer(t).dial(t)
	if _, err := c.Run("", `:put ok`, false, 0, nil); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(200 * time.Millisecond)
		c.Cancel()
	}()
	start := time.Now()
	_, err := c.Run("", `:delay 30s`, false, 0, nil)
	if err == nil {
		t.Fatal(":delay 30s was not interrupted")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cancel took %v", d)
	}
	// The connection goes on.
	var out strings.Builder
	if _, err := c.Run("", `:put after`, false, 0, &out); err != nil || out.String() != "after\n" {
		t.Errorf("after cancel: %q %v", out.String(), err)
	}
}

func TestIncomplete(t *testing.T) {
	tests := map[string]bool{
		``:                                   false,
		`:put x`:                             false,
		`:if (true) do={`:                    true,
		"{\n:put 1\n}":                       false,
		`:put "abc`:                          true,
		`:put "a\"b"`:                        false,
		`:put "{"`:                           false,
		"/ip address add \\":                 true,
		"/ip address add \\\n address=1":     false,
		"# comment with {\n:put 1":           false,
		":put 1; # {":                        false,
		`:put [/ip address find`:             true,
		`:put (1 + `:                         true,
		`}}}`:                                false,
		":foreach i in={1;2} do={\n :put $i": true,
	}
	for src, want := range tests {
		if got := Incomplete(src); got != want {
			t.Errorf("Incomplete(%q) = %v, want %v", src, got, want)
		}
	}
}

func FuzzServerRequest(f *testing.F) {
	f.Add([]byte(`{"op":"run","src":":put 1"}`))
	f.Add([]byte(`{"op":"complete","line":"/ip"}`))
	f.Add([]byte(`{"op":"identity"}`))
	f.Add([]byte("garbage"))
	dir := f.TempDir()
	st, err := store.Open(filepath.Join(dir, "routerd.db"))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	ex := control.New(menu.Default(), st)
	in := &script.Interp{Ex: ex, Globals: &script.Globals{}}
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "delay") {
			return // a fuzzed :delay only makes the run slow
		}
		a, b := net.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done := make(chan struct{})
		go func() {
			serveConn(ctx, b, in, func() string { return "r" }, nil)
			close(done)
		}()
		go func() {
			a.Write(append(data, '\n'))
			a.Write([]byte(`{"op":"identity"}` + "\n"))
		}()
		sc := bufio.NewScanner(a)
		sc.Buffer(nil, 64<<20)
		a.SetReadDeadline(time.Now().Add(5 * time.Second))
		for sc.Scan() {
			var r response
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("bad response %q", sc.Text())
			}
			if r.Identity == "r" {
				break
			}
		}
		a.Close()
		<-done
	})
}

// A script file run as one unit (routerctl -f) stops at the first failing statement and
// names its line, as /import does; an interactive line's error stays as it was.
func TestFileErrorLocated(t *testing.T) {
	c := startServer(t).dial(t)
	src := "/interface gre add name=g1 remote-address=10.0.0.1\n\n/interface gre\n  add name=g1 remote-address=10.0.0.2\nadd name=g3 remote-address=10.0.0.3\n"
	c.File = true
	_, err := c.Run("", src, false, 80, nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Msg != "failure: already have such name (line 4 column 3)" {
		t.Errorf("file: err = %v", err)
	}
	c.File = false
	if _, err := c.Run("", "/interface gre add name=g1 remote-address=10.0.0.2", false, 80, nil); err == nil || err.Error() != "failure: already have such name" {
		t.Errorf("line: err = %v", err)
	}
	var out strings.Builder
	if _, err := c.Run("", ":put [:len [/interface gre find]]", false, 80, &out); err != nil || out.String() != "1\n" {
		t.Errorf("after the failure: %q %v (the file stops at it)", out.String(), err)
	}
}
