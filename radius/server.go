package radius

import (
	"context"
	"crypto/md5"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// Request is one verified request a Responder hands its handler.
type Request struct {
	*radius.Packet
	From netip.AddrPort
	// NAS is the name of the client it came from.
	NAS string
}

// Handler answers a request; nil drops it without an answer.
type Handler func(ctx context.Context, r *Request) *radius.Packet

// ServerStats count what a Responder refused.
type ServerStats struct {
	Requests, UnknownClient, BadAuthenticator, Malformed, Duplicates atomic.Int64
}

// Responder serves RADIUS on UDP sockets: it finds the client's secret, checks the
// request (Message-Authenticator, the Request Authenticator of accounting), answers
// retransmissions from a cache and signs the handler's answer.
type Responder struct {
	// Secret returns the shared secret and name of the client at an address.
	Secret func(from netip.Addr) (secret []byte, name string, ok bool)
	// RequireMessageAuth refuses Access-Requests without a Message-Authenticator; the
	// configuration may change it while the Responder serves.
	RequireMessageAuth atomic.Bool
	Auth, Acct         Handler
	Stats              ServerStats
	Log                *slog.Logger

	drops dropLog // every drop is counted in Stats, logged at most once a minute per source
	mu    sync.Mutex
	cache map[dupKey]dupEntry
	swept time.Time
}

type dupKey struct {
	from netip.AddrPort
	id   byte
	auth [16]byte
}

type dupEntry struct {
	reply []byte
	at    time.Time
}

// dupWindow is how long an answer is kept for a retransmitted request.
const dupWindow = 5 * time.Second

// Serve reads requests from conn until ctx ends or conn is closed. Several Serve calls
// may share one conn.
func (s *Responder) Serve(ctx context.Context, conn *net.UDPConn) error {
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, radius.MaxPacketLength)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if out := s.handle(ctx, buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port())); out != nil {
			conn.WriteToUDPAddrPort(out, from)
		}
	}
}

func (s *Responder) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// handle checks one datagram and returns the answer to send, nil for none.
func (s *Responder) handle(ctx context.Context, b []byte, from netip.AddrPort) []byte {
	s.Stats.Requests.Add(1)
	secret, name, ok := s.Secret(from.Addr())
	if !ok {
		s.Stats.UnknownClient.Add(1)
		s.drops.drop(s.log(), from.Addr(), "radius: request from an unknown client dropped", "from", from.Addr())
		return nil
	}
	p, err := radius.Parse(b, secret)
	if err != nil {
		s.Stats.Malformed.Add(1)
		s.drops.drop(s.log(), from.Addr(), "radius: malformed request dropped", "from", from.Addr(), "err", err)
		return nil
	}
	key := dupKey{from: from, id: p.Identifier, auth: p.Authenticator}
	if r := s.cached(key); r != nil {
		s.Stats.Duplicates.Add(1)
		return r
	}
	var h Handler
	switch p.Code {
	case radius.CodeAccessRequest:
		err = checkMessageAuth(b, secret, b[4:20])
		if errors.Is(err, ErrNoMessageAuth) && !s.RequireMessageAuth.Load() && !hasAttr(p, 79) {
			err = nil
		}
		h = s.Auth
	case radius.CodeAccountingRequest:
		if !radius.IsAuthenticRequest(b, secret) {
			err = ErrBadAuthenticator
		} else if err = checkMessageAuth(b, secret, make([]byte, 16)); errors.Is(err, ErrNoMessageAuth) {
			err = nil
		}
		h = s.Acct
	default:
		s.Stats.Malformed.Add(1)
		s.drops.drop(s.log(), from.Addr(), "radius: unsupported request code dropped", "from", from.Addr(), "code", p.Code)
		return nil
	}
	if err != nil {
		s.Stats.BadAuthenticator.Add(1)
		s.drops.drop(s.log(), from.Addr(), "radius: request refused (wrong shared secret?)", "from", from.Addr(), "client", name, "err", err)
		return nil
	}
	if h == nil {
		return nil
	}
	resp := h(ctx, &Request{Packet: p, From: from, NAS: name})
	if resp == nil {
		return nil
	}
	resp.Identifier, resp.Authenticator, resp.Secret = p.Identifier, p.Authenticator, secret
	if resp.Code != radius.CodeAccountingResponse {
		if err := signMessageAuth(resp, p.Authenticator); err != nil {
			s.log().Warn("radius: cannot sign answer", "err", err)
			return nil
		}
	}
	out, err := resp.Encode()
	if err != nil {
		s.log().Warn("radius: cannot encode answer", "err", err)
		return nil
	}
	s.store(key, out)
	return out
}

func (s *Responder) cached(k dupKey) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.cache[k]; ok && time.Since(e.at) < dupWindow {
		return e.reply
	}
	return nil
}

func (s *Responder) store(k dupKey, reply []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cache == nil {
		s.cache = map[dupKey]dupEntry{}
	}
	now := time.Now()
	// Sweep at most once a second: entries live dupWindow, so a sweep per insert would
	// walk thousands of live entries for nothing under load.
	if len(s.cache) > 4096 && now.Sub(s.swept) > time.Second {
		s.swept = now
		for k, e := range s.cache {
			if now.Sub(e.at) >= dupWindow {
				delete(s.cache, k)
			}
		}
	}
	if len(s.cache) < 65536 {
		s.cache[k] = dupEntry{reply: reply, at: now}
	}
}

// PAPPassword decrypts the User-Password of an Access-Request (RFC 2865 5.2).
func PAPPassword(p *radius.Packet) (string, error) {
	a, ok := p.Lookup(rfc2865.UserPassword_Type)
	if !ok {
		return "", errors.New("no User-Password")
	}
	b, err := radius.UserPassword(a, p.Secret, p.Authenticator[:])
	if err != nil {
		return "", fmt.Errorf("User-Password: %w", err)
	}
	return string(b), nil
}

// CheckCHAP verifies a CHAP-Password against the cleartext password (RFC 2865 5.3).
func CheckCHAP(p *radius.Packet, password string) bool {
	cp, ok := p.Lookup(rfc2865.CHAPPassword_Type)
	if !ok || len(cp) != 17 {
		return false
	}
	ch := p.Authenticator[:]
	if c, ok := p.Lookup(rfc2865.CHAPChallenge_Type); ok {
		ch = c
	}
	h := md5.New()
	h.Write(cp[:1])
	h.Write([]byte(password))
	h.Write(ch)
	return subtle.ConstantTimeCompare(h.Sum(nil), cp[1:]) == 1
}
