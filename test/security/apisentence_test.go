package security

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/routerd/routerd/control/api"
)

// rawWord writes a word's length prefix (the 5-byte form, whatever the length) and then
// the word in 1 MiB chunks, as a raw socket client would.
func rawWord(c net.Conn, w string) error {
	n := len(w)
	if _, err := c.Write([]byte{0xF0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}); err != nil {
		return err
	}
	for len(w) > 0 {
		k := min(len(w), 1<<20)
		c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte(w[:k])); err != nil {
			return err
		}
		w = w[k:]
	}
	return nil
}

// rawSentence writes words with rawWord and the terminator.
func rawSentence(c net.Conn, words ...string) error {
	for _, w := range words {
		if err := rawWord(c, w); err != nil {
			return err
		}
	}
	_, err := c.Write([]byte{0})
	return err
}

// apiConn logs in as name over a raw socket.
func apiConn(t *testing.T, addr, name, password string) (net.Conn, *api.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rd := api.NewReader(c)
	rawSentence(c, "/login", "=name="+name, "=password="+password)
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if words, err := rd.ReadSentence(); err != nil || words[0] != "!done" {
		t.Fatalf("login: %v %v", words, err)
	}
	return c, rd
}

// reply reads sentences up to the !done (or !fatal) that ends a reply.
func reply(t *testing.T, c net.Conn, rd *api.Reader) [][]string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	var out [][]string
	for {
		words, err := rd.ReadSentence()
		if err != nil {
			t.Fatalf("reading a reply: %v (so far %v)", err, out)
		}
		out = append(out, words)
		if words[0] == "!done" || words[0] == "!fatal" {
			return out
		}
	}
}

// A logged-in API client may send words as long as the longest value RouterOS clients
// send (a 1 MiB script source); a 32 MiB word is read through, refused with a !trap
// naming the limit and the command's tag, and the connection stays usable. Ten
// connections sending 15 MiB words at once leave routerd's memory where it was.
func TestAPISentenceBoundAfterLogin(t *testing.T) {
	r := newRouter(t, []string{"api"})
	r.addUser("w", "write", "w-password-1")
	c, rd := apiConn(t, r.addr("api"), "w", "w-password-1")

	src := strings.Repeat(":put 1234567\n", (1<<20)/13)
	rawSentence(c, "/system/script/add", "=name=big", "=source="+src)
	if rep := reply(t, c, rd); rep[0][0] != "!done" {
		t.Fatalf("a 1 MiB script source: %.300v", rep)
	}
	if out := r.must(":put [:len [/system script get big source]]"); strings.TrimSpace(out) != fmt.Sprint(len(src)) {
		t.Errorf("the 1 MiB source was stored as %q bytes", strings.TrimSpace(out))
	}

	huge := strings.Repeat("x", 32<<20)
	rawSentence(c, "/system/script/add", ".tag=7", "=name=huge", "=source="+huge)
	rep := reply(t, c, rd)
	if len(rep) != 2 || rep[0][0] != "!trap" || !strings.Contains(strings.Join(rep[0], " "), "word too long") ||
		!strings.Contains(strings.Join(rep[0], " "), ".tag=7") || rep[1][0] != "!done" {
		t.Fatalf("a 32 MiB word: %.300v", rep)
	}
	t.Logf("a 32 MiB word after login: %v", rep[0])
	rawSentence(c, "/system/identity/print")
	if rep := reply(t, c, rd); rep[0][0] != "!re" {
		t.Fatalf("the connection after a refused word: %v", rep)
	}
	if out := r.must(":put [:len [/system script find name=huge]]"); strings.TrimSpace(out) != "0" {
		t.Errorf("the refused command ran: %q", out)
	}

	// Logged in first: a login's password hash costs memory of its own.
	type conn struct {
		c  net.Conn
		rd *api.Reader
	}
	var conns []conn
	for i := 0; i < 10; i++ {
		c, rd := apiConn(t, r.addr("api"), "w", "w-password-1")
		conns = append(conns, conn{c, rd})
	}
	before := r.vmRSS()
	var wg sync.WaitGroup
	for _, cn := range conns {
		c, rd := cn.c, cn.rd
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Under the protocol's 16 MiB, so accepted whole before the bound.
			rawSentence(c, "/system/script/add", "=name=x", "=source="+huge[:15<<20])
			c.SetReadDeadline(time.Now().Add(60 * time.Second))
			rd.ReadSentence()
		}()
	}
	wg.Wait()
	after := r.vmRSS()
	t.Logf("routerd RSS %d kB before, %d kB after 10 logged-in connections sent 15 MiB words", before, after)
	if after-before > 20*1024 {
		t.Errorf("ten 15 MiB words after login cost %d kB", after-before)
	}
	r.alive()
}
