package tftp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clientError is an ERROR packet the server sent.
type clientError struct {
	code uint16
	msg  string
}

func (e *clientError) Error() string { return fmt.Sprintf("server error %d: %s", e.code, e.msg) }

func errCode(err error) int {
	var ce *clientError
	if errors.As(err, &ce) {
		return int(ce.code)
	}
	return -1
}

// opt is one request option in the order sent.
type opt struct{ k, v string }

func request(op uint16, name, mode string, opts []opt) []byte {
	m, order := map[string]string{}, []string{}
	for _, o := range opts {
		m[o.k] = o.v
		order = append(order, o.k)
	}
	return appendRequest(nil, op, name, mode, order, m)
}

// testGet is a small RFC 1350/2347/7440 client: it reads name and returns the data and
// the options the server accepted.
func testGet(t *testing.T, srv netip.AddrPort, name, mode string, opts ...opt) ([]byte, map[string]string, error) {
	t.Helper()
	return testGetLossy(t, srv, name, mode, nil, opts...)
}

// testGetLossy is testGet that ignores block i, as if lost, the first drop[i] times it
// arrives.
func testGetLossy(t *testing.T, srv netip.AddrPort, name, mode string, drop map[uint64]int, opts ...opt) ([]byte, map[string]string, error) {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IP(srv.Addr().AsSlice())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteToUDPAddrPort(request(opRRQ, name, mode, opts), srv)
	blksize, window := 512, 1
	var (
		out      bytes.Buffer
		tid      netip.AddrPort
		expected = uint64(1)
		inWin    int
		accepted map[string]string
	)
	buf := make([]byte, 70000)
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return nil, nil, err
		}
		if !tid.IsValid() {
			tid = from
		} else if from != tid {
			continue
		}
		p, err := Parse(buf[:n])
		if err != nil {
			return nil, nil, err
		}
		switch p.Op {
		case opERROR:
			return nil, nil, &clientError{p.Code, p.Msg}
		case opOACK:
			accepted = p.Options
			if v, ok := p.Options["blksize"]; ok {
				blksize, _ = strconv.Atoi(v)
			}
			if v, ok := p.Options["windowsize"]; ok {
				window, _ = strconv.Atoi(v)
			}
			c.WriteToUDPAddrPort(appendACK(nil, 0), tid)
		case opDATA:
			if p.Block == uint16(expected) && drop[expected] > 0 {
				drop[expected]--
				continue
			}
			if p.Block != uint16(expected) {
				c.WriteToUDPAddrPort(appendACK(nil, uint16(expected-1)), tid)
				inWin = 0
				continue
			}
			out.Write(p.Data)
			expected++
			inWin++
			if len(p.Data) < blksize {
				c.WriteToUDPAddrPort(appendACK(nil, p.Block), tid)
				return out.Bytes(), accepted, nil
			}
			if inWin == window {
				c.WriteToUDPAddrPort(appendACK(nil, p.Block), tid)
				inWin = 0
			}
		default:
			return nil, nil, fmt.Errorf("unexpected opcode %d", p.Op)
		}
	}
}

// testPut writes data as name, one block per ACK; abortAfter > 0 sends an ERROR instead
// of that block.
func testPut(t *testing.T, srv netip.AddrPort, name string, data []byte, abortAfter int, opts ...opt) error {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IP(srv.Addr().AsSlice())})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteToUDPAddrPort(request(opWRQ, name, "octet", opts), srv)
	blksize := 512
	var tid netip.AddrPort
	next := uint16(1)
	buf := make([]byte, 70000)
	sentLast := false
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return err
		}
		if !tid.IsValid() {
			tid = from
		}
		p, err := Parse(buf[:n])
		if err != nil {
			return err
		}
		switch p.Op {
		case opERROR:
			return &clientError{p.Code, p.Msg}
		case opOACK:
			if v, ok := p.Options["blksize"]; ok {
				blksize, _ = strconv.Atoi(v)
			}
		case opACK:
			if p.Block != next-1 {
				continue
			}
			if sentLast {
				return nil
			}
		}
		if abortAfter > 0 && int(next) > abortAfter {
			c.WriteToUDPAddrPort(appendError(nil, errUndefined, "changed my mind"), tid)
			return nil
		}
		off := int(next-1) * blksize
		end := min(off+blksize, len(data))
		sentLast = end-off < blksize
		c.WriteToUDPAddrPort(appendData(nil, next, data[off:end]), tid)
		next++
	}
}

type testServer struct {
	srv  *Server
	dir  string
	addr netip.AddrPort
	conn *net.UDPConn
}

// newTestServer serves a temporary files folder on 127.0.0.1 with the given rules.
func newTestServer(t *testing.T, maxBlock int, rules ...map[string]string) *testServer {
	t.Helper()
	return newTestServerWith(t, maxBlock, nil, rules...)
}

// newTestServerWith is newTestServer with setup run on the server before it serves.
func newTestServerWith(t *testing.T, maxBlock int, setup func(*Server), rules ...map[string]string) *testServer {
	t.Helper()
	dir := t.TempDir()
	files := filepath.Join(dir, "files")
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := &Config{MaxBlock: maxBlock}
	for i, p := range rules {
		r, err := CompileRule(uint64(i+1), p)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Rules = append(cfg.Rules, r)
	}
	s := &Server{Dir: files}
	if setup != nil {
		setup(s)
	}
	s.SetConfig(cfg)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ctx, conn) }()
	t.Cleanup(func() { cancel(); <-done })
	return &testServer{srv: s, dir: files, conn: conn, addr: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
}

func (ts *testServer) file(t *testing.T, name string, data []byte) {
	t.Helper()
	p := filepath.Join(ts.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestGet(t *testing.T) {
	ts := newTestServer(t, 4096, map[string]string{})
	small := []byte("hello\nworld\n")
	ts.file(t, "small.txt", small)
	ts.file(t, "exact.bin", pattern(1024)) // a multiple of 512: ends with an empty block
	ts.file(t, "big.bin", pattern(300_000))
	ts.file(t, "dir/in.bin", pattern(700))

	got, _, err := testGet(t, ts.addr, "small.txt", "octet")
	if err != nil || !bytes.Equal(got, small) {
		t.Fatalf("octet: %q %v", got, err)
	}
	got, _, err = testGet(t, ts.addr, "small.txt", "netascii")
	if err != nil || string(got) != "hello\r\nworld\r\n" {
		t.Fatalf("netascii: %q %v", got, err)
	}
	for _, name := range []string{"exact.bin", "big.bin", "dir/in.bin", "/dir/in.bin"} {
		want, _ := os.ReadFile(filepath.Join(ts.dir, name))
		got, _, err := testGet(t, ts.addr, name, "octet")
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	// Options: blksize is capped by max-block-size, tsize reports the size, windowsize
	// is accepted, an unknown option is left out.
	got, acc, err := testGet(t, ts.addr, "big.bin", "octet",
		opt{"blksize", "8192"}, opt{"tsize", "0"}, opt{"windowsize", "8"}, opt{"frobnicate", "1"})
	if err != nil || !bytes.Equal(got, pattern(300_000)) {
		t.Fatalf("with options: %d bytes, %v", len(got), err)
	}
	want := map[string]string{"blksize": "4096", "tsize": "300000", "windowsize": "8"}
	if fmt.Sprint(acc) != fmt.Sprint(want) {
		t.Fatalf("accepted %v, want %v", acc, want)
	}
	// A windowsize above what the server keeps is answered smaller (RFC 7440).
	_, acc, err = testGet(t, ts.addr, "big.bin", "octet", opt{"windowsize", "1000"})
	if err != nil || acc["windowsize"] != strconv.Itoa(maxWindow) {
		t.Fatalf("windowsize 1000: %v %v", acc, err)
	}
	if _, _, err := testGet(t, ts.addr, "missing.bin", "octet"); errCode(err) != errNotFound {
		t.Fatalf("missing file: %v", err)
	}
	if _, _, err := testGet(t, ts.addr, "dir", "octet"); errCode(err) != errNotFound {
		t.Fatalf("directory: %v", err)
	}
	if _, _, err := testGet(t, ts.addr, "small.txt", "mail"); errCode(err) != errIllegalOp {
		t.Fatalf("mail mode: %v", err)
	}
}

// A file of more than 65535 blocks needs allow-rollover; with it the block number wraps
// to 0 and the transfer completes.
func TestRollover(t *testing.T) {
	ts := newTestServer(t, 4096,
		map[string]string{"req-filename": "^roll", "allow-rollover": "yes"},
		map[string]string{})
	data := pattern(65536*8 + 3)
	ts.file(t, "roll.bin", data)
	ts.file(t, "noroll.bin", data)
	if _, _, err := testGet(t, ts.addr, "noroll.bin", "octet", opt{"blksize", "8"}, opt{"windowsize", "32"}); errCode(err) != errDiskFull {
		t.Fatalf("without allow-rollover: %v", err)
	}
	got, _, err := testGet(t, ts.addr, "roll.bin", "octet", opt{"blksize", "8"}, opt{"windowsize", "32"})
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("with allow-rollover: %d of %d bytes, %v", len(got), len(data), err)
	}
}

// Lost blocks are sent again: after a timeout with window 1, and from the first missing
// block on the receiver's ACK with a window (RFC 7440).
func TestLoss(t *testing.T) {
	ts := newTestServer(t, 4096, map[string]string{})
	data := pattern(40 * 512)
	ts.file(t, "f.bin", data)
	for _, tc := range []struct {
		drop map[uint64]int
		opts []opt
	}{
		{map[uint64]int{3: 1}, []opt{{"timeout", "1"}}},
		{map[uint64]int{1: 1, 6: 2, 7: 1, 40: 1, 41: 1}, []opt{{"windowsize", "4"}, {"timeout", "1"}}},
	} {
		got, _, err := testGetLossy(t, ts.addr, "f.bin", "octet", tc.drop, tc.opts...)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%v: %d bytes, %v", tc.drop, len(got), err)
		}
		for b, n := range tc.drop {
			if n != 0 {
				t.Fatalf("block %d was never sent again", b)
			}
		}
	}
}

func TestAccess(t *testing.T) {
	ts := newTestServer(t, 4096,
		map[string]string{"req-filename": "^secret", "allow": "no"},
		map[string]string{"req-filename": "^remote", "ip-addresses": "198.18.0.0/15"},
		map[string]string{"req-filename": "(aaa.bin)|(bbb.bin)", "real-filename": "/sata1/ccc.bin\\0", "read-only": "yes"},
		map[string]string{"req-filename": "^escape", "real-filename": "../outside.txt"},
		map[string]string{"req-filename": "^ro/", "read-only": "yes"},
		map[string]string{"req-filename": "^(pub|up)/"},
	)
	os.WriteFile(filepath.Join(filepath.Dir(ts.dir), "outside.txt"), []byte("private"), 0o644)
	ts.file(t, "secret.txt", []byte("s"))
	ts.file(t, "remote.txt", []byte("r"))
	ts.file(t, "sata1/ccc.bin", []byte("ccc"))
	ts.file(t, "pub/a.txt", []byte("a"))
	if err := os.Symlink("../../outside.txt", filepath.Join(ts.dir, "pub", "link.txt")); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"secret.txt", "remote.txt", "nomatch.txt", "escape", "pub/../../outside.txt",
		"pub/../pub/../../outside.txt", "/../outside.txt", "pub/link.txt"} {
		if _, _, err := testGet(t, ts.addr, name, "octet"); errCode(err) != errAccess {
			t.Errorf("%s: %v, want access violation", name, err)
		}
	}
	for _, name := range []string{"aaa.bin", "bbb.bin"} {
		if got, _, err := testGet(t, ts.addr, name, "octet"); err != nil || string(got) != "ccc" {
			t.Errorf("%s: %q %v", name, got, err)
		}
	}
	// Writes: refused by read-only, allowed and overwriting otherwise, and a write
	// aborted half-way leaves the old file alone.
	if err := testPut(t, ts.addr, "aaa.bin", []byte("x"), 0); errCode(err) != errAccess {
		t.Fatalf("write to a read-only rule: %v", err)
	}
	if err := testPut(t, ts.addr, "ro/new.bin", []byte("x"), 0); errCode(err) != errAccess {
		t.Fatalf("write to a read-only rule: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "ro/new.bin")); err == nil {
		t.Fatal("a refused write created the file")
	}
	if err := testPut(t, ts.addr, "pub/../../evil.txt", []byte("x"), 0); errCode(err) != errAccess {
		t.Fatalf("write outside: %v", err)
	}
	if err := testPut(t, ts.addr, "up/x.bin", []byte("x"), 0); errCode(err) != errNotFound {
		t.Fatalf("write into a missing folder: %v", err)
	}
	up := pattern(5000)
	if err := testPut(t, ts.addr, "pub/a.txt", up, 0, opt{"blksize", "1024"}, opt{"tsize", "5000"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(ts.dir, "pub/a.txt")); !bytes.Equal(got, up) {
		t.Fatalf("overwritten file has %d bytes", len(got))
	}
	if err := testPut(t, ts.addr, "pub/a.txt", pattern(9000), 3); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, ts.srv)
	if got, _ := os.ReadFile(filepath.Join(ts.dir, "pub/a.txt")); !bytes.Equal(got, up) {
		t.Fatalf("an aborted write changed the file (%d bytes)", len(got))
	}
	if ents, _ := os.ReadDir(filepath.Join(ts.dir, "pub")); len(ents) != 2 {
		t.Fatalf("pub/ holds %d entries after an aborted write, want 2 (a.txt, link.txt)", len(ents))
	}
}

func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	for i := 0; s.active.Load() > 0; i++ {
		if i > 1000 {
			t.Fatal("transfers still running")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Bad packets get an ERROR and change nothing; a stranger writing to a transfer's port
// gets "Unknown transfer ID" and the transfer goes on.
func TestBadPackets(t *testing.T) {
	ts := newTestServer(t, 4096, map[string]string{})
	ts.file(t, "f.bin", pattern(2000))
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	expect := func(pkt []byte, to netip.AddrPort, code uint16) {
		t.Helper()
		c.WriteToUDPAddrPort(pkt, to)
		buf := make([]byte, 1024)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("%q: %v", pkt, err)
		}
		p, err := Parse(buf[:n])
		if err != nil || p.Op != opERROR || p.Code != code {
			t.Fatalf("%q: got %+v %v, want error %d", pkt, p, err, code)
		}
	}
	expect([]byte{0}, ts.addr, errIllegalOp)
	expect([]byte("\x00\x01f.bin"), ts.addr, errIllegalOp)
	expect([]byte("\x00\x09junk"), ts.addr, errIllegalOp)
	// An ERROR gets no ERROR back: the next answer is to the packet after it.
	c.WriteToUDPAddrPort(appendError(nil, errUndefined, "x"), ts.addr)
	expect([]byte{0, 9}, ts.addr, errIllegalOp)
	expect(appendACK(nil, 1), ts.addr, errUnknownTID)
	expect(appendData(nil, 1, []byte("x")), ts.addr, errUnknownTID)

	// Start a read by hand, then poke its port from another socket.
	c.WriteToUDPAddrPort(request(opRRQ, "f.bin", "octet", nil), ts.addr)
	buf := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, tid, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := Parse(buf[:n]); err != nil || p.Op != opDATA || p.Block != 1 {
		t.Fatalf("first block: %+v %v", p, err)
	}
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	stranger.WriteToUDPAddrPort(appendACK(nil, 1), tid)
	stranger.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := stranger.ReadFromUDPAddrPort(buf); err != nil {
		t.Fatal(err)
	} else if p, err := Parse(buf[:n]); err != nil || p.Code != errUnknownTID {
		t.Fatalf("stranger got %+v %v", p, err)
	}
	c.WriteToUDPAddrPort(appendACK(nil, 1), tid)
	n, _, err = c.ReadFromUDPAddrPort(buf)
	if p, _ := Parse(buf[:n]); err != nil || p.Op != opDATA || p.Block != 2 {
		t.Fatalf("after the stranger: %+v %v", p, err)
	}
	// A malformed packet from the client ends its transfer with an ERROR.
	c.WriteToUDPAddrPort([]byte{0, 4, 0}, tid)
	n, _, err = c.ReadFromUDPAddrPort(buf)
	if p, _ := Parse(buf[:n]); err != nil || p.Op != opERROR || p.Code != errIllegalOp {
		t.Fatalf("after a malformed ACK: %+v %v", p, err)
	}
	waitIdle(t, ts.srv)
	if got, _ := os.ReadFile(filepath.Join(ts.dir, "f.bin")); !bytes.Equal(got, pattern(2000)) {
		t.Fatal("file changed")
	}
}

// One client gets at most maxPerClient transfers at a time; the next is told the server
// is busy, and another client is still served.
func TestPerClientLimit(t *testing.T) {
	ts := newTestServer(t, 4096, map[string]string{})
	ts.file(t, "f.bin", pattern(5000))
	buf := make([]byte, 1024)
	for range maxPerClient {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Ask with a long timeout and never acknowledge: the transfer holds its slot.
		c.WriteToUDPAddrPort(request(opRRQ, "f.bin", "octet", []opt{{"timeout", "60"}}), ts.addr)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := testGet(t, ts.addr, "f.bin", "octet"); errCode(err) != errUndefined {
		t.Fatalf("request %d from one client: %v, want Server busy", maxPerClient+1, err)
	}
	// 127.0.0.2 is another client on the same loopback.
	other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), 0)
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(other))
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	defer c.Close()
	c.WriteToUDPAddrPort(request(opRRQ, "f.bin", "octet", nil), ts.addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if p, _ := Parse(buf[:n]); err != nil || p.Op != opDATA {
		t.Fatalf("another client: %+v %v", p, err)
	}
}

// A panic while handling a request or a client's packet (a bug that a client's bytes
// hit; injected here) ends that request or transfer only: the client is told, it is
// counted and reported, and the server goes on serving the transfer beside it and the
// next request.
func TestPanicEndsOneTransfer(t *testing.T) {
	var mu sync.Mutex
	var reported []string
	var boom atomic.Bool // the hook makes boom.bin's transfers panic
	reg := prometheus.NewRegistry()
	ts := newTestServerWith(t, 4096, func(s *Server) {
		s.Metrics = NewMetrics(reg)
		s.Recovered = func(what string, p any) {
			mu.Lock()
			reported = append(reported, fmt.Sprintf("%s: %v", what, p))
			mu.Unlock()
		}
		s.setHook(func(where string, p *Packet) {
			switch {
			case where == "request" && p.Filename == "crash-request":
				panic("request parser bug")
			case where == "packet" && p.Op == opACK && p.Block == 2:
				// The second ACK of every transfer of boom.bin.
				if boom.Load() {
					panic("ack handling bug")
				}
			}
		})
	}, map[string]string{})
	ts.file(t, "boom.bin", pattern(5000))
	ts.file(t, "ok.bin", pattern(3000))

	// A transfer beside the one that panics: started, held after its first block.
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteToUDPAddrPort(request(opRRQ, "ok.bin", "octet", nil), ts.addr)
	buf := make([]byte, 1024)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, tid, err := c.ReadFromUDPAddrPort(buf)
	if p, _ := Parse(buf[:n]); err != nil || p.Op != opDATA || p.Block != 1 {
		t.Fatalf("first block of ok.bin: %+v %v", p, err)
	}

	boom.Store(true)
	if _, _, err := testGet(t, ts.addr, "boom.bin", "octet"); errCode(err) != errUndefined || !strings.Contains(err.Error(), "Internal error") {
		t.Fatalf("the transfer that panics: %v, want ERROR 0 Internal error", err)
	}
	if _, _, err := testGet(t, ts.addr, "crash-request", "octet"); errCode(err) != errUndefined || !strings.Contains(err.Error(), "Internal error") {
		t.Fatalf("the request that panics: %v, want ERROR 0 Internal error", err)
	}
	boom.Store(false)

	// The transfer beside goes on where it was.
	c.WriteToUDPAddrPort(appendACK(nil, 1), tid)
	n, _, err = c.ReadFromUDPAddrPort(buf)
	if p, _ := Parse(buf[:n]); err != nil || p.Op != opDATA || p.Block != 2 {
		t.Fatalf("ok.bin after the panic: %+v %v", p, err)
	}
	c.WriteToUDPAddrPort(appendError(nil, errUndefined, "done"), tid)
	// And a new one is served whole.
	if got, _, err := testGet(t, ts.addr, "boom.bin", "octet"); err != nil || !bytes.Equal(got, pattern(5000)) {
		t.Fatalf("boom.bin after the panic: %d bytes, %v", len(got), err)
	}
	waitIdle(t, ts.srv)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(reported)
	if want := []string{"tftp read: ack handling bug", "tftp request: request parser bug"}; !slices.Equal(reported, want) {
		t.Errorf("reported %q, want %q", reported, want)
	}
	for _, op := range []string{"read", "request"} {
		if n := testutil.ToFloat64(ts.srv.Metrics.Requests.WithLabelValues(op, "internal-error")); n != 1 {
			t.Errorf("%s internal-error counted %v, want 1", op, n)
		}
	}
}

func (s *Server) setHook(f func(where string, p *Packet)) { s.hook.Store(&f) }
