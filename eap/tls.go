package eap

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
)

func randRead(b []byte) { rand.Read(b) }

// Key labels of the TLS-based methods.
const (
	labelTLS  = "client EAP encryption" // EAP-TLS (RFC 5216 2.3) and PEAPv0
	labelTTLS = "ttls keying material"  // RFC 5281 8
)

// MethodName is the method's name as User Manager's outer-auths spell it.
func MethodName(t Type) string {
	switch t {
	case TypeTLS:
		return "eap-tls"
	case TypeTTLS:
		return "eap-ttls"
	case TypePEAP:
		return "eap-peap"
	case TypeMSCHAPv2:
		return "eap-mschap2"
	}
	return fmt.Sprintf("eap-%d", t)
}

// tlsConfig is the per-conversation copy of a method's TLS configuration: TLS 1.2 only
// (RFC 5216's key derivation; TLS 1.3 EAP is RFC 9190, which few peers speak), no session
// tickets, and the key log the EAP keys are derived from.
func tlsConfig(base *tls.Config, kl *keyLog) *tls.Config {
	var c *tls.Config
	if base != nil {
		c = base.Clone()
	} else {
		c = &tls.Config{}
	}
	c.MinVersion, c.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	c.SessionTicketsDisabled = true
	c.KeyLogWriter = kl
	return c
}

// TLSServer is the authenticator side of one EAP-TLS, EAP-TTLS or PEAPv0 conversation.
type TLSServer struct {
	Type Type
	// Config holds the server certificate; for EAP-TLS it also asks for and verifies
	// the client's (ClientAuth, VerifyPeerCertificate).
	Config *tls.Config
	// CertUser names the user of a verified EAP-TLS client certificate, or says why it
	// may not log in.
	CertUser func(leaf *x509.Certificate) (string, error)
	// Inner checks the user of an inner method (ttls-pap, ttls-mschap1, ttls-mschap2, peap-mschap2):
	// it returns the NT hash, or why the user may not log in so.
	Inner func(method, user string) (ntHash []byte, err error)
	// InnerPassword is Inner for ttls-chap, which needs the password itself; nil: CHAP
	// in the tunnel is refused.
	InnerPassword func(method, user string) (password string, err error)
	// Name is the authenticator name in inner MS-CHAPv2 challenges.
	Name string

	// User is the authenticated user (certificate or inner identity), Method the inner
	// method used; MSK and the MPPE keys are set on success, Err on failure.
	User, Method     string
	MSK              []byte
	SendKey, RecvKey []byte
	Err              error

	f      framer
	p      *pipe
	kl     keyLog
	id     uint8
	final  bool // the program finished; its last flight is out
	rounds int
	result error
	msk    []byte
}

// Start returns the EAP-Request that starts the method (S flag, version 0).
func (s *TLSServer) Start(id uint8) *Packet {
	s.id = id
	s.f = framer{typ: s.Type}
	return &Packet{Code: CodeRequest, ID: id, Type: s.Type, Data: []byte{flagS}}
}

func (s *TLSServer) req(d []byte) *Packet {
	s.id++
	return &Packet{Code: CodeRequest, ID: s.id, Type: s.Type, Data: d}
}

// Close ends the TLS program (a conversation that is abandoned).
func (s *TLSServer) Close() {
	if s.p != nil {
		s.p.Close()
	}
}

// Handle takes the peer's EAP-Response and returns the next packet; done is true when it
// is EAP-Success or EAP-Failure (s.Err or s.MSK say which).
func (s *TLSServer) Handle(p *Packet) (next *Packet, done bool) {
	fail := func(err error) (*Packet, bool) {
		if s.Err == nil {
			s.Err = err
		}
		s.Close()
		return &Packet{Code: CodeFailure, ID: p.ID}, true
	}
	switch {
	case p.Code != CodeResponse || p.ID != s.id:
		return fail(fmt.Errorf("%w: unexpected %v", ErrMalformed, p))
	case p.Type == TypeNak:
		return fail(fmt.Errorf("peer refuses %s (Nak)", MethodName(s.Type)))
	case p.Type != s.Type:
		return fail(fmt.Errorf("%w: %v in a %s conversation", ErrMalformed, p, MethodName(s.Type)))
	}
	if s.f.sending() {
		if len(p.Data) != 1 {
			return fail(fmt.Errorf("%w: expected an acknowledgement of a fragment", ErrMalformed))
		}
		return s.req(s.f.next()), false
	}
	msg, _, err := s.f.take(p.Data)
	if errors.Is(err, errMore) {
		return s.req(s.f.ack()), false
	}
	if err != nil {
		return fail(err)
	}
	if s.final {
		return s.end(p)
	}
	if s.rounds++; len(msg) == 0 || s.rounds > 64 {
		// Only fragments and the last flight are acknowledged with empty messages.
		return fail(fmt.Errorf("%w: empty or endless %s conversation", ErrMalformed, MethodName(s.Type)))
	}
	if s.p == nil {
		s.p = newPipe(true)
		go s.run()
	}
	out, finished := s.p.exchange(msg)
	s.f.pending = out
	if finished {
		if len(out) == 0 {
			return s.end(p)
		}
		s.final = true
	}
	return s.req(s.f.next()), false
}

// end sends the outcome of the finished program.
func (s *TLSServer) end(p *Packet) (*Packet, bool) {
	s.Close()
	if s.result != nil || s.msk == nil {
		if s.Err = s.result; s.Err == nil {
			s.Err = errors.New("no keys from the TLS tunnel")
		}
		return &Packet{Code: CodeFailure, ID: p.ID}, true
	}
	s.MSK = s.msk
	s.RecvKey, s.SendKey = s.msk[:32], s.msk[32:64]
	return &Packet{Code: CodeSuccess, ID: p.ID}, true
}

// run is the server program: the handshake, then the inner method.
func (s *TLSServer) run() {
	defer s.p.finish()
	defer recovered("server", &s.result)
	conn := tls.Server(s.p, tlsConfig(s.Config, &s.kl))
	if err := conn.Handshake(); err != nil {
		s.result = fmt.Errorf("TLS handshake: %w", err)
		return
	}
	label := labelTLS
	switch s.Type {
	case TypeTLS:
		certs := conn.ConnectionState().PeerCertificates
		if len(certs) == 0 || s.CertUser == nil {
			s.result = fmt.Errorf("%w: no client certificate", ErrAuth)
			return
		}
		if s.User, s.result = s.CertUser(certs[0]); s.result != nil {
			return
		}
	case TypeTTLS:
		label = labelTTLS
		s.result = s.ttls(conn)
	case TypePEAP:
		s.result = s.peap(conn)
	}
	if s.result != nil {
		return
	}
	s.msk, s.result = tunnelKeys(conn, s.p, &s.kl, label, 64)
}

// TLSPeer is the peer side of EAP-TLS, EAP-TTLS or PEAPv0.
type TLSPeer struct {
	Type Type
	// Identity is the outer EAP identity (the user name when empty).
	Identity string
	// User and Password are the inner credentials (TTLS, PEAP); Inner picks TTLS's
	// inner method: "pap" or "mschapv2" (default).
	User, Password, Inner string
	// Config has the client certificate (EAP-TLS) and verifies the server's.
	Config *tls.Config
	// MSK is set once EAP-Success follows a completed method.
	MSK []byte

	f      framer
	p      *pipe
	kl     keyLog
	result error
	msk    []byte
	ok     bool // the program completed without error
}

// finished says whether the program returned (its results may be read then).
func (c *TLSPeer) finished() bool {
	if c.p == nil {
		return false
	}
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	return c.p.done
}

// Close ends the TLS program.
func (c *TLSPeer) Close() {
	if c.p != nil {
		c.p.Close()
	}
}

// Handle answers one EAP-Request (as MSCHAPv2Peer.Handle).
func (c *TLSPeer) Handle(p *Packet) (*Packet, error) {
	switch p.Code {
	case CodeSuccess:
		done := c.finished()
		c.Close()
		if !done || !c.ok || c.msk == nil {
			if done && c.result != nil {
				return nil, c.result
			}
			return nil, fmt.Errorf("EAP-Success before %s completed", MethodName(c.Type))
		}
		c.MSK = c.msk
		return nil, nil
	case CodeFailure:
		done := c.finished()
		c.Close()
		if done && c.result != nil {
			return nil, fmt.Errorf("%w: EAP-Failure from the authenticator (%v)", ErrAuth, c.result)
		}
		return nil, fmt.Errorf("%w: EAP-Failure from the authenticator", ErrAuth)
	case CodeRequest:
	default:
		return nil, fmt.Errorf("%w: unexpected %v", ErrMalformed, p)
	}
	resp := &Packet{Code: CodeResponse, ID: p.ID, Type: p.Type}
	switch p.Type {
	case TypeIdentity:
		id := c.Identity
		if id == "" {
			id = c.User
		}
		resp.Data = []byte(id)
		return resp, nil
	case TypeNotification:
		return resp, nil
	case c.Type:
	default:
		resp.Type, resp.Data = TypeNak, []byte{byte(c.Type)}
		return resp, nil
	}
	if c.f.sending() {
		if len(p.Data) != 1 {
			return nil, fmt.Errorf("%w: expected an acknowledgement of a fragment", ErrMalformed)
		}
		resp.Data = c.f.next()
		return resp, nil
	}
	msg, start, err := c.f.take(p.Data)
	if errors.Is(err, errMore) {
		resp.Data = c.f.ack()
		return resp, nil
	}
	if err != nil {
		return nil, err
	}
	if c.p == nil {
		if !start {
			return nil, fmt.Errorf("%w: %s request without the start flag", ErrMalformed, MethodName(c.Type))
		}
		c.f.typ, c.f.version = c.Type, 0
		c.p = newPipe(false)
		go c.run()
		msg = nil
	}
	out, _ := c.p.exchange(msg)
	c.f.pending = out
	resp.Data = c.f.next()
	return resp, nil
}

// run is the peer program.
func (c *TLSPeer) run() {
	defer c.p.finish()
	defer recovered("peer", &c.result)
	conn := tls.Client(c.p, tlsConfig(c.Config, &c.kl))
	if err := conn.Handshake(); err != nil {
		c.result = fmt.Errorf("TLS handshake: %w", err)
		return
	}
	label := labelTLS
	if c.Type == TypeTTLS {
		label = labelTTLS
	}
	msk, err := tunnelKeys(conn, c.p, &c.kl, label, 64)
	if err != nil {
		c.result = err
		return
	}
	switch c.Type {
	case TypeTTLS:
		err = c.ttls(conn)
	case TypePEAP:
		err = c.peap(conn)
	}
	if err != nil {
		c.result = err
		return
	}
	c.msk, c.ok = msk, true
}

// ErrInternal is the result of a TLS program that panicked.
var ErrInternal = errors.New("internal error")

// recovered is deferred by the TLS programs. They run on a goroutine of their own (the
// pipe turns the EAP exchange into a connection for crypto/tls) and handle what an
// unauthenticated peer sends: a panic there (a bug the peer's bytes hit, or in a
// callback: CertUser, Inner) fails that authentication only, logged with its stack,
// instead of ending routerd. It runs before the pipe's finish, so the exchange that
// waits on the program sees the result.
func recovered(side string, result *error) {
	if p := recover(); p != nil {
		*result = fmt.Errorf("%w in the EAP TLS %s: %v", ErrInternal, side, p)
		slog.Error("eap: internal error", "side", side, "panic", p, "stack", string(debug.Stack()))
	}
}
