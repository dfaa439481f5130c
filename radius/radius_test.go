package radius

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// listen opens a loopback UDP socket for a test server.
func listen(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func port(c *net.UDPConn) uint16 { return uint16(c.LocalAddr().(*net.UDPAddr).Port) }

// serve runs a Responder for secret on a loopback socket.
func serve(t *testing.T, secret string, auth Handler) (*Responder, uint16) {
	t.Helper()
	c := listen(t)
	r := &Responder{
		Secret: func(netip.Addr) ([]byte, string, bool) { return []byte(secret), "test", true },
		Auth:   auth,
		Acct: func(ctx context.Context, q *Request) *radius.Packet {
			return q.Response(radius.CodeAccountingResponse)
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Serve(ctx, c) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, port(c)
}

func server(id uint64, p uint16, secret string) Server {
	s := DefaultServer()
	s.ID, s.Addr, s.AuthPort, s.AcctPort = id, netip.MustParseAddr("127.0.0.1"), p, p
	s.Secret, s.Services, s.Timeout = []byte(secret), []string{"ipsec"}, 200*time.Millisecond
	return s
}

// TestClientAgainstResponder: PAP accept, EAP-Message fragmented both ways, MPPE keys
// decrypted to the MSK, accounting answered.
func TestClientAgainstResponder(t *testing.T) {
	eapIn := bytes.Repeat([]byte{0xab}, 700)
	eapOut := bytes.Repeat([]byte{0xcd}, 600)
	recv, send := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	_, p := serve(t, "s3cret", func(ctx context.Context, q *Request) *radius.Packet {
		pw, err := PAPPassword(q.Packet)
		if err != nil || pw != "password" || !bytes.Equal(EAPMessage(q.Packet), eapIn) {
			return q.Response(radius.CodeAccessReject)
		}
		r := q.Response(radius.CodeAccessAccept)
		SetEAPMessage(r, eapOut)
		if err := SetMPPEKeys(r, recv, send); err != nil {
			t.Error(err)
		}
		return r
	})
	c := NewClient(nil)
	c.SetServers([]Server{server(1, p, "s3cret")})
	r, err := c.Authenticate(context.Background(), "ipsec", func(q *radius.Packet, s Server) error {
		rfc2865.UserName_SetString(q, "user1")
		rfc2865.UserPassword_SetString(q, "password")
		SetEAPMessage(q, eapIn)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != radius.CodeAccessAccept {
		t.Fatalf("got %v", r.Code)
	}
	if !bytes.Equal(EAPMessage(r.Packet), eapOut) {
		t.Fatal("EAP-Message not reassembled")
	}
	msk, err := MSK(r.Packet, r.Request)
	if err != nil || !bytes.Equal(msk, append(recv, send...)) {
		t.Fatalf("MSK %x %v", msk, err)
	}
	if err := c.Account(context.Background(), "ipsec", func(q *radius.Packet) error {
		rfc2865.UserName_SetString(q, "user1")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	k := c.Counters(1)
	if k.Requests.Load() != 1 || k.Accepts.Load() != 1 || k.AcctResponses.Load() != 1 || k.BadReplies.Load() != 0 {
		t.Fatalf("counters %+v", k)
	}
}

// TestFailover: a server with another secret drops the request (its Message-Authenticator
// does not verify there); the client tries it Tries times, then asks the next server.
func TestFailover(t *testing.T) {
	_, bad := serve(t, "other-secret", func(ctx context.Context, q *Request) *radius.Packet {
		return q.Response(radius.CodeAccessAccept)
	})
	_, good := serve(t, "s3cret", func(ctx context.Context, q *Request) *radius.Packet {
		return q.Response(radius.CodeAccessReject)
	})
	c := NewClient(nil)
	c.SetServers([]Server{server(1, bad, "s3cret"), server(2, good, "s3cret")})
	r, err := c.Authenticate(context.Background(), "ipsec", func(q *radius.Packet, s Server) error {
		rfc2865.UserName_SetString(q, "user1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != radius.CodeAccessReject || r.Server.ID != 2 {
		t.Fatalf("answer %v from %d", r.Code, r.Server.ID)
	}
	k := c.Counters(1)
	if k.Timeouts.Load() != 1 || k.Resends.Load() != Tries-1 {
		t.Fatalf("first server: %+v", k)
	}
}

// answer runs a test server on c: every request that parses with the secret s3cret goes
// to f, until c is closed.
func answer(c *net.UDPConn, f func(q *radius.Packet, from netip.AddrPort)) {
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if q, err := radius.Parse(buf[:n], []byte("s3cret")); err == nil {
				f(q, from)
			}
		}
	}()
}

// TestForgedReply: replies with a wrong Response Authenticator or Message-Authenticator
// are refused and counted; no server answering ends in ErrTimeout.
func TestForgedReply(t *testing.T) {
	c := listen(t)
	answer(c, func(q *radius.Packet, from netip.AddrPort) {
		// Signed with another secret: the Response Authenticator is wrong.
		r := q.Response(radius.CodeAccessAccept)
		r.Secret = []byte("forged")
		b, _ := r.Encode()
		c.WriteToUDPAddrPort(b, from)
		// Right Response Authenticator, Message-Authenticator of another key.
		r = q.Response(radius.CodeAccessAccept)
		r.Secret = []byte("forged")
		signMessageAuth(r, q.Authenticator)
		r.Secret = []byte("s3cret")
		b, _ = r.Encode()
		c.WriteToUDPAddrPort(b, from)
		// Garbage.
		c.WriteToUDPAddrPort([]byte{2, q.Identifier, 0, 3}, from)
	})
	cl := NewClient(nil)
	cl.SetServers([]Server{server(7, port(c), "s3cret")})
	_, err := cl.Authenticate(context.Background(), "ipsec", func(q *radius.Packet, s Server) error { return nil })
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("forged replies accepted: %v", err)
	}
	if k := cl.Counters(7); k.BadReplies.Load() < int64(Tries)*3 || k.Accepts.Load() != 0 {
		t.Fatalf("counters: bad %d accepts %d", k.BadReplies.Load(), k.Accepts.Load())
	}
	if _, err := cl.Authenticate(context.Background(), "login", func(*radius.Packet, Server) error { return nil }); !errors.Is(err, ErrNoServer) {
		t.Fatalf("service without servers: %v", err)
	}
}

// TestResponderRefusesBadRequests: a request with a wrong Message-Authenticator or from
// an unknown client gets no answer and is counted.
func TestResponderRefusesBadRequests(t *testing.T) {
	r, p := serve(t, "s3cret", func(ctx context.Context, q *Request) *radius.Packet {
		return q.Response(radius.CodeAccessAccept)
	})
	c := NewClient(nil)
	c.SetServers([]Server{server(1, p, "wrong")})
	if _, err := c.Authenticate(context.Background(), "ipsec", func(*radius.Packet, Server) error { return nil }); !errors.Is(err, ErrTimeout) {
		t.Fatalf("wrong secret answered: %v", err)
	}
	if r.Stats.BadAuthenticator.Load() != int64(Tries) {
		t.Fatalf("bad authenticators %d", r.Stats.BadAuthenticator.Load())
	}
}

// FuzzReply: whatever a server sends, the client's checks and the attribute helpers
// must not panic, and nothing without the right authenticators is believed.
func FuzzReply(f *testing.F) {
	req := radius.New(radius.CodeAccessRequest, []byte("s"))
	SetEAPMessage(req, []byte{1, 2, 0, 4})
	signMessageAuth(req, req.Authenticator)
	wire, _ := req.Encode()
	ok := req.Response(radius.CodeAccessChallenge)
	SetEAPMessage(ok, bytes.Repeat([]byte{9}, 300))
	signMessageAuth(ok, req.Authenticator)
	good, _ := ok.Encode()
	f.Add(good)
	f.Add(wire)
	f.Fuzz(func(t *testing.T, b []byte) {
		c := NewClient(nil)
		s := Server{Secret: []byte("s")}
		r, err := c.verify(b, wire, req, s)
		if err == nil {
			if !radius.IsAuthenticResponse(b, wire, s.Secret) {
				t.Fatal("unauthentic reply accepted")
			}
			EAPMessage(r)
			MSK(r, req)
		}
		checkMessageAuth(b, s.Secret, wire[4:20])
		rs := &Responder{Secret: func(netip.Addr) ([]byte, string, bool) { return []byte("s"), "x", true },
			Auth: func(ctx context.Context, q *Request) *radius.Packet {
				PAPPassword(q.Packet)
				CheckCHAP(q.Packet, "x")
				return nil
			}}
		rs.handle(context.Background(), b, netip.MustParseAddrPort("127.0.0.1:1"))
	})
}

// TestDropLogRateLimited: a flood of junk datagrams (unknown client, malformed from a
// known one) is counted whole but logs one line per source per interval, then a line
// saying how many went unlogged; many sources together stay bounded too.
func TestDropLogRateLimited(t *testing.T) {
	var buf lockedBuffer
	clock := time.Unix(1e9, 0)
	r := &Responder{
		Secret: func(a netip.Addr) ([]byte, string, bool) {
			return []byte("s"), "nas", a == netip.MustParseAddr("127.0.0.1")
		},
		Log: slog.New(slog.NewTextHandler(&buf, nil)),
	}
	r.drops.Now = func() time.Time { return clock }
	stranger := netip.MustParseAddrPort("198.18.0.2:4000")
	known := netip.MustParseAddrPort("127.0.0.1:4000")
	junk := []byte{1, 1, 0, 30, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 200, 0, 0, 0, 0, 0, 0, 0, 0}
	for range 1000 {
		r.handle(context.Background(), junk, stranger)
		r.handle(context.Background(), junk, known)
	}
	if n := r.Stats.UnknownClient.Load(); n != 1000 {
		t.Errorf("unknown-client drops counted %d, want 1000", n)
	}
	if n := r.Stats.Malformed.Load(); n != 1000 {
		t.Errorf("malformed drops counted %d, want 1000", n)
	}
	if n := strings.Count(buf.String(), "\n"); n != 2 {
		t.Fatalf("%d log lines for 2000 drops from 2 sources, want 2:\n%s", n, buf.String())
	}
	clock = clock.Add(DropLogInterval)
	r.handle(context.Background(), junk, stranger)
	if out := buf.String(); !strings.Contains(out, "more-dropped=999") || strings.Count(out, "\n") != 3 {
		t.Fatalf("after an interval: %s", out)
	}
	// Spoofed sources: bounded per interval, the rest summed into one line later.
	for i := range 5000 {
		r.handle(context.Background(), junk, netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 1))
	}
	if n := strings.Count(buf.String(), "\n"); n > 3+dropLogLines {
		t.Fatalf("%d log lines after 5000 spoofed sources", n)
	}
	clock = clock.Add(DropLogInterval)
	r.handle(context.Background(), junk, stranger)
	if out := buf.String(); !strings.Contains(out, "rate limit") {
		t.Fatalf("no summary of unlogged drops:\n%s", out)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRequireMessageAuth: an Access-Accept without Message-Authenticator (an old server,
// or a BlastRADIUS forgery) is refused and counted while require-message-auth=yes (the
// default), and taken with require-message-auth=no; accounting answers need none.
func TestRequireMessageAuth(t *testing.T) {
	c := listen(t)
	answer(c, func(q *radius.Packet, from netip.AddrPort) {
		code := radius.CodeAccessAccept
		if q.Code == radius.CodeAccountingRequest {
			code = radius.CodeAccountingResponse
		}
		b, _ := q.Response(code).Encode() // no Message-Authenticator
		c.WriteToUDPAddrPort(b, from)
	})
	for _, require := range []bool{true, false} {
		cl := NewClient(nil)
		s := server(9, port(c), "s3cret")
		s.RequireMessageAuth = require
		cl.SetServers([]Server{s})
		_, err := cl.Authenticate(context.Background(), "ipsec", func(*radius.Packet, Server) error { return nil })
		if require && (!errors.Is(err, ErrTimeout) || cl.Counters(9).BadReplies.Load() == 0) {
			t.Fatalf("require-message-auth=yes: %v, bad replies %d", err, cl.Counters(9).BadReplies.Load())
		}
		if !require && err != nil {
			t.Fatalf("require-message-auth=no: %v", err)
		}
		if err := cl.Account(context.Background(), "ipsec", func(*radius.Packet) error { return nil }); err != nil {
			t.Fatalf("accounting (require-message-auth=%v): %v", require, err)
		}
	}
}
