package radius

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
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

// TestForgedReply: replies with a wrong Response Authenticator or Message-Authenticator
// are refused and counted; no server answering ends in ErrTimeout.
func TestForgedReply(t *testing.T) {
	c := listen(t)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			q, err := radius.Parse(buf[:n], []byte("s3cret"))
			if err != nil {
				continue
			}
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
		}
	}()
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
