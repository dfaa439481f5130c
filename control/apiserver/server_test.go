package apiserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/routerd/routerd/control"
	"github.com/routerd/routerd/control/api"
	"github.com/routerd/routerd/control/controltest"
	"github.com/routerd/routerd/control/user"
)

type rig struct {
	ex   *control.Executor
	srv  *Server
	addr string
	pw   string
}

func newRig(t testing.TB) *rig {
	t.Helper()
	dir := t.TempDir()
	ex := controltest.NewIn(t, dir)
	user.Register(ex, dir)
	if err := user.Seed(ex, dir); err != nil {
		t.Fatal(err)
	}
	pw, _ := os.ReadFile(filepath.Join(dir, user.InitialPasswordFile))
	auth := user.NewAuth(ex, nil)
	srv := New(ex, auth)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Protocol("api")(ctx, ln); close(done) }()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	return &rig{ex: ex, srv: srv, addr: ln.Addr().String(), pw: strings.TrimSpace(string(pw))}
}

type client struct {
	t testing.TB
	c net.Conn
	r *api.Reader
	w *api.Writer
}

func (r *rig) dial(t testing.TB) *client {
	t.Helper()
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &client{t: t, c: c, r: api.NewReader(c), w: api.NewWriter(c)}
}

func (r *rig) login(t testing.TB) *client {
	cl := r.dial(t)
	re := cl.do("/login", "=name=admin", "=password="+r.pw)
	if re[len(re)-1][0] != "!done" || len(re) != 1 {
		t.Fatalf("login: %v", re)
	}
	return cl
}

func (cl *client) send(words ...string) {
	if err := cl.w.WriteSentence(words...); err != nil {
		cl.t.Fatal(err)
	}
}

func (cl *client) read() []string {
	s, err := cl.r.ReadSentence()
	if err != nil {
		cl.t.Fatalf("read: %v", err)
	}
	return s
}

// do sends a request and reads replies up to !done or !fatal.
func (cl *client) do(words ...string) [][]string {
	cl.send(words...)
	var out [][]string
	for {
		s := cl.read()
		out = append(out, s)
		if s[0] == "!done" || s[0] == "!fatal" {
			return out
		}
	}
}

func TestLoginAndState(t *testing.T) {
	r := newRig(t)
	cl := r.dial(t)
	if re := cl.do("/system/script/print"); re[0][0] != "!fatal" || re[0][1] != "not logged in" {
		t.Fatalf("command before login: %v", re)
	}
	cl = r.dial(t)
	re := cl.do("/login", "=name=admin", "=password=wrong")
	if re[0][0] != "!trap" || !strings.Contains(strings.Join(re[0], " "), "invalid user name or password") {
		t.Fatalf("wrong password: %v", re)
	}
	// Legacy challenge: issued, then refused with the reason.
	re = cl.do("/login")
	if re[0][0] != "!done" || !strings.HasPrefix(re[0][1], "=ret=") || len(re[0][1]) != 5+32 {
		t.Fatalf("challenge: %v", re)
	}
	re = cl.do("/login", "=name=admin", "=response=00"+strings.Repeat("0", 32))
	if re[0][0] != "!trap" || !strings.Contains(strings.Join(re[0], " "), "legacy challenge") {
		t.Fatalf("challenge response: %v", re)
	}
	// The third failure on one connection closes it.
	cl.do("/login", "=name=admin", "=password=wrong")
	if s := cl.read(); s[0] != "!fatal" {
		t.Fatalf("after the third failure: %v", s)
	}
	cl = r.login(t)
	if re := cl.do("/quit"); re[0][0] != "!fatal" {
		t.Fatalf("quit: %v", re)
	}
}

func TestCommands(t *testing.T) {
	r := newRig(t)
	cl := r.login(t)
	re := cl.do("/system/script/add", "=name=s1", "=source=:put 1", ".tag=7")
	// The tag comes right after the reply word, as RouterOS sends it.
	if re[0][0] != "!done" || re[0][1] != ".tag=7" || re[0][2] != "=ret=*1" {
		t.Fatalf("add: %v", re)
	}
	cl.do("/system/script/add", "=name=s2", "=source=:put 2")
	re = cl.do("/system/script/print", "?name=s2", "=.proplist=.id,name")
	if len(re) != 2 || strings.Join(re[0], " ") != "!re =.id=*2 =name=s2" {
		t.Fatalf("print query: %v", re)
	}
	re = cl.do("/system/script/print", "?name=s1", "?name=s2", "?#|", ".proplist=name")
	if len(re) != 3 {
		t.Fatalf("print or-query: %v", re)
	}
	re = cl.do("/system/script/set", "=.id=*1", "=source=:put 3")
	if re[0][0] != "!done" {
		t.Fatalf("set: %v", re)
	}
	re = cl.do("/system/script/set", "=.id=*1", "=nosuch=1")
	if re[0][0] != "!trap" || re[1][0] != "!done" {
		t.Fatalf("bad set: %v", re)
	}
	re = cl.do("/system/script/remove", "=.id=*2")
	if re[0][0] != "!done" {
		t.Fatalf("remove: %v", re)
	}
	re = cl.do("/system/script/print", "?name=s2")
	if re[0][0] != "!empty" {
		t.Fatalf("print after remove: %v", re)
	}
	// A malformed word is a trap; the connection stays usable.
	re = cl.do("/system/script/print", "bogus")
	if re[0][0] != "!trap" {
		t.Fatalf("bad word: %v", re)
	}
	if re := cl.do("/system/identity/print"); re[len(re)-1][0] != "!done" {
		t.Fatalf("after bad word: %v", re)
	}
}

func TestListenCancelConcurrent(t *testing.T) {
	r := newRig(t)
	cl := r.login(t)
	cl.send("/system/script/listen", ".tag=l")
	// A second connection makes changes; the first streams them.
	other := r.login(t)
	// listen registers asynchronously: wait until a change is seen, making changes
	// until then.
	var got []string
	for i := 0; got == nil; i++ {
		other.do("/system/script/add", fmt.Sprintf("=name=w%d", i))
		cl.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		s, err := cl.r.ReadSentence()
		if err == nil {
			got = s
		} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatal(err)
		} else {
			cl = &client{t: t, c: cl.c, r: cl.r, w: cl.w}
		}
		if i > 50 {
			t.Fatal("listen streamed nothing")
		}
	}
	cl.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if got[0] != "!re" || got[1] != ".tag=l" || !strings.Contains(strings.Join(got, " "), "=name=w") {
		t.Fatalf("listen row: %v", got)
	}
	// Drain what the other adds produced, then a remove shows .dead.
	other.do("/system/script/remove", "=.id=*1")
	for {
		s := cl.read()
		if strings.Contains(strings.Join(s, " "), "=.dead=yes") {
			break
		}
	}
	// A tagged print runs while listen is running.
	re := cl.do("/system/script/print", ".tag=p", "=count-only=")
	if re[len(re)-1][0] != "!done" {
		t.Fatalf("print during listen: %v", re)
	}
	cl.send("/cancel", "=tag=l", ".tag=c")
	var seenTrap, seenDoneL, seenDoneC bool
	for !(seenTrap && seenDoneL && seenDoneC) {
		s := cl.read()
		j := strings.Join(s, " ")
		switch {
		case s[0] == "!trap" && strings.Contains(j, "interrupted") && s[1] == ".tag=l":
			seenTrap = true
		case s[0] == "!done" && s[1] == ".tag=l":
			seenDoneL = true
		case s[0] == "!done" && s[1] == ".tag=c":
			seenDoneC = true
		}
	}
	if re := cl.do("/cancel", "=tag=nosuch"); re[0][0] != "!trap" {
		t.Fatalf("cancel unknown tag: %v", re)
	}
}

func TestReadOnlyUser(t *testing.T) {
	r := newRig(t)
	adm := r.login(t)
	adm.do("/user/add", "=name=ro", "=group=read", "=password=pw")
	cl := r.dial(t)
	if re := cl.do("/login", "=name=ro", "=password=pw"); re[0][0] != "!done" {
		t.Fatalf("login ro: %v", re)
	}
	re := cl.do("/system/script/add", "=name=x")
	if re[0][0] != "!trap" || !strings.Contains(strings.Join(re[0], " "), "not enough permissions") {
		t.Fatalf("read user add: %v", re)
	}
	if re := cl.do("/system/script/print"); re[len(re)-1][0] != "!done" {
		t.Fatalf("read user print: %v", re)
	}
}
